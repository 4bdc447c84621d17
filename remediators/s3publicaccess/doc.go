// Package s3publicaccess turns on S3 Block Public Access for one bucket:
// all four flags (BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy,
// RestrictPublicBuckets).
//
// The remediator's action is "s3-block-public-access"; it fixes resources
// of the native type "bucket". The finding's resource is read from its
// ARN (arn:aws:s3:::NAME), its id or its name; they must agree. The
// finding must name the bucket's account: every S3 call passes it as
// ExpectedBucketOwner, so S3 refuses a bucket of that name owned by any
// other account, whatever the role may reach. A finding without a
// 12-digit account gets a permanent error and makes no call.
//
//	r := s3publicaccess.New()
//	plan, err := r.Plan(ctx, target)   // s3:GetBucketPublicAccessBlock
//	res, err := r.Apply(ctx, target, plan) // s3:PutBucketPublicAccessBlock
//	err = r.Verify(ctx, target, plan)
//	err = r.Rollback(ctx, target, res.Rollback)
//
// Plan reads the bucket's configuration; a bucket with no configuration
// counts as all four flags off. Apply writes all four flags on, which is
// idempotent. Rollback writes the prior flags back, or deletes the
// configuration when the bucket had none (DeletePublicAccessBlock is
// authorized by s3:PutBucketPublicAccessBlock).
//
// The account-level Block Public Access setting is neither read nor
// changed: the control is about the bucket.
//
// Against an emulator that serves buckets on a path (moto, LocalStack),
// set Options.UsePathStyle; real S3 needs no option.
package s3publicaccess
