package remediate_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/remediate"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// TestPlanHash: the hash is the same for the same plan however its JSON
// is spelt, and differs when any part of the target or the plan does.
func TestPlanHash(t *testing.T) {
	f := &remediate.Finding{Resource: remediate.Resource{ID: "arn:aws:s3:::b", Type: "bucket", Account: "111111111111", Region: "us-east-1"}}
	p := remediate.Plan{Before: json.RawMessage(`{"a":false,"b":[1,2]}`), After: json.RawMessage(`{"a":true,"b":[1,2]}`), Changes: []string{"set a", "keep b"}}
	h := remediate.PlanHash(f, "fix", p)
	if !strings.HasPrefix(h, "sha256:") || len(h) != len("sha256:")+64 {
		t.Fatalf("PlanHash = %q, want sha256: and 64 hex digits", h)
	}
	same := p
	same.Before = json.RawMessage(" {\"b\": [1, 2],\n \"a\": false} ")
	same.Data, same.Rollback = "ignored", json.RawMessage(`{"x":1}`)
	if got := remediate.PlanHash(f, "fix", same); got != h {
		t.Errorf("respelt JSON, data and rollback changed the hash")
	}
	variants := map[string]func() (*remediate.Finding, string, remediate.Plan){
		"account": func() (*remediate.Finding, string, remediate.Plan) {
			g := *f
			g.Resource.Account = "222222222222"
			return &g, "fix", p
		},
		"region": func() (*remediate.Finding, string, remediate.Plan) {
			g := *f
			g.Resource.Region = "eu-west-1"
			return &g, "fix", p
		},
		"resource": func() (*remediate.Finding, string, remediate.Plan) {
			g := *f
			g.Resource.ID = "arn:aws:s3:::c"
			return &g, "fix", p
		},
		"action": func() (*remediate.Finding, string, remediate.Plan) { return f, "fix2", p },
		"before": func() (*remediate.Finding, string, remediate.Plan) {
			q := p
			q.Before = json.RawMessage(`{"a":false,"b":[2,1]}`)
			return f, "fix", q
		},
		"after": func() (*remediate.Finding, string, remediate.Plan) {
			q := p
			q.After = json.RawMessage(`{"a":true,"b":[1,2],"c":null}`)
			return f, "fix", q
		},
		"changes order": func() (*remediate.Finding, string, remediate.Plan) {
			q := p
			q.Changes = []string{"keep b", "set a"}
			return f, "fix", q
		},
		"changes split": func() (*remediate.Finding, string, remediate.Plan) {
			q := p
			q.Changes = []string{"set a|keep b"}
			return f, "fix", q
		},
		"invalid JSON": func() (*remediate.Finding, string, remediate.Plan) {
			q := p
			q.After = json.RawMessage(`{"a":true,"b":[1,2]`)
			return f, "fix", q
		},
	}
	for name, v := range variants {
		if got := remediate.PlanHash(v()); got == h {
			t.Errorf("%s: the hash did not change", name)
		}
	}
}

// TestApprovalSignature: an approval verifies under its key after a JSON
// round trip (in any time zone), and not under another key or with any
// signed field changed.
func TestApprovalSignature(t *testing.T) {
	exp := time.Date(2026, 12, 6, 8, 0, 0, 123, time.FixedZone("CET", 3600))
	a := remediate.Approval{RequestID: "apr-1", Approver: "alice", PlanHash: "sha256:00", Expires: exp}.Sign(testKey)
	if err := a.Verify(testKey); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	body, err := remediate.ApprovalMessage(a)
	if err != nil {
		t.Fatal(err)
	}
	b, ok, err := remediate.ParseApprovalMessage(body)
	if !ok || err != nil {
		t.Fatalf("ParseApprovalMessage(%s) = %v, %v", body, ok, err)
	}
	if err := b.Verify(testKey); err != nil {
		t.Errorf("Verify after a JSON round trip: %v", err)
	}
	if err := a.Verify([]byte("another key, another key, another")); !errors.Is(err, remediate.ErrApprovalForged) {
		t.Errorf("Verify under another key: %v, want ErrApprovalForged", err)
	}
	for name, change := range map[string]func(*remediate.Approval){
		"request":   func(a *remediate.Approval) { a.RequestID = "apr-2" },
		"approver":  func(a *remediate.Approval) { a.Approver = "mallory" },
		"plan":      func(a *remediate.Approval) { a.PlanHash = "sha256:01" },
		"expires":   func(a *remediate.Approval) { a.Expires = a.Expires.Add(time.Hour) },
		"signature": func(a *remediate.Approval) { a.Signature = "zz" },
		"fields run together": func(a *remediate.Approval) {
			a.RequestID, a.Approver = "apr-1a", "lice"
		},
	} {
		c := a
		change(&c)
		if err := c.Verify(testKey); !errors.Is(err, remediate.ErrApprovalForged) {
			t.Errorf("%s changed: Verify = %v, want ErrApprovalForged", name, err)
		}
	}
}

// TestParseApprovalMessage: only a JSON object whose one key is
// remedy_approval is an approval message; one with missing or unknown
// fields is an approval message that cannot be read.
func TestParseApprovalMessage(t *testing.T) {
	for _, body := range []string{
		`{"trigger":{"source":"ISSUES"},"issue":{"id":"remedy_approval"}}`,
		`{"Type":"Notification","Message":"{\"remedy_approval\":{}}"}`,
		`{"remedy_approval":{},"issue":{}}`,
		`not json "remedy_approval"`,
		``,
	} {
		if _, ok, _ := remediate.ParseApprovalMessage([]byte(body)); ok {
			t.Errorf("%s: read as an approval message", body)
		}
	}
	for body, want := range map[string]string{
		`{"remedy_approval":{"request_id":"apr-1"}}`: "missing approver, plan_hash, signature, expires",
		`{"remedy_approval":{"request_id":"apr-1","approver":"a","plan_hash":"h","expires":"2026-12-06T08:00:00Z","signature":"s","x":1}}`: `unknown field "x"`,
		`{"remedy_approval":"yes"}`: "cannot unmarshal",
	} {
		_, ok, err := remediate.ParseApprovalMessage([]byte(body))
		if !ok || err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: ok %v err %v, want an approval message with an error containing %q", body, ok, err, want)
		}
	}
}

// TestMemoryApprovals: Put is idempotent for one plan, Consume succeeds
// once per token.
func TestMemoryApprovals(t *testing.T) {
	ctx := context.Background()
	s := remediate.NewMemoryApprovals()
	r := &remediate.ApprovalRequest{ID: "apr-1", PlanHash: "h1", Expires: time.Now().Add(time.Hour)}
	if err := s.Put(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, r); err != nil {
		t.Errorf("Put again: %v", err)
	}
	if err := s.Put(ctx, &remediate.ApprovalRequest{ID: "apr-1", PlanHash: "h2"}); err == nil {
		t.Error("Put of another plan under the id succeeded")
	}
	c := remediate.ApprovalConsumption{Token: "t1", Approver: "alice"}
	if err := s.Consume(ctx, "apr-1", c); err != nil {
		t.Fatal(err)
	}
	if err := s.Consume(ctx, "apr-1", c); err != nil {
		t.Errorf("Consume by the same token: %v", err)
	}
	if err := s.Consume(ctx, "apr-1", remediate.ApprovalConsumption{Token: "t2"}); !errors.Is(err, remediate.ErrApprovalConsumed) {
		t.Errorf("Consume by another token: %v", err)
	}
	if _, err := s.Get(ctx, "apr-2"); !errors.Is(err, remediate.ErrApprovalNotFound) {
		t.Errorf("Get unknown: %v", err)
	}
}

// approvalSetup is an engine whose policy requires approval, over a
// flagResource, with memory stores.
type approvalSetup struct {
	res       *flagResource
	audit     *recorder
	approvals *remediate.MemoryApprovals
	idem      *remediate.MemoryIdempotency
	engine    *remediate.Engine
	approves  atomic.Bool // the policy still approves
	applyFail atomic.Int32
	now       atomic.Int64 // the engine's clock, if set
	concern   atomic.Bool  // enrichment finds the finding ambiguous
}

// failingApply makes Apply change the flag and then fail transiently,
// as a lost response does, n times.
type failingApply struct {
	*flagResource
	s *approvalSetup
}

func (f failingApply) Apply(ctx context.Context, t remediate.Target, p remediate.Plan) (remediate.Result, error) {
	res, err := f.flagResource.Apply(ctx, t, p)
	if f.s.applyFail.Add(-1) >= 0 {
		return remediate.Result{}, errors.New("connection reset after the request was sent")
	}
	return res, err
}

func newApprovalSetup(t *testing.T, mode remediate.Mode, withStore bool) *approvalSetup {
	t.Helper()
	s := &approvalSetup{res: &flagResource{other: "x"}, audit: &recorder{}, approvals: remediate.NewMemoryApprovals(), idem: remediate.NewMemoryIdempotency()}
	s.approves.Store(true)
	reg, err := remediate.NewRegistry(failingApply{s.res, s})
	if err != nil {
		t.Fatal(err)
	}
	o := remediate.Options{
		Parser: remediate.ParserFunc(parse),
		Policy: remediate.PolicyFunc(func(ctx context.Context, f *remediate.Finding) (remediate.Decision, error) {
			if !s.approves.Load() {
				var d remediate.Decision
				d.Add("exception", remediate.VerdictSkip, "an exception now covers the resource")
				return d, nil
			}
			return remediate.Decision{Verdict: remediate.VerdictRemediate, Action: "fix-flag", ApprovalRequired: true}, nil
		}),
		Registry: reg, Credentials: credsFunc(okCreds), Audit: s.audit, Mode: mode, Idempotency: s.idem,
		Enricher: remediate.EnricherFunc(func(ctx context.Context, f *remediate.Finding) error {
			if s.concern.Load() {
				f.AddConcern("resource.tags", "two sources disagree on the environment")
			}
			return nil
		}),
		Now: func() time.Time {
			if n := s.now.Load(); n != 0 {
				return time.Unix(0, n)
			}
			return time.Now()
		},
	}
	if withStore {
		o.Approvals, o.ApprovalKey = s.approvals, remediate.StaticApprovalKey(testKey)
	}
	if s.engine, err = remediate.NewEngine(o); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *approvalSetup) approval(t *testing.T, rec *audit.Record, approver string) []byte {
	t.Helper()
	b, err := remediate.ApprovalMessage(remediate.Approval{RequestID: rec.Approval.RequestID, Approver: approver, PlanHash: rec.Approval.PlanHash, Expires: time.Now().Add(time.Hour)}.Sign(testKey))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestApprovalPathModes: without an approval store a finding that needs
// approval goes to review, saying why; decide-only says it would ask;
// dry-run plans and stores no request; Approvals without a key is a
// configuration error.
func TestApprovalPathModes(t *testing.T) {
	ctx := context.Background()
	s := newApprovalSetup(t, remediate.ModeApply, false)
	rec, err := s.engine.Process(ctx, remediate.Message{ID: "m1", Body: []byte("f1")})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome != "review" || !strings.Contains(rec.FailureReason, "no approval store") || rec.Approval != nil || s.res.flag {
		t.Errorf("without a store: outcome %q (%s) approval %+v flag %v, want review naming the missing store", rec.Outcome, rec.FailureReason, rec.Approval, s.res.flag)
	}
	s = newApprovalSetup(t, remediate.ModeDecideOnly, true)
	if rec, _ = s.engine.Process(ctx, remediate.Message{ID: "m1", Body: []byte("f1")}); rec.Outcome != "planned" || !strings.Contains(rec.Evidence.Changes[0], "would ask for approval") {
		t.Errorf("decide-only: outcome %q changes %q, want planned, asking for approval", rec.Outcome, rec.Evidence.Changes)
	}
	s = newApprovalSetup(t, remediate.ModeDryRun, true)
	if rec, _ = s.engine.Process(ctx, remediate.Message{ID: "m1", Body: []byte("f1")}); rec.Outcome != "planned" || rec.Approval != nil {
		t.Errorf("dry-run: outcome %q approval %+v, want planned and no request", rec.Outcome, rec.Approval)
	}
	_, err = remediate.NewEngine(remediate.Options{
		Parser: remediate.ParserFunc(parse), Policy: remediate.PolicyFunc(approve), Registry: mustRegistry(t, s.res),
		Credentials: credsFunc(okCreds), Audit: s.audit, Approvals: s.approvals,
	})
	if err == nil || !strings.Contains(err.Error(), "Options.ApprovalKey is nil") {
		t.Errorf("NewEngine with Approvals and no key: %v", err)
	}
}

// TestApprovalPolicyChanged: an authentic approval of a finding the
// policy no longer approves, or that enrichment now finds ambiguous,
// changes nothing and goes to review.
func TestApprovalPolicyChanged(t *testing.T) {
	ctx := context.Background()
	s := newApprovalSetup(t, remediate.ModeApply, true)
	req, err := s.engine.Process(ctx, remediate.Message{ID: "m1", Body: []byte("f1")})
	if err != nil || req.Approval == nil {
		t.Fatalf("finding: %+v, %v", req, err)
	}
	s.approves.Store(false)
	rec, err := s.engine.Process(ctx, remediate.Message{ID: "m2", Body: s.approval(t, req, "alice")})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome != "review" || rec.Approval.Status != remediate.ApprovalNotApplied || s.res.flag {
		t.Errorf("outcome %q approval %+v flag %v (%s), want review, not-applied, nothing changed", rec.Outcome, rec.Approval, s.res.flag, rec.FailureReason)
	}

	// Enrichment that now finds the finding ambiguous stops it too.
	s = newApprovalSetup(t, remediate.ModeApply, true)
	if req, err = s.engine.Process(ctx, remediate.Message{ID: "m1", Body: []byte("f1")}); err != nil || req.Approval == nil {
		t.Fatalf("finding: %+v, %v", req, err)
	}
	s.concern.Store(true)
	if rec, err = s.engine.Process(ctx, remediate.Message{ID: "m2", Body: s.approval(t, req, "alice")}); err != nil {
		t.Fatal(err)
	}
	if rec.Outcome != "review" || rec.Approval.Status != remediate.ApprovalNotApplied || s.res.flag || !strings.Contains(rec.FailureReason, "concern") {
		t.Errorf("ambiguous: outcome %q approval %+v flag %v (%s), want review, not-applied, nothing changed", rec.Outcome, rec.Approval, s.res.flag, rec.FailureReason)
	}
}

// TestApprovalInterruptedApply: an approved Apply whose outcome is
// unknown (a transient failure after the change was sent) keeps its
// intent; a copy of the same approval message (redelivered, or requeued
// by the worker under a new message id) may use its own request again,
// finds the change made and records it as applied by the approver —
// while another message approving the same request is a replay.
func TestApprovalInterruptedApply(t *testing.T) {
	ctx := context.Background()
	s := newApprovalSetup(t, remediate.ModeApply, true)
	req, err := s.engine.Process(ctx, remediate.Message{ID: "m1", Body: []byte("f1")})
	if err != nil || req.Approval == nil {
		t.Fatalf("finding: %+v, %v", req, err)
	}
	body := s.approval(t, req, "alice")
	s.applyFail.Store(1)
	if rec, err := s.engine.Process(ctx, remediate.Message{ID: "m2", Body: body, ReceiveCount: 1}); err == nil {
		t.Fatalf("interrupted apply: record %+v, want a transient error", rec)
	}
	if !s.res.flag {
		t.Fatal("test setup: the interrupted Apply did not change the flag")
	}
	if rec, _ := s.engine.Process(ctx, remediate.Message{ID: "m3", Body: s.approval(t, req, "bob")}); rec == nil || rec.Approval.Status != remediate.ApprovalReplayed {
		t.Errorf("another approval of the request meanwhile: %+v, want replayed", rec)
	}
	// It is a copy the worker requeued (a new message id), after the
	// approval expired: the change it started is recorded all the same.
	s.now.Store(time.Now().Add(2 * time.Hour).UnixNano())
	rec, err := s.engine.Process(ctx, remediate.Message{ID: "m2-requeued", Body: body, ReceiveCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome != "applied" || rec.Approval.Approver != "alice" || rec.Evidence.EarlierAttempt == "" || len(rec.Evidence.Changes) == 0 {
		t.Errorf("redelivery: outcome %q approval %+v earlier %q changes %q, want applied by alice with the earlier attempt's evidence",
			rec.Outcome, rec.Approval, rec.Evidence.EarlierAttempt, rec.Evidence.Changes)
	}
}

// failingApprovals fails Put, as a store that is down does.
type failingApprovals struct {
	remediate.ApprovalStore
	mu   sync.Mutex
	down bool
}

func (f *failingApprovals) Put(ctx context.Context, r *remediate.ApprovalRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errors.New("approval store unavailable")
	}
	return f.ApprovalStore.Put(ctx, r)
}

// TestApprovalStoreDown: when the request cannot be stored, the message
// is retried (a transient error, no record), nothing is changed, and the
// retry stores the request under the same id.
func TestApprovalStoreDown(t *testing.T) {
	ctx := context.Background()
	store := &failingApprovals{ApprovalStore: remediate.NewMemoryApprovals(), down: true}
	res := &flagResource{}
	rec := &recorder{}
	eng, err := remediate.NewEngine(remediate.Options{
		Parser: remediate.ParserFunc(parse),
		Policy: remediate.PolicyFunc(func(context.Context, *remediate.Finding) (remediate.Decision, error) {
			return remediate.Decision{Verdict: remediate.VerdictRemediate, Action: "fix-flag", ApprovalRequired: true}, nil
		}),
		Registry: mustRegistry(t, res), Credentials: credsFunc(okCreds), Audit: rec, Mode: remediate.ModeApply,
		Approvals: store, ApprovalKey: remediate.StaticApprovalKey(testKey),
	})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := eng.Process(ctx, remediate.Message{ID: "m1", Body: []byte("f1")}); err == nil || !remediate.IsTransient(err) {
		t.Fatalf("store down: %+v, %v; want a transient error", r, err)
	}
	if rec.len() != 0 || res.flag {
		t.Fatalf("store down: %d records, flag %v; want none and no change", rec.len(), res.flag)
	}
	store.down = false
	first, err := eng.Process(ctx, remediate.Message{ID: "m1", Body: []byte("f1")})
	if err != nil || first.Approval == nil {
		t.Fatalf("retry: %+v, %v", first, err)
	}
	if _, err := store.Get(ctx, first.Approval.RequestID); err != nil {
		t.Errorf("the request of the retry is not stored: %v", err)
	}
}

func mustRegistry(t *testing.T, rems ...remediate.Remediator) *remediate.Registry {
	t.Helper()
	reg, err := remediate.NewRegistry(rems...)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestApprovalAuditDown: when the audit write of an applied approval
// fails, the message is not acknowledged, and its redelivery writes the
// record kept with the claim — the same record, naming the approver and
// the change — rather than finding the resource compliant or the request
// replayed.
func TestApprovalAuditDown(t *testing.T) {
	ctx := context.Background()
	s := newApprovalSetup(t, remediate.ModeApply, true)
	req, err := s.engine.Process(ctx, remediate.Message{ID: "m1", Body: []byte("f1")})
	if err != nil || req.Approval == nil {
		t.Fatalf("finding: %+v, %v", req, err)
	}
	body := s.approval(t, req, "alice")
	s.audit.mu.Lock()
	s.audit.err = errors.New("audit table unavailable")
	s.audit.mu.Unlock()
	if rec, err := s.engine.Process(ctx, remediate.Message{ID: "m2", Body: body, ReceiveCount: 1}); err == nil {
		t.Fatalf("audit down: %+v, want an error (not acknowledged)", rec)
	}
	if !s.res.flag {
		t.Fatal("test setup: the approved change was not made")
	}
	s.audit.mu.Lock()
	s.audit.err = nil
	s.audit.mu.Unlock()
	rec, err := s.engine.Process(ctx, remediate.Message{ID: "m2", Body: body, ReceiveCount: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome != "applied" || rec.Approval.Approver != "alice" || rec.Approval.Status != remediate.ApprovalGranted || len(rec.Evidence.Changes) == 0 {
		t.Errorf("redelivery: outcome %q approval %+v changes %q, want the kept applied record naming alice", rec.Outcome, rec.Approval, rec.Evidence.Changes)
	}
	if rec.Correlation.ReceiveCount != 1 {
		t.Errorf("redelivery wrote a record of receive %d, want the one first tried (receive 1), byte for byte", rec.Correlation.ReceiveCount)
	}
	if s.audit.len() != 2 { // the request's record and this one
		t.Errorf("%d audit records, want 2", s.audit.len())
	}
	if dup, err := s.engine.Process(ctx, remediate.Message{ID: "m2", Body: body, ReceiveCount: 3}); err != nil || dup == nil || dup.Approval.Status != remediate.ApprovalReplayed {
		t.Errorf("third delivery: %+v, %v; want rejected as replayed", dup, err)
	}
}

// BenchmarkParseApprovalMessage measures what recognising approval
// messages adds to every finding: a Wiz body is told apart from an
// approval before the parser.
func BenchmarkParseApprovalMessage(b *testing.B) {
	body, err := os.ReadFile("../examples/local/testdata/01-public-bucket-production.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, ok, _ := remediate.ParseApprovalMessage(body); ok {
			b.Fatal("a finding was read as an approval")
		}
	}
}

// FuzzParseApprovalMessage: no body panics the recogniser; one it reads
// as an approval has every field, survives a re-encoding, and verifies
// after it exactly when it verified before.
func FuzzParseApprovalMessage(f *testing.F) {
	signed, _ := remediate.ApprovalMessage(remediate.Approval{RequestID: "apr-1", Approver: "alice", PlanHash: "sha256:00", Expires: time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)}.Sign(testKey))
	for _, s := range []string{string(signed), `{"remedy_approval":{}}`, ` { "remedy_approval" : null }`, `{"issue":{"id":"x"}}`, `{"remedy_approval":{"expires":"x"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		a, ok, err := remediate.ParseApprovalMessage(body)
		if !ok || err != nil {
			return
		}
		if a.RequestID == "" || a.Approver == "" || a.PlanHash == "" || a.Signature == "" || a.Expires.IsZero() {
			t.Fatalf("accepted an approval with a field missing: %+v", a)
		}
		again, err := remediate.ApprovalMessage(a)
		if err != nil {
			t.Fatal(err)
		}
		b, ok, err := remediate.ParseApprovalMessage(again)
		if !ok || err != nil {
			t.Fatalf("re-encoded approval not read: %v, %v", ok, err)
		}
		if (a.Verify(testKey) == nil) != (b.Verify(testKey) == nil) {
			t.Fatalf("verification changed by a re-encoding: %+v vs %+v", a, b)
		}
	})
}
