package s3encryption_test

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/remedy-sec/remedy/internal/mototest"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest"
	"github.com/remedy-sec/remedy/remediators/s3encryption"
)

var moto *mototest.Server

func TestMain(m *testing.M) { os.Exit(mototest.Main(m, &moto)) }

const (
	region = "us-east-1"
	keyARN = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
)

var seq atomic.Int64 // unique bucket names across the tests of this binary

func next(prefix string) string { return fmt.Sprintf("%s-%d", prefix, seq.Add(1)) }

func client(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
}

func finding(bucket string) *remediate.Finding {
	return &remediate.Finding{
		ID: "finding-" + bucket, Source: "test",
		Resource: remediate.Resource{ID: "arn:aws:s3:::" + bucket, ARN: "arn:aws:s3:::" + bucket, Name: bucket, Type: s3encryption.ResourceType, Cloud: "AWS", Account: mototest.DefaultAccount},
	}
}

// encryption reads the bucket's default encryption directly: the
// algorithm and key of its first rule, or "" when it has none.
func encryption(t *testing.T, cfg aws.Config, bucket string) (algorithm, key string) {
	t.Helper()
	out, err := client(cfg).GetBucketEncryption(t.Context(), &s3.GetBucketEncryptionInput{Bucket: aws.String(bucket)})
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "ServerSideEncryptionConfigurationNotFoundError" {
		return "", ""
	}
	if err != nil {
		t.Fatalf("GetBucketEncryption %s: %v", bucket, err)
	}
	d := out.ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault
	return string(d.SSEAlgorithm), aws.ToString(d.KMSMasterKeyID)
}

func harness(t *testing.T, r *s3encryption.Remediator, compliant func(algorithm, key string) bool) remediatetest.Harness {
	srv := mototest.Require(t, moto)
	return remediatetest.Harness{
		Remediator: r,
		AWS:        srv.Config(region),
		NewNonCompliant: func(t *testing.T, cfg aws.Config) *remediate.Finding {
			b := next("conformance")
			if _, err := client(cfg).CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
				t.Fatalf("CreateBucket: %v", err)
			}
			return finding(b)
		},
		Compliant: func(t *testing.T, cfg aws.Config, f *remediate.Finding) bool {
			return compliant(encryption(t, cfg, f.Resource.Name))
		},
		NewMissing: func(t *testing.T, cfg aws.Config) *remediate.Finding { return finding(next("missing")) },
	}
}

func TestConformance(t *testing.T) {
	t.Run("SSE-S3", func(t *testing.T) {
		r := s3encryption.New(func(o *s3encryption.Options) { o.UsePathStyle = true })
		remediatetest.Run(t, harness(t, r, func(alg, _ string) bool { return alg != "" }))
	})
	t.Run("SSE-KMS", func(t *testing.T) {
		r := s3encryption.New(func(o *s3encryption.Options) {
			o.UsePathStyle = true
			o.KMSKeyID = keyARN
			o.BucketKeyEnabled = true
		})
		remediatetest.Run(t, harness(t, r, func(alg, key string) bool { return alg == "aws:kms" && key == keyARN }))
	})
}

// TestKMSReplacesSSES3 checks that, with a KMS key configured, a bucket
// on SSE-S3 is moved to the key, and rollback puts SSE-S3 back rather
// than deleting the configuration.
func TestKMSReplacesSSES3(t *testing.T) {
	srv := mototest.Require(t, moto)
	cfg := srv.Config(region)
	b := next("sses3")
	c := client(cfg)
	if _, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	if _, err := c.PutBucketEncryption(t.Context(), &s3.PutBucketEncryptionInput{
		Bucket: aws.String(b),
		ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{Rules: []s3types.ServerSideEncryptionRule{{
			ApplyServerSideEncryptionByDefault: &s3types.ServerSideEncryptionByDefault{SSEAlgorithm: s3types.ServerSideEncryptionAes256},
		}}},
	}); err != nil {
		t.Fatalf("PutBucketEncryption: %v", err)
	}
	tg := remediate.Target{Finding: finding(b), AWS: cfg}

	sses3 := s3encryption.New(func(o *s3encryption.Options) { o.UsePathStyle = true })
	if p, err := sses3.Plan(t.Context(), tg); err != nil || !p.Compliant {
		t.Fatalf("SSE-S3 remediator: Plan = %+v, %v; want compliant", p, err)
	}

	r := s3encryption.New(func(o *s3encryption.Options) { o.UsePathStyle = true; o.KMSKeyID = keyARN })
	p, err := r.Plan(t.Context(), tg)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	wantChanges := []string{"set default encryption of bucket " + b + " from AES256 to aws:kms with key " + keyARN}
	if diff := cmp.Diff(wantChanges, p.Changes); diff != "" {
		t.Errorf("Plan.Changes (-want +got):\n%s", diff)
	}
	res, err := r.Apply(t.Context(), tg, p)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if alg, key := encryption(t, cfg, b); alg != "aws:kms" || key != keyARN {
		t.Errorf("after Apply: %s %s, want aws:kms %s", alg, key, keyARN)
	}
	if err := r.Rollback(t.Context(), tg, res.Rollback); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if alg, key := encryption(t, cfg, b); alg != "AES256" || key != "" {
		t.Errorf("after Rollback: %q %q, want AES256", alg, key)
	}
}

func TestRollbackRejectsOtherBucket(t *testing.T) {
	r := s3encryption.New()
	tg := remediate.Target{Finding: finding("bucket-a")}
	err := r.Rollback(t.Context(), tg, []byte(`{"bucket":"bucket-b","configured":false}`))
	if !remediate.IsPermanent(err) {
		t.Errorf("Rollback with another bucket's data = %v, want a permanent error", err)
	}
}
