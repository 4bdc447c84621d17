package s3encryption

import "testing"

func TestCompliant(t *testing.T) {
	const key = "arn:aws:kms:us-east-1:123456789012:key/k1"
	none := State{Bucket: "b"}
	sses3 := State{Bucket: "b", Configured: true, Rules: []Rule{{Algorithm: AlgorithmAES256}}}
	kms := func(k string) State {
		return State{Bucket: "b", Configured: true, Rules: []Rule{{Algorithm: AlgorithmKMS, KMSKeyID: k}}}
	}
	dsse := State{Bucket: "b", Configured: true, Rules: []Rule{{Algorithm: AlgorithmKMSDSSE, KMSKeyID: key}}}
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
		{"SSE-S3/DSSE", Options{}, dsse, true},
		{"KMS/none", Options{KMSKeyID: key}, none, false},
		{"KMS/AES256", Options{KMSKeyID: key}, sses3, false},
		{"KMS/same key", Options{KMSKeyID: key}, kms(key), true},
		{"KMS/other key", Options{KMSKeyID: key}, kms("arn:aws:kms:us-east-1:123456789012:key/k2"), false},
		{"KMS/aws-managed key", Options{KMSKeyID: key}, kms(""), false},
		{"KMS/DSSE same key", Options{KMSKeyID: key}, dsse, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.opts.compliant(tt.state); got != tt.want {
				t.Errorf("compliant(%v) = %v, want %v", tt.state, got, tt.want)
			}
		})
	}
}
