// Package kmsrotation turns on automatic key rotation for a
// customer-managed symmetric KMS key.
//
// The remediator's action is "kms-enable-rotation"; it fixes resources of
// the native type "kmsKey". The finding's resource is read from its ARN
// (arn:aws:kms:REGION:ACCOUNT:key/ID) or its key id; they must agree.
// Aliases are not accepted: an alias can point at another key by the time
// the fix runs.
//
//	r := kmsrotation.New()
//	plan, err := r.Plan(ctx, target)       // kms:DescribeKey, kms:GetKeyRotationStatus
//	res, err := r.Apply(ctx, target, plan) // kms:EnableKeyRotation
//	err = r.Rollback(ctx, target, res.Rollback) // kms:DisableKeyRotation
//
// Only keys AWS lets a customer rotate automatically are changed. Plan
// returns a permanent error wrapping ErrUnsupportedKey (so the finding is
// failed and routed to review, never retried) for:
//
//   - AWS-managed keys (KeyManager AWS): AWS rotates them every year and
//     nobody can change that, so a finding about one needs a person;
//   - keys that are not SYMMETRIC_DEFAULT (asymmetric and HMAC keys do not
//     support automatic rotation);
//   - keys whose material is imported or lives in a custom key store
//     (Origin other than AWS_KMS);
//   - multi-Region replica keys (rotation is set on the primary);
//   - keys that are not Enabled (disabled, pending deletion or import).
//
// Rollback disables rotation again when it was off before Apply.
//
// moto 5.2.1 does not enforce these limits on EnableKeyRotation and makes
// every key customer-managed, so the checks are tested on DescribeKey's
// metadata (table tests) and, for asymmetric, HMAC and disabled keys,
// against moto. moto also answers DisableKey by key ARN with HTTP 500; the
// remediator itself always calls KMS with the bare key id.
package kmsrotation
