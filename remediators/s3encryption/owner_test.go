package s3encryption_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediators/internal/s3client/s3ownertest"
	"github.com/remedy-sec/remedy/remediators/s3encryption"
)

// TestExpectedBucketOwner checks that every S3 call names the finding's
// account as the bucket's expected owner, so S3 refuses a bucket of that
// name in any other account, and that a finding without a 12-digit
// account makes no call at all.
func TestExpectedBucketOwner(t *testing.T) {
	configured, _ := json.Marshal(s3encryption.State{Bucket: "victim", Configured: true, Rules: []s3encryption.Rule{{Algorithm: s3encryption.AlgorithmAES256}}})
	none, _ := json.Marshal(s3encryption.State{Bucket: "victim"})
	s3ownertest.Check(t, s3ownertest.Case{
		New: func() s3ownertest.Remediator {
			return s3encryption.New(func(o *s3encryption.Options) { o.UsePathStyle = true })
		},
		Finding:      func() *remediate.Finding { return finding("victim") },
		GetStatus:    http.StatusNotFound,
		GetBody:      `<Error><Code>ServerSideEncryptionConfigurationNotFoundError</Code><Message>none</Message></Error>`,
		NotCompliant: s3encryption.ErrNotCompliant,
		Configured:   configured,
		None:         none,
	})
}
