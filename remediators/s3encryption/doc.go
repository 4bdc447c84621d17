// Package s3encryption sets a bucket's default encryption where it is
// missing: SSE-S3 (AES256) by default, or SSE-KMS with a configured key
// on a bucket without default encryption or with only SSE-S3.
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
// A bucket already on SSE-KMS or DSSE-KMS is compliant, whatever its key
// (its own customer-managed key or the AWS-managed aws/s3): the
// remediator never replaces a bucket's key nor turns DSSE-KMS into
// SSE-KMS. Without Options.KMSKeyID, SSE-S3 is compliant too. With it, a
// bucket without default encryption or on SSE-S3 gets SSE-KMS with that
// key, which must belong to the bucket: a key ARN or alias ARN in
// another account, region or partition than the bucket's is never set
// (Plan returns a permanent error saying why, and the finding goes to
// review). A key id or an alias name ("alias/s3-default") is resolved by
// S3 in the bucket's own account, so one alias defined in every account
// serves them all. The remediator does not check that the key exists or
// that S3 may use it; that is the key policy's business and needs kms
// permissions this remediator does not declare.
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
