package s3encryption

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/remedy-sec/remedy/remediate"
)

func TestCompliant(t *testing.T) {
	const key = "arn:aws:kms:us-east-1:123456789012:key/k1"
	none := State{Bucket: "b"}
	sses3 := State{Bucket: "b", Configured: true, Rules: []Rule{{Algorithm: AlgorithmAES256}}}
	kms := func(k string) State {
		return State{Bucket: "b", Configured: true, Rules: []Rule{{Algorithm: AlgorithmKMS, KMSKeyID: k}}}
	}
	dsse := func(k string) State {
		return State{Bucket: "b", Configured: true, Rules: []Rule{{Algorithm: AlgorithmKMSDSSE, KMSKeyID: k}}}
	}
	tests := []struct {
		name  string
		opts  Options
		state State
		want  bool
	}{
		{"SSE-S3/none", Options{}, none, false},
		{"SSE-S3/configured without rules", Options{}, State{Bucket: "b", Configured: true}, false},
		{"SSE-S3/AES256", Options{}, sses3, true},
		{"SSE-S3/KMS is not downgraded", Options{}, kms("other"), true},
		{"SSE-S3/DSSE", Options{}, dsse(key), true},
		{"KMS/none", Options{KMSKeyID: key}, none, false},
		{"KMS/AES256", Options{KMSKeyID: key}, sses3, false},
		{"KMS/same key", Options{KMSKeyID: key}, kms(key), true},
		// The bucket's own key is never replaced by the configured one.
		{"KMS/bucket's own key", Options{KMSKeyID: key}, kms("arn:aws:kms:us-east-1:123456789012:key/k2"), true},
		{"KMS/aws-managed key", Options{KMSKeyID: key}, kms(""), true},
		{"KMS/DSSE same key", Options{KMSKeyID: key}, dsse(key), true},
		// DSSE-KMS is never downgraded to SSE-KMS.
		{"KMS/DSSE own key", Options{KMSKeyID: key}, dsse("arn:aws:kms:us-east-1:123456789012:key/k2"), true},
		{"KMS/DSSE aws-managed key", Options{KMSKeyID: key}, dsse(""), true},
		{"KMS/unknown algorithm", Options{KMSKeyID: key}, State{Bucket: "b", Configured: true, Rules: []Rule{{Algorithm: "aws:fancy"}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.opts.compliant(tt.state); got != tt.want {
				t.Errorf("compliant(%v) = %v, want %v", tt.state, got, tt.want)
			}
		})
	}
}

// TestCheckKey holds a configured key ARN to the bucket's partition,
// account and region; a key id or alias name is S3's to resolve in the
// bucket's own account.
func TestCheckKey(t *testing.T) {
	const owner = "123456789012"
	tests := []struct {
		name, key, region string
		wantErr           bool
	}{
		{"key ARN of the bucket's account", "arn:aws:kms:us-east-1:123456789012:key/k1", "us-east-1", false},
		{"alias ARN of the bucket's account", "arn:aws:kms:us-east-1:123456789012:alias/s3", "us-east-1", false},
		{"key id", "1234abcd-12ab-34cd-56ef-1234567890ab", "us-east-1", false},
		{"alias name", "alias/s3-default", "us-east-1", false},
		{"no key", "", "us-east-1", false},
		{"key of another account", "arn:aws:kms:us-east-1:210987654321:key/k1", "us-east-1", true},
		{"alias of another account", "arn:aws:kms:us-east-1:210987654321:alias/s3", "us-east-1", true},
		{"key without an account", "arn:aws:kms:us-east-1::key/k1", "us-east-1", true},
		{"key of another region", "arn:aws:kms:eu-west-1:123456789012:key/k1", "us-east-1", true},
		{"key of another partition", "arn:aws-cn:kms:us-east-1:123456789012:key/k1", "us-east-1", true},
		{"not a KMS ARN", "arn:aws:s3:::123456789012", "us-east-1", true},
		{"malformed ARN", "arn:aws:kms", "us-east-1", true},
	}
	type result struct{ Err, Permanent bool }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Options{KMSKeyID: tt.key}.checkKey("b", owner, tt.region)
			want := result{Err: tt.wantErr, Permanent: tt.wantErr}
			if diff := cmp.Diff(want, result{err != nil, remediate.IsPermanent(err)}); diff != "" {
				t.Errorf("checkKey(%q) = %v; mismatch (-want +got):\n%s", tt.key, err, diff)
			}
		})
	}
}
