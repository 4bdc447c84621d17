package s3publicaccess_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediators/internal/s3client/s3ownertest"
	"github.com/remedy-sec/remedy/remediators/s3publicaccess"
)

// noBlock is the Block Public Access configuration of a bucket with every
// flag off.
const noBlock = `<PublicAccessBlockConfiguration><BlockPublicAcls>false</BlockPublicAcls><IgnorePublicAcls>false</IgnorePublicAcls><BlockPublicPolicy>false</BlockPublicPolicy><RestrictPublicBuckets>false</RestrictPublicBuckets></PublicAccessBlockConfiguration>`

// TestExpectedBucketOwner checks that every S3 call names the finding's
// account as the bucket's expected owner, so S3 refuses a bucket of that
// name in any other account, and that a finding without a 12-digit
// account makes no call at all.
func TestExpectedBucketOwner(t *testing.T) {
	configured, _ := json.Marshal(s3publicaccess.State{Bucket: "victim", Configured: true})
	none, _ := json.Marshal(s3publicaccess.State{Bucket: "victim"})
	s3ownertest.Check(t, s3ownertest.Case{
		New: func() s3ownertest.Remediator {
			return s3publicaccess.New(func(o *s3publicaccess.Options) { o.UsePathStyle = true })
		},
		Finding:      func() *remediate.Finding { return finding("victim") },
		GetStatus:    http.StatusOK,
		GetBody:      noBlock,
		NotCompliant: s3publicaccess.ErrNotCompliant,
		Configured:   configured,
		None:         none,
	})
}
