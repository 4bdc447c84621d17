package remediate_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/remediate"
)

// TestPanicInStageFailsToReview: a panic in any pluggable stage ends
// that finding as failed, routed to review, with the panic value (and no
// stack) in the record; the engine keeps serving the next message.
func TestPanicInStageFailsToReview(t *testing.T) {
	boom := func(stage string) { panic("boom in " + stage) }
	tests := []struct {
		stage       string
		opts        func(*remediate.Options, *fakeRemediator)
		wantFinding bool
		wantApplies int32
	}{
		{stage: "authenticate", opts: func(o *remediate.Options, _ *fakeRemediator) {
			o.Authenticator = remediate.AuthenticatorFunc(func(_ context.Context, b []byte) error {
				if string(b) == "f1" {
					boom("authenticate")
				}
				return nil
			})
		}},
		{stage: "parse", opts: func(o *remediate.Options, _ *fakeRemediator) {
			o.Parser = remediate.ParserFunc(func(b []byte) (*remediate.Finding, error) {
				if string(b) == "f1" {
					boom("parse")
				}
				return parse(b)
			})
		}},
		{stage: "enrich", wantFinding: true, opts: func(o *remediate.Options, _ *fakeRemediator) {
			o.Enricher = remediate.EnricherFunc(func(_ context.Context, f *remediate.Finding) error {
				if f.ID == "f1" {
					boom("enrich")
				}
				return nil
			})
		}},
		{stage: "decide", wantFinding: true, opts: func(o *remediate.Options, _ *fakeRemediator) {
			o.Policy = remediate.PolicyFunc(func(ctx context.Context, f *remediate.Finding) (remediate.Decision, error) {
				if f.ID == "f1" {
					var ids []string
					_ = ids[len(f.ID)] // an index out of range: a runtime error, not a string
				}
				return approve(ctx, f)
			})
		}},
		{stage: "assume role", wantFinding: true, opts: func(o *remediate.Options, _ *fakeRemediator) {
			o.Credentials = credsFunc(func(ctx context.Context, f *remediate.Finding, s remediate.Spec) (aws.Config, error) {
				if f.ID == "f1" {
					boom("assume role")
				}
				return okCreds(ctx, f, s)
			})
		}},
		{stage: "plan", wantFinding: true, opts: func(_ *remediate.Options, r *fakeRemediator) { r.panicIn = "plan" }},
		{stage: "apply", wantFinding: true, wantApplies: 1, opts: func(_ *remediate.Options, r *fakeRemediator) { r.panicIn = "apply" }},
		{stage: "verify", wantFinding: true, wantApplies: 1, opts: func(_ *remediate.Options, r *fakeRemediator) { r.panicIn = "verify" }},
	}
	for _, tt := range tests {
		t.Run(tt.stage, func(t *testing.T) {
			s := newSetup(t, tt.opts)
			rec, err := s.engine.Process(context.Background(), remediate.Message{ID: "m1", Body: []byte("f1")})
			if err != nil {
				t.Fatalf("Process: %v; want a failed record, acknowledged", err)
			}
			// The policy's decision stands when it was made; a panic before
			// it makes the decision review.
			wantDecision := "review"
			if tt.wantApplies > 0 || tt.stage == "plan" || tt.stage == "assume role" {
				wantDecision = "remediate"
			}
			if rec.Outcome != string(remediate.OutcomeFailed) || rec.Decision != wantDecision {
				t.Errorf("outcome %q decision %q, want failed and %s", rec.Outcome, rec.Decision, wantDecision)
			}
			if !strings.HasPrefix(rec.FailureReason, tt.stage+": panic: ") {
				t.Errorf("failure reason %q, want it to start with %q", rec.FailureReason, tt.stage+": panic: ")
			}
			doc, _ := json.Marshal(rec)
			if strings.Contains(string(doc), "goroutine") || strings.Contains(string(doc), ".go:") {
				t.Errorf("the record holds a stack trace: %s", doc)
			}
			if got := rec.Finding.ID != ""; got != tt.wantFinding {
				t.Errorf("record names the finding: %v, want %v", got, tt.wantFinding)
			}
			if s.review.len() != 1 || s.audit.len() != 1 {
				t.Errorf("review %d, audit %d records; want 1 each", s.review.len(), s.audit.len())
			}
			if got := s.rem.applies.Load(); got != tt.wantApplies {
				t.Errorf("applies = %d, want %d", got, tt.wantApplies)
			}
			if tt.stage == "apply" && (!strings.Contains(rec.FailureReason, "may have been made") || len(rec.Evidence.Changes) == 0) {
				t.Errorf("a panic in apply: reason %q, changes %v; want the planned change as evidence and a warning", rec.FailureReason, rec.Evidence.Changes)
			}
			// The process keeps serving.
			s.rem.panicIn = ""
			rec, err = s.engine.Process(context.Background(), remediate.Message{ID: "m2", Body: []byte("f2")})
			if err != nil || rec.Outcome != string(remediate.OutcomeApplied) {
				t.Errorf("the next message: %v, %v; want applied", rec, err)
			}
		})
	}
}

// TestPanicInSinkRetries: a sink or store that panics cannot record
// anything, so the message is not acknowledged and the engine goes on.
func TestPanicInSinkRetries(t *testing.T) {
	var panics atomic.Bool
	panics.Store(true)
	sink := audit.SinkFunc(func(context.Context, *audit.Record) error {
		if panics.Load() {
			panic("audit sink bug")
		}
		return nil
	})
	s := newSetup(t, func(o *remediate.Options, _ *fakeRemediator) { o.Audit = sink })
	if _, err := s.engine.Process(context.Background(), remediate.Message{ID: "m1", Body: []byte("f1"), ReceiveCount: 1}); err == nil {
		t.Fatal("Process with a panicking audit sink: nil error, want the message retried")
	}
	panics.Store(false)
	rec, err := s.engine.Process(context.Background(), remediate.Message{ID: "m1", Body: []byte("f1"), ReceiveCount: 2})
	if err != nil || rec.Outcome != string(remediate.OutcomeApplied) || s.rem.applies.Load() != 1 {
		t.Errorf("retry: %+v, %v after %d applies; want the kept applied record, applied once", rec, err, s.rem.applies.Load())
	}
}

// keepFails is a MemoryIdempotency whose Keep fails.
type keepFails struct{ *remediate.MemoryIdempotency }

func (keepFails) Keep(context.Context, string, *audit.Record) error {
	return errors.New("ProvisionedThroughputExceededException")
}

// TestNoApplyWithoutIntent: when the intent cannot be made durable,
// nothing is changed and the message is retried.
func TestNoApplyWithoutIntent(t *testing.T) {
	s := newSetup(t, func(o *remediate.Options, _ *fakeRemediator) {
		o.Idempotency = keepFails{remediate.NewMemoryIdempotency()}
	})
	_, err := s.engine.Process(context.Background(), remediate.Message{ID: "m1", Body: []byte("f1")})
	if err == nil || remediate.IsPermanent(err) || !strings.Contains(err.Error(), "nothing was changed") {
		t.Errorf("Process = %v, want a transient error saying nothing was changed", err)
	}
	if got := s.rem.applies.Load(); got != 0 {
		t.Errorf("applies = %d, want 0", got)
	}
	if s.audit.len() != 0 {
		t.Errorf("%d records written, want none (the message is retried)", s.audit.len())
	}
}

// hangingRemediator's first Apply makes the change and then never
// returns (until released): the process is as good as dead between
// Apply and the audit write.
type hangingRemediator struct {
	flagRemediator
	store    *remediate.MemoryIdempotency
	intent   *audit.Record
	applying chan struct{}
	release  chan struct{}
}

func (r *hangingRemediator) Apply(ctx context.Context, t remediate.Target, p remediate.Plan) (remediate.Result, error) {
	r.mu.Lock()
	first := r.applies == 0
	r.applies++
	r.on = true
	r.mu.Unlock()
	if !first {
		return remediate.Result{After: json.RawMessage(`{"Flag":true}`)}, nil
	}
	r.intent, _ = r.store.Kept(ctx, remediate.IdempotencyKey(t.Finding, "fix-flag"))
	close(r.applying)
	<-r.release
	return remediate.Result{}, errors.New("process gone")
}

// TestIntentRecordsChangeOfDeadProcess: the process stops between Apply
// and its audit write. The intent it made durable before Apply lets the
// next delivery (another process, once the claim expired) record the
// change as applied, with the before-state — not as compliant.
func TestIntentRecordsChangeOfDeadProcess(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	store := remediate.NewMemoryIdempotency(func(o *remediate.MemoryIdempotencyOptions) { o.Now = clock })
	rem := &hangingRemediator{store: store, applying: make(chan struct{}), release: make(chan struct{})}
	sink := &recorder{}
	eng := applyEngine(t, rem, func(o *remediate.Options) { o.Idempotency, o.Audit, o.Now = store, sink, clock })

	msg := remediate.Message{ID: "m1", Body: []byte("f1"), ReceiveCount: 1}
	first := make(chan error, 1)
	go func() { _, err := eng.Process(context.Background(), msg); first <- err }()
	<-rem.applying
	if rem.intent == nil || rem.intent.Outcome != "" || len(rem.intent.Evidence.Changes) == 0 || string(rem.intent.Evidence.Before) != `{"Flag":false}` {
		t.Fatalf("intent seen by Apply: %+v; want a kept record without outcome, with the plan's changes and before-state", rem.intent)
	}

	mu.Lock()
	now = now.Add(6 * time.Minute) // the dead process's claim expires
	mu.Unlock()
	msg.ReceiveCount = 2
	rec, err := eng.Process(context.Background(), msg)
	if err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	if rec.Outcome != string(remediate.OutcomeApplied) || string(rec.Evidence.Before) != `{"Flag":false}` ||
		!strings.Contains(rec.Evidence.EarlierAttempt, "apply started on receive 1") {
		t.Errorf("redelivery recorded %s, before %s, earlier attempt %q; want applied with the intent's evidence",
			rec.Outcome, rec.Evidence.Before, rec.Evidence.EarlierAttempt)
	}
	if rem.applies != 1 {
		t.Errorf("applies = %d, want 1: the redelivery found the change made", rem.applies)
	}
	close(rem.release)
	if err := <-first; err == nil {
		t.Error("the stalled first delivery ended without an error")
	}
	if sink.len() != 1 {
		t.Errorf("%d records, want 1", sink.len())
	}
}

// unverified is a remediator that cannot read its change back.
type unverified struct{ r *fakeRemediator }

func (u unverified) Spec() remediate.Spec { return u.r.Spec() }
func (u unverified) Plan(ctx context.Context, t remediate.Target) (remediate.Plan, error) {
	return u.r.Plan(ctx, t)
}
func (u unverified) Apply(ctx context.Context, t remediate.Target, p remediate.Plan) (remediate.Result, error) {
	return u.r.Apply(ctx, t, p)
}

// TestAppliedMeansVerified: a change no read-back confirmed is recorded
// as applied-unverified and routed to review, never as applied.
func TestAppliedMeansVerified(t *testing.T) {
	review := &recorder{}
	eng := applyEngine(t, unverified{newFake()}, func(o *remediate.Options) { o.Review = review })
	rec, err := eng.Process(context.Background(), remediate.Message{ID: "m1", Body: []byte("f1")})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome != string(remediate.OutcomeAppliedUnverified) || rec.Evidence.Verified || review.len() != 1 {
		t.Errorf("outcome %q verified %v, %d to review; want applied-unverified, not verified, routed to review", rec.Outcome, rec.Evidence.Verified, review.len())
	}
}

// TestApplyModeNeedsRecordKeeper: without a store that keeps records no
// intent can be made durable, so apply mode refuses to start.
func TestApplyModeNeedsRecordKeeper(t *testing.T) {
	reg, _ := remediate.NewRegistry(newFake())
	o := remediate.Options{Parser: remediate.ParserFunc(parse), Policy: remediate.PolicyFunc(approve), Registry: reg,
		Credentials: credsFunc(okCreds), Audit: &recorder{}, Idempotency: noKeeper{remediate.NewMemoryIdempotency()}}
	if _, err := remediate.NewEngine(o); err != nil {
		t.Errorf("dry-run without a RecordKeeper: %v, want it accepted", err)
	}
	o.Mode = remediate.ModeApply
	if _, err := remediate.NewEngine(o); err == nil || !strings.Contains(err.Error(), "RecordKeeper") {
		t.Errorf("apply without a RecordKeeper: %v, want an error naming RecordKeeper", err)
	}
}

// TestIdempotencyKeyHasAccountRegionType: two findings that differ only
// in the resource's account, region or type are two findings.
func TestIdempotencyKeyHasAccountRegionType(t *testing.T) {
	base, _ := parse([]byte("f1"))
	keys := map[string]string{"base": remediate.IdempotencyKey(base, "fix-flag")}
	for name, change := range map[string]func(*remediate.Finding){
		"account": func(f *remediate.Finding) { f.Resource.Account = "222222222222" },
		"region":  func(f *remediate.Finding) { f.Resource.Region = "eu-west-1" },
		"type":    func(f *remediate.Finding) { f.Resource.Type = "securityGroup" },
	} {
		f, _ := parse([]byte("f1"))
		change(f)
		k := remediate.IdempotencyKey(f, "fix-flag")
		for other, ok := range keys {
			if ok == k {
				t.Errorf("a finding differing in %s has the key of %s", name, other)
			}
		}
		keys[name] = k
	}

	// And the engine processes both, not one as a duplicate of the other.
	s := newSetup(t, func(o *remediate.Options, _ *fakeRemediator) {
		o.Parser = remediate.ParserFunc(func(b []byte) (*remediate.Finding, error) {
			f, err := parse([]byte("f1"))
			f.Resource.Account = string(b)
			return f, err
		})
	})
	for _, acct := range []string{"111111111111", "222222222222"} {
		rec, err := s.engine.Process(context.Background(), remediate.Message{ID: acct, Body: []byte(acct)})
		if err != nil || rec == nil {
			t.Errorf("finding in account %s: %v, %v; want processed", acct, rec, err)
		}
	}
}

// TestRejectedRecordKeepsIDs: a rejected payload's record names the ids
// the parser could still read, so a person can tell which finding was
// lost; the record goes to review too.
func TestRejectedRecordKeepsIDs(t *testing.T) {
	s := newSetup(t, func(o *remediate.Options, _ *fakeRemediator) {
		o.Parser = remediate.ParserFunc(func([]byte) (*remediate.Finding, error) {
			return nil, &remediate.RejectError{Field: "resource.type", Reason: "missing", FindingID: "issue-7", RuleID: "rule-3", ResourceID: "arn:aws:s3:::b-7"}
		})
	})
	rec, err := s.engine.Process(context.Background(), remediate.Message{ID: "m1", Body: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	got := []string{rec.Outcome, rec.Finding.ID, rec.Finding.RuleID, rec.Resource.ID}
	want := []string{"rejected", "issue-7", "rule-3", "arn:aws:s3:::b-7"}
	if strings.Join(got, " ") != strings.Join(want, " ") || s.review.len() != 1 {
		t.Errorf("rejected record %v, %d to review; want %v, routed to review", got, s.review.len(), want)
	}
}

// completeFails is a MemoryIdempotency whose Complete fails n times.
type completeFails struct {
	*remediate.MemoryIdempotency
	n atomic.Int32
}

func (c *completeFails) Complete(ctx context.Context, key string) error {
	if c.n.Add(-1) >= 0 {
		return errors.New("InternalServerError")
	}
	return c.MemoryIdempotency.Complete(ctx, key)
}

// TestCompleteRetried: a done marker that failed to be written is
// retried, so a redelivery is a duplicate, not a second record.
func TestCompleteRetried(t *testing.T) {
	store := &completeFails{MemoryIdempotency: remediate.NewMemoryIdempotency()}
	store.n.Store(2)
	s := newSetup(t, func(o *remediate.Options, _ *fakeRemediator) { o.Idempotency = store })
	msg := remediate.Message{ID: "m1", Body: []byte("f1"), ReceiveCount: 1}
	if rec, err := s.engine.Process(context.Background(), msg); err != nil || rec == nil {
		t.Fatalf("Process: %v, %v", rec, err)
	}
	msg.ReceiveCount = 2
	if rec, err := s.engine.Process(context.Background(), msg); err != nil || rec != nil {
		t.Errorf("redelivery: %v, %v; want a duplicate", rec, err)
	}
	if s.audit.len() != 1 {
		t.Errorf("%d records, want 1", s.audit.len())
	}
}

// TestInProgressSaysWhenTheClaimExpires: a held claim's error is
// ErrInProgress and says when the claim expires.
func TestInProgressSaysWhenTheClaimExpires(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	store := remediate.NewMemoryIdempotency(func(o *remediate.MemoryIdempotencyOptions) {
		o.Now = func() time.Time { return now }
		o.ClaimTTL = 5 * time.Minute
	})
	if err := store.Begin(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	err := store.Begin(context.Background(), "k")
	var ipe *remediate.InProgressError
	if !errors.Is(err, remediate.ErrInProgress) || !errors.As(err, &ipe) || !ipe.Until.Equal(now.Add(5*time.Minute)) {
		t.Errorf("second Begin = %v, want ErrInProgress until %s", err, now.Add(5*time.Minute))
	}
}

// TestRecordKeptBeforeItIsWritten: the process writes its record and
// dies before the done marker (here: every Complete fails). The delivery
// that takes the claim over writes the same record again — same id,
// same content — rather than a second record of the finding.
func TestRecordKeptBeforeItIsWritten(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	store := &completeFails{MemoryIdempotency: remediate.NewMemoryIdempotency(func(o *remediate.MemoryIdempotencyOptions) { o.Now = clock })}
	store.n.Store(3)
	s := newSetup(t, func(o *remediate.Options, _ *fakeRemediator) { o.Idempotency, o.Now = store, clock })
	msg := remediate.Message{ID: "m1", Body: []byte("f1"), ReceiveCount: 1}
	first, err := s.engine.Process(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(6 * time.Minute) // the claim of the process that "died" expires
	mu.Unlock()
	msg.ReceiveCount = 2
	second, err := s.engine.Process(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(first)
	b, _ := json.Marshal(second)
	if string(a) != string(b) {
		t.Errorf("the delivery after the lost done marker wrote\n%s\nwant the first record again\n%s", b, a)
	}
	if got := s.rem.applies.Load(); got != 1 {
		t.Errorf("applies = %d, want 1", got)
	}
}
