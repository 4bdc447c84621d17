package s3encryption_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
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
	if diff := cmp.Diff(string(res.Rollback), string(p.Rollback)); diff != "" {
		t.Errorf("Plan.Rollback differs from Result.Rollback (-result +plan):\n%s", diff)
	}
	if err := r.Rollback(t.Context(), tg, p.Rollback); err != nil {
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

// putEncryption sets the bucket's default encryption directly.
func putEncryption(t *testing.T, cfg aws.Config, bucket, algorithm, key string) {
	t.Helper()
	d := &s3types.ServerSideEncryptionByDefault{SSEAlgorithm: s3types.ServerSideEncryption(algorithm)}
	if key != "" {
		d.KMSMasterKeyID = aws.String(key)
	}
	if _, err := client(cfg).PutBucketEncryption(t.Context(), &s3.PutBucketEncryptionInput{
		Bucket:                            aws.String(bucket),
		ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{Rules: []s3types.ServerSideEncryptionRule{{ApplyServerSideEncryptionByDefault: d}}},
	}); err != nil {
		t.Fatalf("PutBucketEncryption %s: %v", bucket, err)
	}
}

// writes returns the operations in ops that are not read-only.
func writes(ops []remediatetest.Operation) []string {
	var w []string
	for _, op := range ops {
		if !op.ReadOnly() {
			w = append(w, op.String())
		}
	}
	return w
}

// TestKMSKeepsBucketChoice checks, against moto, that a remediator with a
// configured KMS key finds a bucket already on SSE-KMS (with its own
// customer-managed key or the AWS-managed one) or on DSSE-KMS compliant:
// it writes nothing, and the bucket keeps its key and algorithm.
func TestKMSKeepsBucketChoice(t *testing.T) {
	srv := mototest.Require(t, moto)
	const ownKey = "arn:aws:kms:us-east-1:123456789012:key/99999999-8888-7777-6666-555555555555"
	tests := []struct {
		name           string
		algorithm, key string
	}{
		{"SSE-KMS with the bucket's own key", "aws:kms", ownKey},
		{"SSE-KMS with the AWS-managed key", "aws:kms", ""},
		{"DSSE-KMS with the bucket's own key", "aws:kms:dsse", ownKey},
		{"DSSE-KMS with the configured key", "aws:kms:dsse", keyARN},
		{"DSSE-KMS with the AWS-managed key", "aws:kms:dsse", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, rec := remediatetest.Record(srv.Config(region))
			b := next("own-kms")
			if _, err := client(cfg).CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
				t.Fatalf("CreateBucket: %v", err)
			}
			putEncryption(t, cfg, b, tt.algorithm, tt.key)
			rec.Reset()

			r := s3encryption.New(func(o *s3encryption.Options) { o.UsePathStyle = true; o.KMSKeyID = keyARN })
			tg := remediate.Target{Finding: finding(b), AWS: cfg}
			p, err := r.Plan(t.Context(), tg)
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			if !p.Compliant || len(p.Changes) != 0 {
				t.Errorf("Plan = compliant %v, changes %q; want compliant with no change", p.Compliant, p.Changes)
			}
			if _, err := r.Apply(t.Context(), tg, p); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if err := r.Verify(t.Context(), tg, p); err != nil {
				t.Errorf("Verify: %v", err)
			}
			if w := writes(rec.Operations()); len(w) != 0 {
				t.Errorf("Plan, Apply and Verify wrote %q, want no write", w)
			}
			alg, key := encryption(t, cfg, b)
			if diff := cmp.Diff([2]string{tt.algorithm, tt.key}, [2]string{alg, key}); diff != "" {
				t.Errorf("bucket encryption changed (-want +got):\n%s", diff)
			}
		})
	}
}

// TestKMSKeyOfAnotherAccount checks, against moto, that a configured key
// ARN of another account (or region) is never set on a bucket: Plan and
// Apply return a permanent error saying so, and the bucket is left as it
// was. A bucket that needs no change is still compliant.
func TestKMSKeyOfAnotherAccount(t *testing.T) {
	srv := mototest.Require(t, moto)
	tests := []struct {
		name, key, want string
	}{
		{"other account", "arn:aws:kms:us-east-1:210987654321:key/11111111-2222-3333-4444-555555555555", "is in account 210987654321, but bucket"},
		{"other region", "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555", "is in region eu-west-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, rec := remediatetest.Record(srv.Config(region))
			r := s3encryption.New(func(o *s3encryption.Options) { o.UsePathStyle = true; o.KMSKeyID = tt.key })
			for _, start := range []string{"", "AES256"} {
				b := next("foreign-key")
				if _, err := client(cfg).CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
					t.Fatalf("CreateBucket: %v", err)
				}
				if start != "" {
					putEncryption(t, cfg, b, start, "")
				}
				rec.Reset()
				tg := remediate.Target{Finding: finding(b), AWS: cfg}
				_, err := r.Plan(t.Context(), tg)
				if !remediate.IsPermanent(err) || !strings.Contains(fmt.Sprint(err), tt.want) {
					t.Errorf("from %q: Plan error = %v, want a permanent one containing %q", start, err, tt.want)
				}
				_, err = r.Apply(t.Context(), tg, remediate.Plan{})
				if !remediate.IsPermanent(err) {
					t.Errorf("from %q: Apply error = %v, want a permanent one", start, err)
				}
				if w := writes(rec.Operations()); len(w) != 0 {
					t.Errorf("from %q: wrote %q, want no write", start, w)
				}
				if alg, _ := encryption(t, cfg, b); alg != start {
					t.Errorf("from %q: bucket encryption is now %q", start, alg)
				}
			}

			b := next("foreign-key-kms")
			if _, err := client(cfg).CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
				t.Fatalf("CreateBucket: %v", err)
			}
			putEncryption(t, cfg, b, "aws:kms", "")
			if p, err := r.Plan(t.Context(), remediate.Target{Finding: finding(b), AWS: cfg}); err != nil || !p.Compliant {
				t.Errorf("bucket on SSE-KMS: Plan = %+v, %v; want compliant", p, err)
			}
		})
	}
}
