package remediate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/remediate"
)

// fakeRemediator is a test double of our own interface, not of AWS.
type fakeRemediator struct {
	spec      remediate.Spec
	compliant bool
	planErr   error
	applyErr  error
	verifyErr error
	panicIn   string // "plan", "apply" or "verify" panics there
	plans     atomic.Int32
	applies   atomic.Int32
}

func (r *fakeRemediator) Spec() remediate.Spec { return r.spec }

func (r *fakeRemediator) Plan(ctx context.Context, t remediate.Target) (remediate.Plan, error) {
	r.plans.Add(1)
	remediate.RecordRequestID(ctx, "req-plan")
	if r.panicIn == "plan" {
		panic("boom in plan")
	}
	if r.planErr != nil {
		return remediate.Plan{}, r.planErr
	}
	return remediate.Plan{
		Compliant: r.compliant,
		Changes:   []string{"set Flag from false to true"},
		Before:    json.RawMessage(`{"Flag":false}`),
		After:     json.RawMessage(`{"Flag":true}`),
	}, nil
}

func (r *fakeRemediator) Apply(ctx context.Context, t remediate.Target, p remediate.Plan) (remediate.Result, error) {
	r.applies.Add(1)
	if r.panicIn == "apply" {
		panic("boom in apply")
	}
	if r.applyErr != nil {
		return remediate.Result{}, r.applyErr
	}
	return remediate.Result{After: json.RawMessage(`{"Flag":true}`), Rollback: json.RawMessage(`{"Flag":false}`), RequestIDs: []string{"req-apply"}}, nil
}

func (r *fakeRemediator) Verify(ctx context.Context, t remediate.Target, p remediate.Plan) error {
	if r.panicIn == "verify" {
		panic("boom in verify")
	}
	return r.verifyErr
}

var (
	_ remediate.Remediator = (*fakeRemediator)(nil)
	_ remediate.Verifier   = (*fakeRemediator)(nil)
)

func newFake() *fakeRemediator {
	return &fakeRemediator{spec: remediate.Spec{
		Action: "fix-flag", ResourceTypes: []string{"bucket"}, IAMActions: []string{"s3:PutFlag"},
		Resources: map[string][]string{"bucket": {"arn:{partition}:s3:::*"}},
	}}
}

// parse accepts any body as a finding id, except bodies starting with
// "bad", which it rejects as a real parser would.
func parse(body []byte) (*remediate.Finding, error) {
	s := string(body)
	if strings.HasPrefix(s, "bad") {
		return nil, &remediate.RejectError{Field: "issue.id", Reason: "missing"}
	}
	return &remediate.Finding{
		ID: s, Source: "test", Revision: "CREATED:1",
		Resource: remediate.Resource{ID: "arn:aws:s3:::b-" + s, Type: "bucket", Account: "111111111111", Region: "us-east-1"},
	}, nil
}

func approve(ctx context.Context, f *remediate.Finding) (remediate.Decision, error) {
	return remediate.Decision{Verdict: remediate.VerdictRemediate, Action: "fix-flag", PolicyVersion: "test@1"}, nil
}

type credsFunc func(ctx context.Context, f *remediate.Finding, s remediate.Spec) (aws.Config, error)

func (c credsFunc) Config(ctx context.Context, f *remediate.Finding, s remediate.Spec) (aws.Config, error) {
	return c(ctx, f, s)
}

func okCreds(context.Context, *remediate.Finding, remediate.Spec) (aws.Config, error) {
	return aws.Config{Region: "us-east-1"}, nil
}

type recorder struct {
	mu   sync.Mutex
	recs []*audit.Record
	err  error
}

func (r *recorder) Write(_ context.Context, rec *audit.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.recs = append(r.recs, rec)
	return nil
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.recs)
}

type setup struct {
	rem    *fakeRemediator
	audit  *recorder
	review *recorder
	engine *remediate.Engine
}

func newSetup(t *testing.T, fns ...func(*remediate.Options, *fakeRemediator)) *setup {
	t.Helper()
	s := &setup{rem: newFake(), audit: &recorder{}, review: &recorder{}}
	reg, err := remediate.NewRegistry(s.rem)
	if err != nil {
		t.Fatal(err)
	}
	o := remediate.Options{
		Parser:      remediate.ParserFunc(parse),
		Policy:      remediate.PolicyFunc(approve),
		Registry:    reg,
		Credentials: credsFunc(okCreds),
		Audit:       s.audit,
		Review:      s.review,
		Mode:        remediate.ModeApply,
		NewID:       func() string { return "rec-1" },
	}
	for _, fn := range fns {
		fn(&o, s.rem)
	}
	s.engine, err = remediate.NewEngine(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func decide(d remediate.Decision) func(*remediate.Options, *fakeRemediator) {
	return func(o *remediate.Options, _ *fakeRemediator) {
		o.Policy = remediate.PolicyFunc(func(context.Context, *remediate.Finding) (remediate.Decision, error) { return d, nil })
	}
}

func denied() error {
	return &smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized to perform s3:PutFlag"}
}

func TestProcessOutcomes(t *testing.T) {
	skip := remediate.Decision{}
	skip.Add("severity", remediate.VerdictSkip, "severity LOW is below HIGH")
	review := remediate.Decision{Action: "fix-flag"}
	review.Add("owner", remediate.VerdictReview, "no owner")

	tests := []struct {
		name        string
		body        string
		opts        []func(*remediate.Options, *fakeRemediator)
		wantOutcome remediate.Outcome
		wantDecide  string
		wantApplies int32
		wantPlans   int32
		wantReview  bool
		wantReason  string // substring of FailureReason
	}{
		{name: "rejected", body: "bad payload", wantOutcome: remediate.OutcomeRejected, wantDecide: "reject", wantReview: true, wantReason: "issue.id"},
		{name: "skipped", body: "f1", opts: opts(decide(skip)), wantOutcome: remediate.OutcomeSkipped, wantDecide: "skip"},
		{name: "review", body: "f1", opts: opts(decide(review)), wantOutcome: remediate.OutcomeReview, wantDecide: "review", wantReview: true, wantReason: "no owner"},
		{name: "zero decision reviews", body: "f1", opts: opts(decide(remediate.Decision{})), wantOutcome: remediate.OutcomeReview, wantDecide: "review", wantReview: true, wantReason: "no valid verdict"},
		{name: "remediate without action reviews", body: "f1", opts: opts(decide(remediate.Decision{Verdict: remediate.VerdictRemediate})), wantOutcome: remediate.OutcomeReview, wantDecide: "review", wantReview: true, wantReason: "named no action"},
		{name: "compliant", body: "f1", opts: opts(func(o *remediate.Options, r *fakeRemediator) { r.compliant = true }), wantOutcome: remediate.OutcomeCompliant, wantDecide: "remediate", wantPlans: 1},
		{name: "applied", body: "f1", wantOutcome: remediate.OutcomeApplied, wantDecide: "remediate", wantPlans: 1, wantApplies: 1},
		{name: "planned in dry run", body: "f1", opts: opts(func(o *remediate.Options, _ *fakeRemediator) { o.Mode = remediate.ModeDryRun }), wantOutcome: remediate.OutcomePlanned, wantDecide: "remediate", wantPlans: 1},
		{name: "planned in decide-only", body: "f1", opts: opts(func(o *remediate.Options, _ *fakeRemediator) { o.Mode = remediate.ModeDecideOnly; o.Credentials = nil }), wantOutcome: remediate.OutcomePlanned, wantDecide: "remediate"},
		{name: "failed on denied apply", body: "f1", opts: opts(func(_ *remediate.Options, r *fakeRemediator) { r.applyErr = denied() }), wantOutcome: remediate.OutcomeFailed, wantDecide: "remediate", wantPlans: 1, wantApplies: 1, wantReview: true, wantReason: "apply: "},
		{name: "failed on denied assume", body: "f1", opts: opts(func(o *remediate.Options, _ *fakeRemediator) {
			o.Credentials = credsFunc(func(context.Context, *remediate.Finding, remediate.Spec) (aws.Config, error) {
				return aws.Config{}, remediate.Permanentf("account 111111111111 is not allowlisted")
			})
		}), wantOutcome: remediate.OutcomeFailed, wantDecide: "remediate", wantReview: true, wantReason: "assume role: account 111111111111"},
		{name: "failed on permanent plan error", body: "f1", opts: opts(func(_ *remediate.Options, r *fakeRemediator) {
			r.planErr = &smithy.GenericAPIError{Code: "NoSuchBucket"}
		}), wantOutcome: remediate.OutcomeFailed, wantDecide: "remediate", wantPlans: 1, wantReview: true, wantReason: "plan: "},
		{name: "failed on verify", body: "f1", opts: opts(func(_ *remediate.Options, r *fakeRemediator) { r.verifyErr = errors.New("flag still false") }), wantOutcome: remediate.OutcomeFailed, wantDecide: "remediate", wantPlans: 1, wantApplies: 1, wantReview: true, wantReason: "verify: flag still false"},
		{name: "concerns overrule approval", body: "f1", opts: opts(func(o *remediate.Options, _ *fakeRemediator) {
			o.Parser = remediate.ParserFunc(func(b []byte) (*remediate.Finding, error) {
				f, err := parse(b)
				f.AddConcern("resource.id", "composite id names a sub-resource")
				return f, err
			})
		}), wantOutcome: remediate.OutcomeReview, wantDecide: "review", wantReview: true, wantReason: "resource.id"},
		{name: "unknown action reviews", body: "f1", opts: opts(decide(remediate.Decision{Verdict: remediate.VerdictRemediate, Action: "nope"})), wantOutcome: remediate.OutcomeReview, wantDecide: "review", wantReview: true, wantReason: `no remediator is registered for action "nope"`},
		{name: "type mismatch reviews", body: "f1", opts: opts(func(_ *remediate.Options, r *fakeRemediator) { r.spec.ResourceTypes = []string{"securityGroup"} }), wantOutcome: remediate.OutcomeReview, wantDecide: "review", wantReview: true, wantReason: "not \"bucket\""},
		{name: "sensitive reviews", body: "f1", opts: opts(func(_ *remediate.Options, r *fakeRemediator) { r.spec.Sensitive = true }), wantOutcome: remediate.OutcomeReview, wantDecide: "review", wantReview: true, wantReason: "sensitive"},
		{name: "permanent policy error reviews", body: "f1", opts: opts(func(o *remediate.Options, _ *fakeRemediator) {
			o.Policy = remediate.PolicyFunc(func(context.Context, *remediate.Finding) (remediate.Decision, error) {
				return remediate.Decision{Verdict: remediate.VerdictRemediate, Action: "fix-flag"}, remediate.Permanentf("cel: no such key")
			})
		}), wantOutcome: remediate.OutcomeReview, wantDecide: "review", wantReview: true, wantReason: "policy evaluation failed"},
		{name: "permanent enrich error reviews", body: "f1", opts: opts(func(o *remediate.Options, _ *fakeRemediator) {
			o.Enricher = remediate.EnricherFunc(func(context.Context, *remediate.Finding) error { return remediate.Permanentf("bad exception file") })
		}), wantOutcome: remediate.OutcomeReview, wantDecide: "review", wantReview: true, wantReason: "enrichment failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t, tt.opts...)
			rec, err := s.engine.Process(context.Background(), remediate.Message{ID: "m1", Body: []byte(tt.body)})
			if err != nil {
				t.Fatalf("Process: %v", err)
			}
			if got := remediate.Outcome(rec.Outcome); got != tt.wantOutcome {
				t.Errorf("outcome = %q, want %q (failure: %s)", got, tt.wantOutcome, rec.FailureReason)
			}
			if rec.Decision != tt.wantDecide {
				t.Errorf("decision = %q, want %q", rec.Decision, tt.wantDecide)
			}
			if got := s.rem.plans.Load(); got != tt.wantPlans {
				t.Errorf("plans = %d, want %d", got, tt.wantPlans)
			}
			if got := s.rem.applies.Load(); got != tt.wantApplies {
				t.Errorf("applies = %d, want %d", got, tt.wantApplies)
			}
			if got := s.audit.len(); got != 1 {
				t.Errorf("audit records = %d, want 1", got)
			}
			if got := s.review.len() == 1; got != tt.wantReview {
				t.Errorf("routed to review = %v, want %v", got, tt.wantReview)
			}
			if !strings.Contains(rec.FailureReason, tt.wantReason) {
				t.Errorf("failure reason %q does not contain %q", rec.FailureReason, tt.wantReason)
			}
			if rec.Schema != audit.SchemaVersion || rec.Correlation.MessageID != "m1" {
				t.Errorf("record header = %q/%q", rec.Schema, rec.Correlation.MessageID)
			}
		})
	}
}

func opts(fns ...func(*remediate.Options, *fakeRemediator)) []func(*remediate.Options, *fakeRemediator) {
	return fns
}

func TestAppliedEvidence(t *testing.T) {
	s := newSetup(t)
	rec, err := s.engine.Process(context.Background(), remediate.Message{ID: "m1", Body: []byte("f1")})
	if err != nil {
		t.Fatal(err)
	}
	want := audit.Evidence{
		Before:     json.RawMessage(`{"Flag":false}`),
		After:      json.RawMessage(`{"Flag":true}`),
		Changes:    []string{"set Flag from false to true"},
		Rollback:   json.RawMessage(`{"Flag":false}`),
		RequestIDs: []string{"req-plan", "req-apply"},
		Verified:   true,
	}
	if diff := cmp.Diff(want, rec.Evidence); diff != "" {
		t.Errorf("evidence (-want +got):\n%s", diff)
	}
}

func TestTransientErrorsAreNotAcknowledged(t *testing.T) {
	throttled := &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}
	tests := []struct {
		name string
		fn   func(*remediate.Options, *fakeRemediator)
	}{
		{"plan throttled", func(_ *remediate.Options, r *fakeRemediator) { r.planErr = throttled }},
		{"apply network error", func(_ *remediate.Options, r *fakeRemediator) { r.applyErr = errors.New("dial tcp: connection refused") }},
		{"assume throttled", func(o *remediate.Options, _ *fakeRemediator) {
			o.Credentials = credsFunc(func(context.Context, *remediate.Finding, remediate.Spec) (aws.Config, error) {
				return aws.Config{}, throttled
			})
		}},
		{"audit sink down", func(o *remediate.Options, _ *fakeRemediator) {
			o.Audit = audit.SinkFunc(func(context.Context, *audit.Record) error { return errors.New("503 from sink") })
		}},
		{"review route down", func(o *remediate.Options, r *fakeRemediator) {
			r.applyErr = denied()
			o.Review = audit.SinkFunc(func(context.Context, *audit.Record) error { return errors.New("sns publish failed") })
		}},
		{"signing certificate unreachable", func(o *remediate.Options, _ *fakeRemediator) {
			o.Authenticator = remediate.AuthenticatorFunc(func(context.Context, []byte) error {
				return errors.New("fetch signing certificate: dial tcp: i/o timeout")
			})
		}},
		{"policy store down", func(o *remediate.Options, _ *fakeRemediator) {
			o.Policy = remediate.PolicyFunc(func(context.Context, *remediate.Finding) (remediate.Decision, error) {
				return remediate.Decision{}, errors.New("exception store timeout")
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t, tt.fn)
			rec, err := s.engine.Process(context.Background(), remediate.Message{ID: "m1", Body: []byte("f1")})
			if err == nil {
				t.Fatalf("Process returned nil error (outcome %q): a transient failure must not be acknowledged", rec.Outcome)
			}
			if remediate.IsPermanent(err) {
				t.Errorf("error %v is marked permanent", err)
			}
			if s.audit.len() != 0 {
				t.Errorf("an audit record was written for a retried message")
			}
		})
	}
}

// TestAuthenticatorRejects: a body the authenticator rejects is audited
// as rejected under the check "authenticity", and nothing reads it
// further: no parse, no plan, no change.
func TestAuthenticatorRejects(t *testing.T) {
	var parsed atomic.Int32
	s := newSetup(t, func(o *remediate.Options, _ *fakeRemediator) {
		o.Authenticator = remediate.AuthenticatorFunc(func(_ context.Context, body []byte) error {
			if string(body) == "forged" {
				return &remediate.RejectError{Field: "Signature", Reason: "does not verify"}
			}
			return nil
		})
		o.Parser = remediate.ParserFunc(func(body []byte) (*remediate.Finding, error) {
			parsed.Add(1)
			return parse(body)
		})
	})
	rec, err := s.engine.Process(context.Background(), remediate.Message{ID: "m1", Body: []byte("forged")})
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	if rec.Outcome != string(remediate.OutcomeRejected) || len(rec.Reasons) != 1 || rec.Reasons[0].Check != remediate.CheckAuthenticity {
		t.Errorf("outcome %q, reasons %+v; want rejected by %q", rec.Outcome, rec.Reasons, remediate.CheckAuthenticity)
	}
	if n := parsed.Load(); n != 0 || s.rem.plans.Load() != 0 || s.rem.applies.Load() != 0 {
		t.Errorf("after the rejection: %d parses, %d plans, %d applies; want none", n, s.rem.plans.Load(), s.rem.applies.Load())
	}
	if s.audit.len() != 1 {
		t.Errorf("%d audit records, want 1", s.audit.len())
	}
	// The control: an authentic body goes on to be fixed.
	rec, err = s.engine.Process(context.Background(), remediate.Message{ID: "m2", Body: []byte("f2")})
	if err != nil || rec.Outcome != string(remediate.OutcomeApplied) {
		t.Errorf("authentic body: outcome %v, %v; want applied", rec, err)
	}
}

func TestRetryAfterTransientFailureApplies(t *testing.T) {
	s := newSetup(t, func(_ *remediate.Options, r *fakeRemediator) { r.applyErr = errors.New("connection reset") })
	msg := remediate.Message{ID: "m1", Body: []byte("f1")}
	if _, err := s.engine.Process(context.Background(), msg); err == nil {
		t.Fatal("first attempt: want a transient error")
	}
	s.rem.applyErr = nil
	rec, err := s.engine.Process(context.Background(), msg)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if rec.Outcome != string(remediate.OutcomeApplied) {
		t.Errorf("retry outcome = %q, want applied (the claim must be released after a transient failure)", rec.Outcome)
	}
}

func TestDuplicateDeliveryChangesOnce(t *testing.T) {
	s := newSetup(t)
	msg := remediate.Message{ID: "m1", Body: []byte("f1")}
	var wg sync.WaitGroup
	var acked, retried atomic.Int32
	for range 20 {
		wg.Go(func() {
			_, err := s.engine.Process(context.Background(), msg)
			if err != nil {
				if !errors.Is(err, remediate.ErrInProgress) {
					t.Errorf("unexpected error: %v", err)
				}
				retried.Add(1)
				return
			}
			acked.Add(1)
		})
	}
	wg.Wait()
	// Deliver once more after everything settled: a pure duplicate.
	rec, err := s.engine.Process(context.Background(), msg)
	if err != nil || rec != nil {
		t.Errorf("redelivery after completion = (%v, %v), want (nil, nil)", rec, err)
	}
	if got := s.rem.applies.Load(); got != 1 {
		t.Errorf("applies = %d, want exactly 1", got)
	}
	if got := s.audit.len(); got != 1 {
		t.Errorf("terminal audit records = %d, want exactly 1", got)
	}
	if acked.Load()+retried.Load() != 20 {
		t.Errorf("acked %d + retried %d != 20", acked.Load(), retried.Load())
	}
}

func TestRejectedDuplicateAuditedOnce(t *testing.T) {
	s := newSetup(t)
	for range 3 {
		if _, err := s.engine.Process(context.Background(), remediate.Message{Body: []byte("bad body")}); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.audit.len(); got != 1 {
		t.Errorf("audit records for one rejected body delivered 3 times = %d, want 1", got)
	}
}

func TestNewEngineNamesMissingOption(t *testing.T) {
	reg, _ := remediate.NewRegistry()
	base := remediate.Options{Parser: remediate.ParserFunc(parse), Policy: remediate.PolicyFunc(approve), Registry: reg, Audit: audit.Discard(), Credentials: credsFunc(okCreds)}
	tests := []struct {
		name string
		fn   func(*remediate.Options)
		want string
	}{
		{"parser", func(o *remediate.Options) { o.Parser = nil }, "Options.Parser"},
		{"policy", func(o *remediate.Options) { o.Policy = nil }, "Options.Policy"},
		{"registry", func(o *remediate.Options) { o.Registry = nil }, "Options.Registry"},
		{"audit", func(o *remediate.Options) { o.Audit = nil }, "Options.Audit"},
		{"credentials", func(o *remediate.Options) { o.Credentials = nil; o.Mode = remediate.ModeApply }, "Options.Credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := remediate.NewEngine(base, tt.fn)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewEngine error = %v, want one naming %s", err, tt.want)
			}
		})
	}
}

func TestMemoryIdempotencyExpiry(t *testing.T) {
	now := time.Unix(0, 0)
	s := remediate.NewMemoryIdempotency(func(o *remediate.MemoryIdempotencyOptions) {
		o.Now = func() time.Time { return now }
		o.ClaimTTL = time.Minute
		o.DoneTTL = time.Hour
		o.MaxEntries = 10
	})
	ctx := context.Background()
	if err := s.Begin(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if err := s.Begin(ctx, "k"); !errors.Is(err, remediate.ErrInProgress) {
		t.Fatalf("second Begin = %v, want ErrInProgress", err)
	}
	now = now.Add(2 * time.Minute) // the first worker crashed
	if err := s.Begin(ctx, "k"); err != nil {
		t.Fatalf("Begin after claim expiry = %v, want nil", err)
	}
	if err := s.Complete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if err := s.Begin(ctx, "k"); !errors.Is(err, remediate.ErrAlreadyDone) {
		t.Fatalf("Begin after Complete = %v, want ErrAlreadyDone", err)
	}
	for i := range 50 {
		k := string(rune('a' + i))
		if err := s.Begin(ctx, k); err != nil {
			t.Fatal(err)
		}
		_ = s.Complete(ctx, k)
	}
	if n := s.Len(); n > 10 {
		t.Errorf("store holds %d entries, bound is 10", n)
	}
}

// TestMemoryIdempotencyKeptRecordsExpire: a kept record outlives its
// claim, and is dropped only once DoneTTL passed without a retry, so
// that kept records of messages never replayed do not fill the store.
func TestMemoryIdempotencyKeptRecordsExpire(t *testing.T) {
	now := time.Unix(0, 0)
	s := remediate.NewMemoryIdempotency(func(o *remediate.MemoryIdempotencyOptions) {
		o.Now = func() time.Time { return now }
		o.ClaimTTL = time.Minute
		o.DoneTTL = time.Hour
		o.MaxEntries = 10
	})
	ctx := context.Background()
	keep := func(k string) {
		t.Helper()
		if err := s.Begin(ctx, k); err != nil {
			t.Fatal(err)
		}
		if err := s.Keep(ctx, k, &audit.Record{ID: k}); err != nil {
			t.Fatal(err)
		}
		if err := s.Release(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		keep(fmt.Sprintf("kept-%d", i))
	}
	now = now.Add(30 * time.Minute)
	keep("kept-10") // the store is full: nothing may be evicted yet
	if r, _ := s.Kept(ctx, "kept-0"); r == nil {
		t.Fatal("a kept record was dropped before DoneTTL")
	}
	now = now.Add(31 * time.Minute)
	keep("kept-11") // the first ten are past DoneTTL now
	if r, _ := s.Kept(ctx, "kept-0"); r != nil {
		t.Error("a kept record past DoneTTL was not dropped")
	}
	if r, _ := s.Kept(ctx, "kept-11"); r == nil {
		t.Error("the newest kept record is gone")
	}
	if n := s.Len(); n > 10 {
		t.Errorf("store holds %d entries, bound is 10", n)
	}
}

func TestLastDeliveryRecordsDeadLetter(t *testing.T) {
	s := newSetup(t, func(o *remediate.Options, r *fakeRemediator) {
		o.MaxReceiveCount = 3
		r.applyErr = errors.New("503 Service Unavailable")
	})
	for count := 1; count <= 3; count++ {
		_, err := s.engine.Process(context.Background(), remediate.Message{ID: "m1", Body: []byte("f1"), ReceiveCount: count})
		if err == nil {
			t.Fatalf("delivery %d: want a transient error", count)
		}
		wantRecords := 0
		if count == 3 {
			wantRecords = 1
		}
		if got := s.audit.len(); got != wantRecords {
			t.Fatalf("after delivery %d: %d audit records, want %d", count, got, wantRecords)
		}
	}
	rec := s.audit.recs[0]
	if rec.Outcome != string(remediate.OutcomeDeadLettered) || !strings.Contains(rec.FailureReason, "503 Service Unavailable") || rec.Finding.ID != "f1" {
		t.Errorf("dead-letter record = outcome %q, reason %q, finding %q", rec.Outcome, rec.FailureReason, rec.Finding.ID)
	}
	if s.review.len() != 1 {
		t.Errorf("dead-lettered message not routed to review")
	}
	// A replay from the DLQ is processed again.
	s.rem.applyErr = nil
	rec2, err := s.engine.Process(context.Background(), remediate.Message{ID: "m1", Body: []byte("f1"), ReceiveCount: 1})
	if err != nil || rec2.Outcome != string(remediate.OutcomeApplied) {
		t.Errorf("replay = %v, %v; want applied", rec2, err)
	}
}

// failOnce is a sink that fails its first n writes.
type failOnce struct {
	recorder
	failures int
}

func (f *failOnce) Write(ctx context.Context, r *audit.Record) error {
	f.mu.Lock()
	if f.failures > 0 {
		f.failures--
		f.mu.Unlock()
		return errors.New("audit table unavailable")
	}
	f.mu.Unlock()
	return f.recorder.Write(ctx, r)
}

// TestAppliedEvidenceSurvivesAuditOutage: when the audit write fails
// after a change was made, the retry writes the applied record (with its
// rollback data) instead of re-planning and recording "compliant".
func TestAppliedEvidenceSurvivesAuditOutage(t *testing.T) {
	sink := &failOnce{failures: 3} // more than the in-process retries
	s := newSetup(t, func(o *remediate.Options, _ *fakeRemediator) { o.Audit = sink })
	msg := remediate.Message{ID: "m1", Body: []byte("f1"), ReceiveCount: 1}
	if _, err := s.engine.Process(context.Background(), msg); err == nil {
		t.Fatal("first delivery: want a transient error while the audit sink is down")
	}
	msg.ReceiveCount = 2
	rec, err := s.engine.Process(context.Background(), msg)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if rec.Outcome != string(remediate.OutcomeApplied) || len(rec.Evidence.Rollback) == 0 {
		t.Errorf("retry recorded outcome %q rollback %s; want the applied record with its rollback data", rec.Outcome, rec.Evidence.Rollback)
	}
	if got := s.rem.applies.Load(); got != 1 {
		t.Errorf("applies = %d, want 1", got)
	}
	if got := s.rem.plans.Load(); got != 1 {
		t.Errorf("plans = %d, want 1: the retry must not process the finding again", got)
	}
	if got := sink.len(); got != 1 {
		t.Errorf("audit records = %d, want 1", got)
	}
	// The record is the one the first delivery tried to write, unchanged:
	// a sink may have stored it and lost only its answer, and a sink that
	// refuses a second, different record under one id (DynamoDB's) must
	// see the same bytes.
	if rec.Correlation.ReceiveCount != 1 {
		t.Errorf("record receive count = %d, want 1 (the first delivery's record, byte for byte)", rec.Correlation.ReceiveCount)
	}
}

func TestAuditWriteRetriedInProcess(t *testing.T) {
	sink := &failOnce{failures: 1}
	s := newSetup(t, func(o *remediate.Options, _ *fakeRemediator) { o.Audit = sink })
	rec, err := s.engine.Process(context.Background(), remediate.Message{ID: "m1", Body: []byte("f1")})
	if err != nil || rec.Outcome != string(remediate.OutcomeApplied) {
		t.Fatalf("one failed audit write: got %v, %v; want applied after an in-process retry", rec, err)
	}
}

// flagRemediator keeps one flag as live state. Its first Apply can fail
// transiently after setting the flag (the request reached AWS, the
// response was lost) or before (it never did).
type flagRemediator struct {
	mu      sync.Mutex
	on      bool
	applies int
	// failFirst: "after" sets the flag and fails, "before" only fails
	// (both with a network error: the outcome is unknown), "throttled"
	// fails with AWS's throttling answer (the write was not made),
	// "partial" changes the state without fixing it, "verify" applies and
	// then fails the first read-back as a throttled AWS call.
	failFirst string
	verifies  int
	gen       int // bumped by a partial change
}

func (r *flagRemediator) Spec() remediate.Spec { return newFake().spec }

func (r *flagRemediator) state() json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"Flag":%t}`, r.on))
}

func (r *flagRemediator) Plan(ctx context.Context, _ remediate.Target) (remediate.Plan, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	remediate.RecordRequestID(ctx, fmt.Sprintf("req-plan-%d", r.applies))
	return remediate.Plan{Compliant: r.on, Before: r.state(), After: json.RawMessage(`{"Flag":true}`),
		Changes: []string{fmt.Sprintf("set Flag from false to true (generation %d)", r.gen)}}, nil
}

func (r *flagRemediator) Apply(ctx context.Context, _ remediate.Target, _ remediate.Plan) (remediate.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applies++
	remediate.RecordRequestID(ctx, fmt.Sprintf("req-apply-%d", r.applies))
	if r.applies == 1 {
		switch r.failFirst {
		case "after", "before", "partial":
			if r.failFirst == "after" {
				r.on = true
			}
			if r.failFirst == "partial" {
				r.gen++
			}
			return remediate.Result{}, errors.New("read tcp: i/o timeout")
		case "throttled":
			return remediate.Result{}, &smithy.OperationError{ServiceID: "S3", OperationName: "PutFlag", Err: &smithy.GenericAPIError{Code: "SlowDown"}}
		}
	}
	r.on = true
	// Also reported in the result, as some remediators do: recorded once.
	return remediate.Result{After: r.state(), Rollback: json.RawMessage(`{"Flag":false}`), RequestIDs: []string{fmt.Sprintf("req-apply-%d", r.applies)}}, nil
}

func (r *flagRemediator) Verify(context.Context, remediate.Target, remediate.Plan) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.verifies++
	if r.verifies == 1 && r.failFirst == "verify" {
		return &smithy.OperationError{ServiceID: "S3", OperationName: "GetFlag", Err: &smithy.GenericAPIError{Code: "SlowDown", Message: "Please reduce your request rate."}}
	}
	if !r.on {
		return errors.New("flag still off")
	}
	return nil
}

// applyEngine returns an Apply-mode engine running rem on every finding
// parse makes, with the default store and a recorder as audit sink;
// fns change the options first.
func applyEngine(t *testing.T, rem remediate.Remediator, fns ...func(*remediate.Options)) *remediate.Engine {
	t.Helper()
	reg, err := remediate.NewRegistry(rem)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := remediate.NewEngine(remediate.Options{
		Parser: remediate.ParserFunc(parse), Policy: remediate.PolicyFunc(approve), Registry: reg,
		Credentials: credsFunc(okCreds), Audit: &recorder{}, Mode: remediate.ModeApply,
	}, fns...)
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// noKeeper hides MemoryIdempotency's RecordKeeper.
type noKeeper struct{ remediate.IdempotencyStore }

// TestInterruptedApplyKeepsEvidence: an Apply that failed transiently may
// have taken effect. The retry that finds the resource compliant records
// the change as applied, with the first delivery's before-state and what
// its Apply returned — not as "already compliant", which would lose the
// evidence that Remedy changed the resource.
func TestInterruptedApplyKeepsEvidence(t *testing.T) {
	tests := []struct {
		name           string
		failFirst      string
		wantOutcome    remediate.Outcome
		wantApplies    int
		wantAttempt    bool
		wantRequestIDs []string
	}{
		{name: "applied, response lost", failFirst: "after", wantOutcome: remediate.OutcomeApplied, wantApplies: 1, wantAttempt: true,
			wantRequestIDs: []string{"req-plan-0", "req-apply-1", "req-plan-1"}},
		{name: "not applied", failFirst: "before", wantOutcome: remediate.OutcomeApplied, wantApplies: 2, wantAttempt: true,
			wantRequestIDs: []string{"req-plan-0", "req-apply-1", "req-plan-1", "req-apply-2"}},
		// AWS answered "throttled", but an earlier attempt of the SDK's
		// might have landed: the evidence is kept all the same, and the
		// retry, finding nothing changed, applies.
		{name: "throttled", failFirst: "throttled", wantOutcome: remediate.OutcomeApplied, wantApplies: 2, wantAttempt: true,
			wantRequestIDs: []string{"req-plan-0", "req-apply-1", "req-plan-1", "req-apply-2"}},
		// The state moved, but not to compliant: a person looks.
		{name: "partly applied", failFirst: "partial", wantOutcome: remediate.OutcomeReview, wantApplies: 1, wantAttempt: true,
			wantRequestIDs: []string{"req-plan-0", "req-apply-1", "req-plan-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rem := &flagRemediator{failFirst: tt.failFirst}
			var store remediate.IdempotencyStore = remediate.NewMemoryIdempotency()
			sink := &recorder{}
			eng := applyEngine(t, rem, func(o *remediate.Options) { o.Idempotency, o.Audit = store, sink })
			msg := remediate.Message{ID: "m1", Body: []byte("f1"), ReceiveCount: 1}
			if _, err := eng.Process(context.Background(), msg); err == nil || remediate.IsPermanent(err) {
				t.Fatalf("first delivery: %v, want a transient error", err)
			}
			if sink.len() != 0 {
				t.Fatalf("first delivery wrote %d records, want none", sink.len())
			}
			msg.ReceiveCount = 2
			rec, err := eng.Process(context.Background(), msg)
			if err != nil {
				t.Fatalf("retry: %v", err)
			}
			if rec.Outcome != string(tt.wantOutcome) || rem.applies != tt.wantApplies {
				t.Errorf("retry: outcome %s after %d applies, want %s after %d", rec.Outcome, rem.applies, tt.wantOutcome, tt.wantApplies)
			}
			if got := rec.Evidence.EarlierAttempt; (got != "") != tt.wantAttempt || tt.wantAttempt && !strings.Contains(got, "receive 1") {
				t.Errorf("EarlierAttempt = %q, want it set: %v", got, tt.wantAttempt)
			}
			if tt.wantOutcome == remediate.OutcomeApplied {
				if string(rec.Evidence.Before) != `{"Flag":false}` || string(rec.Evidence.After) != `{"Flag":true}` || !rec.Evidence.Verified {
					t.Errorf("evidence before %s after %s verified %v; want the change from false to true, verified",
						rec.Evidence.Before, rec.Evidence.After, rec.Evidence.Verified)
				}
			}
			if diff := cmp.Diff(tt.wantRequestIDs, rec.Evidence.RequestIDs); diff != "" {
				t.Errorf("request ids (-want +got):\n%s", diff)
			}
			// The kept attempt is gone: a third delivery is a duplicate.
			if rec, err := eng.Process(context.Background(), msg); err != nil || rec != nil {
				t.Errorf("third delivery: %v, %v; want acknowledged as a duplicate", rec, err)
			}
		})
	}
}

// TestThrottledReadBackFails: a read-back that could not be made ends as
// failed (a person looks), with the evidence of the change, never as a
// retry that might record "compliant".
func TestThrottledReadBackFails(t *testing.T) {
	rem := &flagRemediator{failFirst: "verify"}
	rec, err := applyEngine(t, rem).Process(context.Background(), remediate.Message{ID: "m1", Body: []byte("f1"), ReceiveCount: 1})
	if err != nil || rec.Outcome != string(remediate.OutcomeFailed) || !strings.Contains(rec.FailureReason, "SlowDown") || len(rec.Evidence.Rollback) == 0 {
		t.Errorf("Process = %+v, %v; want failed with the read-back's error and the rollback data", rec, err)
	}
}

// TestInterruptedChangeEvidenceSurvivesSkip: an Apply whose outcome was
// unknown, then an exception added before the retry. The retry ends as
// skipped, and its record still carries the change the first delivery
// may have made.
func TestInterruptedChangeEvidenceSurvivesSkip(t *testing.T) {
	rem := &flagRemediator{failFirst: "after"}
	var excepted atomic.Bool
	eng := applyEngine(t, rem, func(o *remediate.Options) {
		o.Policy = remediate.PolicyFunc(func(ctx context.Context, f *remediate.Finding) (remediate.Decision, error) {
			if excepted.Load() {
				// As package eligibility does, the action is named whatever
				// the verdict.
				d := remediate.Decision{Action: "fix-flag"}
				d.Add("exception", remediate.VerdictSkip, "exception EX-1 covers the resource")
				return d, nil
			}
			return approve(ctx, f)
		})
	})
	msg := remediate.Message{ID: "m1", Body: []byte("f1"), ReceiveCount: 1}
	if _, err := eng.Process(context.Background(), msg); err == nil {
		t.Fatal("first delivery: want a transient error")
	}
	excepted.Store(true)
	msg.ReceiveCount = 2
	rec, err := eng.Process(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome != string(remediate.OutcomeSkipped) || rec.Evidence.EarlierAttempt == "" || string(rec.Evidence.Before) != `{"Flag":false}` ||
		!slices.Contains(rec.Evidence.RequestIDs, "req-apply-1") {
		t.Errorf("retry: outcome %s, evidence %+v; want skipped, carrying the interrupted change", rec.Outcome, rec.Evidence)
	}
}

// TestDeadLetterOfUnauthenticatedBody: when the last delivery fails
// because the body could not be authenticated, the dead-lettered record
// (which goes to review) names no finding: the body's claims are not
// trusted.
func TestDeadLetterOfUnauthenticatedBody(t *testing.T) {
	s := newSetup(t, func(o *remediate.Options, _ *fakeRemediator) {
		o.MaxReceiveCount = 1
		o.Authenticator = remediate.AuthenticatorFunc(func(context.Context, []byte) error {
			return errors.New("fetch signing certificate: connection refused")
		})
	})
	if _, err := s.engine.Process(context.Background(), remediate.Message{ID: "m1", Body: []byte("f1"), ReceiveCount: 1}); err == nil {
		t.Fatal("want a transient error")
	}
	if s.audit.len() != 1 {
		t.Fatalf("%d audit records, want the dead-lettered one", s.audit.len())
	}
	if rec := s.audit.recs[0]; rec.Outcome != string(remediate.OutcomeDeadLettered) || rec.Finding.ID != "" || rec.Resource.ID != "" {
		t.Errorf("dead-lettered record: outcome %q, finding %q, resource %q; want no finding details", rec.Outcome, rec.Finding.ID, rec.Resource.ID)
	}
}

// clientCounter builds a "client" in each of Plan, Apply and Verify.
type clientCounter struct {
	fakeRemediator
	builds atomic.Int32
}

func (r *clientCounter) client(t remediate.Target) *int {
	return remediate.Client(t, "test", func() *int { r.builds.Add(1); return new(int) })
}

func (r *clientCounter) Plan(ctx context.Context, t remediate.Target) (remediate.Plan, error) {
	r.client(t)
	return r.fakeRemediator.Plan(ctx, t)
}

func (r *clientCounter) Apply(ctx context.Context, t remediate.Target, p remediate.Plan) (remediate.Result, error) {
	r.client(t)
	return r.fakeRemediator.Apply(ctx, t, p)
}

func (r *clientCounter) Verify(ctx context.Context, t remediate.Target, p remediate.Plan) error {
	r.client(t)
	return nil
}

// TestClientBuiltOncePerFinding: the stages of one finding share the
// client remediate.Client builds; another finding gets its own; a Target
// made outside the engine builds every time.
func TestClientBuiltOncePerFinding(t *testing.T) {
	rem := &clientCounter{fakeRemediator: *newFake()}
	eng := applyEngine(t, rem)
	for i, body := range []string{"f1", "f2"} {
		rec, err := eng.Process(context.Background(), remediate.Message{ID: body, Body: []byte(body)})
		if err != nil || rec.Outcome != string(remediate.OutcomeApplied) {
			t.Fatalf("%s: %v, %v", body, rec, err)
		}
		if got := rem.builds.Load(); got != int32(i+1) {
			t.Errorf("after %d findings: %d clients built, want %d", i+1, got, i+1)
		}
	}
	rem.client(remediate.Target{})
	rem.client(remediate.Target{})
	if got := rem.builds.Load(); got != 4 {
		t.Errorf("%d clients built, want 4: a Target made outside the engine shares nothing", got)
	}
}
