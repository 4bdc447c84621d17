package remedy_test

import (
	"context"
	"io"
	"os"
	"testing"

	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/eligibility"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/wizpayload"
)

// noDedup lets every delivery through, so that the benchmark measures the
// pipeline rather than a growing idempotency map.
type noDedup struct{}

func (noDedup) Begin(context.Context, string) error    { return nil }
func (noDedup) Complete(context.Context, string) error { return nil }
func (noDedup) Release(context.Context, string) error  { return nil }

// declared is a remediator that DecideOnly mode never calls: it only
// makes known to the registry the one action the local example's policy
// names.
type declared struct{}

func (declared) Spec() remediate.Spec {
	return remediate.Spec{Action: "s3-block-public-access", ResourceTypes: []string{"bucket"}, Resources: map[string][]string{"bucket": {"arn:{partition}:s3:::*"}}, IAMActions: []string{"s3:PutBucketPublicAccessBlock"}}
}
func (declared) Plan(context.Context, remediate.Target) (remediate.Plan, error) {
	return remediate.Plan{}, remediate.Permanentf("not called in DecideOnly mode")
}
func (declared) Apply(context.Context, remediate.Target, remediate.Plan) (remediate.Result, error) {
	return remediate.Result{}, remediate.Permanentf("not called in DecideOnly mode")
}

// BenchmarkPipeline measures parse + enrich + decide + audit-encode of a
// typical Wiz payload through the engine (DecideOnly: no AWS). Target:
// at least 50,000 findings/s on one core, i.e. at most 20 µs/op.
//
//	go test -run='^$' -bench=Pipeline -benchmem -cpu=1 .
func BenchmarkPipeline(b *testing.B) {
	body, err := os.ReadFile("testdata/bench-2kb.json")
	if err != nil {
		b.Fatal(err)
	}
	policy, err := eligibility.Load("examples/local/policy.yaml")
	if err != nil {
		b.Fatal(err)
	}
	reg, err := remediate.NewRegistry(declared{})
	if err != nil {
		b.Fatal(err)
	}
	eng, err := remediate.NewEngine(remediate.Options{
		Parser:      wizpayload.New(),
		Enricher:    policy,
		Policy:      policy,
		Registry:    reg,
		Idempotency: noDedup{},
		Audit:       audit.NewJSONLines(io.Discard),
		Mode:        remediate.ModeDecideOnly,
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	msg := remediate.Message{ID: "m-1", Body: body}
	rec, err := eng.Process(ctx, msg)
	if err != nil || rec.Decision != "remediate" || rec.Outcome != "planned" {
		b.Fatalf("warm-up: decision %v, err %v; the benchmark must exercise an approving path", rec, err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := eng.Process(ctx, msg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "findings/s")
}
