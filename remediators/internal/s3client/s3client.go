// Package s3client holds what the S3 remediators share: the S3 client, so
// that path-style addressing and caller options are applied in one place,
// and the bucket (with its expected owner) a target is about.
package s3client

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediators/internal/resource"
)

// For returns the S3 client of t, built once per finding (see
// remediate.Client). pathStyle addresses buckets as ENDPOINT/BUCKET, as
// emulators such as moto need; extra options are applied after it.
func For(t remediate.Target, pathStyle bool, extra []func(*s3.Options)) *s3.Client {
	return remediate.Client(t, "s3", func() *s3.Client { return New(t.AWS, pathStyle, extra) })
}

// New returns an S3 client for cfg, with the options of For.
func New(cfg aws.Config, pathStyle bool, extra []func(*s3.Options)) *s3.Client {
	fns := make([]func(*s3.Options), 0, 1+len(extra))
	fns = append(fns, func(o *s3.Options) { o.UsePathStyle = pathStyle })
	fns = append(fns, extra...)
	return s3.NewFromConfig(cfg, fns...)
}

// Bucket returns the bucket t is about and the account that must own it,
// which every S3 call names as ExpectedBucketOwner.
func Bucket(t remediate.Target) (bucket, owner string, err error) {
	k := resource.Bucket()
	if bucket, err = k.ID(t.Finding, t.AWS.Region); err != nil {
		return "", "", err
	}
	if owner, err = k.Account(t.Finding); err != nil {
		return "", "", err
	}
	return bucket, owner, nil
}
