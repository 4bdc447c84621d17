package s3publicaccess_test

import (
	"net/http"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediators/internal/s3client/s3ownertest"
	"github.com/remedy-sec/remedy/remediators/s3publicaccess"
)

// BenchmarkPlanApplyVerify is the client side of one remediated bucket —
// Plan (a read), Apply (a write), Verify (a read back) — against a local
// fake S3 in the same process, so it measures the AWS SDK and the
// remediator without an emulator: the floor under the end-to-end CPU per
// finding (make bench-e2e). The fake's own cost is included.
func BenchmarkPlanApplyVerify(b *testing.B) {
	cfg, _ := s3ownertest.Server(b, http.StatusOK, noBlock)
	cfg.HTTPClient = awshttp.NewBuildableClient() // shared, as in a deployment: connections are reused
	r := s3publicaccess.New(func(o *s3publicaccess.Options) { o.UsePathStyle = true })
	tg := remediate.Target{Finding: finding("bench-bucket"), AWS: cfg}
	b.ReportAllocs()
	for b.Loop() {
		p, err := r.Plan(b.Context(), tg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.Apply(b.Context(), tg, p); err != nil {
			b.Fatal(err)
		}
		// The fake always answers "all off", so the read-back reports
		// drift; the calls are what is measured.
		_ = r.Verify(b.Context(), tg, p)
	}
}
