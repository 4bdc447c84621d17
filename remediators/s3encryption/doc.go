// Package s3encryption sets a bucket's default encryption: SSE-S3 (AES256)
// by default, or SSE-KMS with a configured key.
//
// The remediator's action is "s3-default-encryption"; it fixes resources
// of the native type "bucket". The finding's resource is read from its
// ARN (arn:aws:s3:::NAME), its id or its name; they must agree. The
// finding must name the bucket's account: every S3 call passes it as
// ExpectedBucketOwner, so S3 refuses a bucket of that name owned by any
// other account, whatever the role may reach. A finding without a
// 12-digit account gets a permanent error and makes no call.
//
//	r := s3encryption.New(func(o *s3encryption.Options) {
//		o.KMSKeyID = "arn:aws:kms:eu-west-1:111122223333:key/…" // optional
//	})
//	plan, err := r.Plan(ctx, target)       // s3:GetEncryptionConfiguration
//	res, err := r.Apply(ctx, target, plan) // s3:PutEncryptionConfiguration
//
// Without Options.KMSKeyID, any default encryption (SSE-S3, SSE-KMS or
// DSSE-KMS) is compliant: the remediator never downgrades a bucket that
// uses KMS. With it, only SSE-KMS or DSSE-KMS with exactly that key id
// (compared as written: use the form the bucket will be read back with,
// normally the key ARN) is compliant, and Apply sets SSE-KMS with it.
// The remediator does not check that the key exists or that S3 may use
// it; that is the key policy's business and needs kms permissions this
// remediator does not declare.
//
// Since January 2023 S3 encrypts every new bucket with SSE-S3 and
// DeleteBucketEncryption resets a bucket to SSE-S3, so on AWS a bucket
// without SSE-S3 is rare; the option matters most with KMSKeyID. Rollback
// writes the prior rules back, or deletes the configuration when the
// bucket had none (authorized by s3:PutEncryptionConfiguration).
//
// Against an emulator that serves buckets on a path (moto, LocalStack),
// set Options.UsePathStyle. moto 5.2.1 gives new buckets no default
// encryption, so the conformance tests start from "none".
package s3encryption
