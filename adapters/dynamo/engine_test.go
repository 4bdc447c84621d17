package dynamo_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/remedy-sec/remedy/adapters/dynamo"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

// countingRemediator counts the changes it makes.
type countingRemediator struct{ applied atomic.Int32 }

func (r *countingRemediator) Spec() remediate.Spec {
	return remediate.Spec{Action: "fix-flag", Description: "test fix", ResourceTypes: []string{"bucket"}, Resources: map[string][]string{"bucket": {"arn:{partition}:s3:::*"}}, IAMActions: []string{"s3:PutBucketTagging"}}
}

func (r *countingRemediator) Plan(context.Context, remediate.Target) (remediate.Plan, error) {
	return remediate.Plan{Changes: []string{"set flag"}}, nil
}

func (r *countingRemediator) Apply(context.Context, remediate.Target, remediate.Plan) (remediate.Result, error) {
	time.Sleep(20 * time.Millisecond) // a change takes a while; others arrive meanwhile
	r.applied.Add(1)
	return remediate.Result{}, nil
}

func (r *countingRemediator) Verify(context.Context, remediate.Target, remediate.Plan) error {
	return nil
}

type staticCreds struct{}

func (staticCreds) Config(context.Context, *remediate.Finding, remediate.Spec) (aws.Config, error) {
	return aws.Config{Region: "us-east-1"}, nil
}

// TestEnginesShareTheStore runs the engine's claim protocol on the
// DynamoDB store: several workers receive the same message at once (SQS
// at-least-once delivery), the resource changes once, one audit record is
// written, and the losers either retry or are told it is done.
func TestEnginesShareTheStore(t *testing.T) {
	_, table := newTable(t, dynamo.CreateIdempotencyTable)
	c := serialClient(t) // see serialClient for the moto gap it closes
	ctx := mototest.Context(t)
	rem := &countingRemediator{}
	reg, err := remediate.NewRegistry(rem)
	if err != nil {
		t.Fatal(err)
	}
	var records atomic.Int32
	newWorker := func() *remediate.Engine {
		e, err := remediate.NewEngine(remediate.Options{
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
			Idempotency: dynamo.NewIdempotency(c, table), // each worker its own store on the shared table
			Audit:       audit.SinkFunc(func(context.Context, *audit.Record) error { records.Add(1); return nil }),
			Mode:        remediate.ModeApply,
		})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}

	const workers = 8
	engines := make([]*remediate.Engine, workers)
	for i := range engines {
		engines[i] = newWorker()
	}
	msg := remediate.Message{ID: "m-1", Body: []byte("finding-1"), ReceiveCount: 1}
	var (
		wg         sync.WaitGroup
		done, dups atomic.Int32
		retry      atomic.Int32
	)
	for _, e := range engines {
		wg.Go(func() {
			rec, err := e.Process(ctx, msg)
			switch {
			case err != nil && errors.Is(err, remediate.ErrInProgress):
				retry.Add(1)
			case err != nil:
				t.Errorf("Process: %v", err)
			case rec == nil:
				dups.Add(1)
			default:
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if done.Load() != 1 || done.Load()+dups.Load()+retry.Load() != workers {
		t.Errorf("concurrent deliveries: %d processed, %d duplicates, %d to retry; want 1 processed and the rest duplicates or retries",
			done.Load(), dups.Load(), retry.Load())
	}
	// The retries come back later and are acknowledged as duplicates.
	for _, e := range engines {
		rec, err := e.Process(ctx, msg)
		if err != nil || rec != nil {
			t.Errorf("redelivery after completion = (%v, %v), want a duplicate (nil, nil)", rec, err)
		}
	}
	if got := rem.applied.Load(); got != 1 {
		t.Errorf("resource changed %d times, want once", got)
	}
	if got := records.Load(); got != 1 {
		t.Errorf("%d audit records, want 1", got)
	}
}

// TestKeptRecordSurvivesAuditOutage: the audit sink is down after a
// change; a different worker (another store on the same table) gets the
// redelivery and writes the applied record the first worker kept, without
// changing anything again.
func TestKeptRecordSurvivesAuditOutage(t *testing.T) {
	_, table := newTable(t, dynamo.CreateIdempotencyTable)
	c := serialClient(t)
	ctx := mototest.Context(t)
	rem := &countingRemediator{}
	reg, err := remediate.NewRegistry(rem)
	if err != nil {
		t.Fatal(err)
	}
	var sinkDown atomic.Bool
	var written []*audit.Record
	var mu sync.Mutex
	newWorker := func() *remediate.Engine {
		return worker(t, c, table, reg, "bucket-1", audit.SinkFunc(func(_ context.Context, r *audit.Record) error {
			if sinkDown.Load() {
				return errors.New("audit table throttled")
			}
			mu.Lock()
			written = append(written, r)
			mu.Unlock()
			return nil
		}))
	}
	msg := remediate.Message{ID: "m-1", Body: []byte("finding-kept"), ReceiveCount: 1}
	sinkDown.Store(true)
	if _, err := newWorker().Process(ctx, msg); err == nil {
		t.Fatal("first delivery: want a transient error while the audit sink is down")
	}
	sinkDown.Store(false)
	msg.ReceiveCount = 2
	rec, err := newWorker().Process(ctx, msg)
	if err != nil {
		t.Fatalf("redelivery to another worker: %v", err)
	}
	if rec.Outcome != string(remediate.OutcomeApplied) {
		t.Errorf("redelivery recorded %q, want the kept applied record", rec.Outcome)
	}
	if got := rem.applied.Load(); got != 1 {
		t.Errorf("resource changed %d times, want once", got)
	}
	if len(written) != 1 {
		t.Errorf("%d audit records, want 1", len(written))
	}
	// And the key is done now.
	if rec, err := newWorker().Process(ctx, msg); err != nil || rec != nil {
		t.Errorf("third delivery = (%v, %v), want a duplicate", rec, err)
	}
}

// lostResponse is a remediator whose first Apply takes effect but fails
// as if its response had been lost.
type lostResponse struct {
	mu      sync.Mutex
	on      bool
	applies int
}

func (r *lostResponse) Spec() remediate.Spec { return (&countingRemediator{}).Spec() }

func (r *lostResponse) Plan(context.Context, remediate.Target) (remediate.Plan, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	before := `{"flag":false}`
	if r.on {
		before = `{"flag":true}`
	}
	return remediate.Plan{Compliant: r.on, Before: []byte(before), Changes: []string{"set flag"}}, nil
}

func (r *lostResponse) Apply(context.Context, remediate.Target, remediate.Plan) (remediate.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applies++
	r.on = true
	if r.applies == 1 {
		return remediate.Result{}, errors.New("read tcp: i/o timeout")
	}
	return remediate.Result{}, nil
}

func (r *lostResponse) Verify(context.Context, remediate.Target, remediate.Plan) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.on {
		return errors.New("flag still off")
	}
	return nil
}

// gets counts GetItem calls.
type gets struct {
	dynamo.IdempotencyAPI
	n atomic.Int32
}

func (g *gets) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	g.n.Add(1)
	return g.IdempotencyAPI.GetItem(ctx, in, optFns...)
}

// TestInterruptedApplyAcrossWorkers: a worker's Apply takes effect but
// its response is lost; another worker gets the redelivery, finds the
// resource compliant, and records the change as applied with the first
// worker's evidence, read from the claim itself (no extra GetItem).
func TestInterruptedApplyAcrossWorkers(t *testing.T) {
	_, table := newTable(t, dynamo.CreateIdempotencyTable)
	c := &gets{IdempotencyAPI: serialClient(t)}
	ctx := mototest.Context(t)
	rem := &lostResponse{}
	reg, err := remediate.NewRegistry(rem)
	if err != nil {
		t.Fatal(err)
	}
	var written []*audit.Record
	newWorker := func() *remediate.Engine {
		return worker(t, c, table, reg, "bucket-2", audit.SinkFunc(func(_ context.Context, r *audit.Record) error {
			written = append(written, r)
			return nil
		}))
	}
	msg := remediate.Message{ID: "m-2", Body: []byte("finding-lost"), ReceiveCount: 1}
	if _, err := newWorker().Process(ctx, msg); err == nil {
		t.Fatal("first delivery: want a transient error")
	}
	msg.ReceiveCount = 2
	rec, err := newWorker().Process(ctx, msg)
	if err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	if rec.Outcome != string(remediate.OutcomeApplied) || string(rec.Evidence.Before) != `{"flag":false}` || rec.Evidence.EarlierAttempt == "" {
		t.Errorf("redelivery: outcome %s, before %s, earlier attempt %q; want applied from false, with the earlier attempt",
			rec.Outcome, rec.Evidence.Before, rec.Evidence.EarlierAttempt)
	}
	if rem.applies != 1 || len(written) != 1 {
		t.Errorf("%d applies, %d records; want 1 and 1", rem.applies, len(written))
	}
	if n := c.n.Load(); n != 0 {
		t.Errorf("%d GetItem calls; want none: the claim returns the kept record", n)
	}
}

// worker is one worker's engine on the shared table: every message is a
// finding about bucket, approved for "fix-flag".
func worker(t *testing.T, c dynamo.IdempotencyAPI, table string, reg *remediate.Registry, bucket string, sink audit.Sink) *remediate.Engine {
	t.Helper()
	e, err := remediate.NewEngine(remediate.Options{
		Parser: remediate.ParserFunc(func(body []byte) (*remediate.Finding, error) {
			return &remediate.Finding{
				ID: string(body), Source: "test", Revision: "1",
				Resource: remediate.Resource{ID: "arn:aws:s3:::" + bucket, Type: "bucket", Account: "111111111111", Region: "us-east-1"},
			}, nil
		}),
		Policy: remediate.PolicyFunc(func(context.Context, *remediate.Finding) (remediate.Decision, error) {
			return remediate.Decision{Verdict: remediate.VerdictRemediate, Action: "fix-flag"}, nil
		}),
		Registry: reg, Credentials: staticCreds{}, Mode: remediate.ModeApply,
		Idempotency: dynamo.NewIdempotency(c, table),
		Audit:       sink,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}
