package dynamo_test

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/remedy-sec/remedy/adapters/dynamo"
	"github.com/remedy-sec/remedy/internal/faultproxy"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

// TestKeptRecordRewrittenByteForByte: the audit write of an applied
// record lands in DynamoDB but its answer is lost, and every later write
// of that delivery fails. The next delivery writes the record the first
// one kept, and it must be the same bytes — the sink accepts a record
// stored before only if it is identical — or the message would fail on
// every delivery and end in the dead-letter queue.
func TestKeptRecordRewrittenByteForByte(t *testing.T) {
	srv := mototest.Require(t, moto)
	ctx := mototest.Context(t)
	direct, auditTable := newTable(t, dynamo.CreateAuditTable)
	_, idemTable := newTable(t, dynamo.CreateIdempotencyTable)

	p, err := faultproxy.Start(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	cfg := srv.Config("us-east-1")
	cfg.BaseEndpoint = aws.String(p.URL)
	cfg.RetryMaxAttempts = 2
	c := dynamodb.NewFromConfig(cfg)

	// The first delivery keeps its record before writing it, and again
	// once the writes failed: it is over at the second.
	var keeps atomic.Int32
	p.Add(faultproxy.Rule{Match: func(r faultproxy.Request) bool {
		if r.Operation == "UpdateItem" && bytes.Contains(r.Body, []byte(idemTable)) && bytes.Contains(r.Body, []byte(`\"outcome\":\"applied\"`)) {
			keeps.Add(1)
		}
		return false
	}})
	auditPut := func(r faultproxy.Request) bool {
		return r.Operation == "PutItem" && bytes.Contains(r.Body, []byte(auditTable))
	}
	p.Add(faultproxy.Rule{Match: auditPut, Status: 500, Code: "InternalServerError", AfterForward: true, Times: 1})
	p.Add(faultproxy.Rule{Match: func(r faultproxy.Request) bool { return auditPut(r) && keeps.Load() < 2 }, Status: 500, Code: "InternalServerError"})

	rem := &countingRemediator{}
	reg, err := remediate.NewRegistry(rem)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := remediate.NewEngine(remediate.Options{
		Parser: remediate.ParserFunc(func(body []byte) (*remediate.Finding, error) {
			return &remediate.Finding{
				ID: string(body), Source: "test", Revision: "1", Severity: remediate.SeverityHigh,
				Resource: remediate.Resource{ID: "arn:aws:s3:::bucket-1", Type: "bucket", Account: "111111111111", Region: "us-east-1"},
			}, nil
		}),
		Policy: remediate.PolicyFunc(func(context.Context, *remediate.Finding) (remediate.Decision, error) {
			return remediate.Decision{Verdict: remediate.VerdictRemediate, Action: "fix-flag"}, nil
		}),
		Registry:    reg,
		Credentials: staticCreds{},
		Idempotency: dynamo.NewIdempotency(c, idemTable),
		Audit:       dynamo.NewAuditSink(c, auditTable),
		Mode:        remediate.ModeApply,
	})
	if err != nil {
		t.Fatal(err)
	}

	msg := remediate.Message{ID: "m-1", Body: []byte("finding-1"), ReceiveCount: 1}
	if _, err := eng.Process(ctx, msg); err == nil {
		t.Fatal("first delivery: nil error, want the failed audit write to retry the message")
	}
	if keeps.Load() < 2 {
		t.Fatal("the first delivery did not keep its unwritten record")
	}
	if got := scan(t, direct, auditTable); len(got) != 1 {
		t.Fatalf("after the lost answer the table holds %d records, want the 1 that landed", len(got))
	}
	msg.ReceiveCount = 2
	rec, err := eng.Process(ctx, msg)
	if err != nil {
		t.Fatalf("second delivery: %v; want the kept record accepted as the one stored", err)
	}
	got := scan(t, direct, auditTable)
	if len(got) != 1 || got[0].ID != rec.ID || got[0].Outcome != string(remediate.OutcomeApplied) {
		t.Errorf("audit table holds %+v, want the one applied record %s", got, rec.ID)
	}
	if n := rem.applied.Load(); n != 1 {
		t.Errorf("applied %d times, want once", n)
	}
}
