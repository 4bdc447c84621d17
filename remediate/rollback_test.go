package remediate_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/remediate"
)

// flagResource is a stateful test double of our own interfaces: one
// resource whose Flag Apply turns on and Rollback restores.
type flagResource struct {
	mu          sync.Mutex
	flag        bool
	other       string // a field no fix touches, for drift
	rollbacks   int
	rollbackErr error
	rollbackNop bool // Rollback succeeds without restoring
	planErr     error
	planCalls   int
}

type flagState struct {
	Flag  bool   `json:"flag"`
	Other string `json:"other,omitempty"`
}

func (r *flagResource) Spec() remediate.Spec {
	return remediate.Spec{
		Action: "fix-flag", ResourceTypes: []string{"bucket"}, IAMActions: []string{"s3:PutFlag"},
		Resources: map[string][]string{"bucket": {"arn:{partition}:s3:::*"}},
	}
}

func (r *flagResource) state() json.RawMessage {
	b, _ := json.Marshal(flagState{Flag: r.flag, Other: r.other})
	return b
}

func (r *flagResource) Plan(ctx context.Context, t remediate.Target) (remediate.Plan, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.planCalls++
	if r.planErr != nil {
		return remediate.Plan{}, r.planErr
	}
	p := remediate.Plan{Compliant: r.flag, Before: r.state(), Rollback: r.state()}
	if p.Compliant {
		p.After = p.Before
		return p, nil
	}
	b, _ := json.Marshal(flagState{Flag: true, Other: r.other})
	p.After, p.Changes = b, []string{"set flag from false to true"}
	return p, nil
}

func (r *flagResource) Apply(ctx context.Context, t remediate.Target, p remediate.Plan) (remediate.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	prior := r.state()
	r.flag = true
	return remediate.Result{After: r.state(), Rollback: prior}, nil
}

func (r *flagResource) Verify(ctx context.Context, t remediate.Target, p remediate.Plan) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.flag {
		return errors.New("flag is off")
	}
	return nil
}

func (r *flagResource) Rollback(ctx context.Context, t remediate.Target, data json.RawMessage) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rollbacks++
	if r.rollbackErr != nil {
		return r.rollbackErr
	}
	var s flagState
	if err := json.Unmarshal(data, &s); err != nil {
		return remediate.Permanentf("rollback data: %w", err)
	}
	if !r.rollbackNop {
		r.flag = s.Flag
	}
	return nil
}

// noRollback hides flagResource's Rollback.
type noRollback struct{ r *flagResource }

func (n noRollback) Spec() remediate.Spec { return n.r.Spec() }
func (n noRollback) Plan(ctx context.Context, t remediate.Target) (remediate.Plan, error) {
	return n.r.Plan(ctx, t)
}
func (n noRollback) Apply(ctx context.Context, t remediate.Target, p remediate.Plan) (remediate.Result, error) {
	return n.r.Apply(ctx, t, p)
}

// rollbackSetup applies the fix of a finding with a flagResource and
// returns the applied record and an engine to roll it back with.
type rollbackSetup struct {
	res           *flagResource
	fixed         *audit.Record
	audit, review *recorder
	engine        *remediate.Engine
	seen          []*remediate.Finding // findings the credential source was asked for
	specs         []string
}

func newRollbackSetup(t *testing.T, mode remediate.Mode, rem func(*flagResource) remediate.Remediator) *rollbackSetup {
	t.Helper()
	s := &rollbackSetup{res: &flagResource{other: "x"}, audit: &recorder{}, review: &recorder{}}
	if rem == nil {
		rem = func(r *flagResource) remediate.Remediator { return r }
	}
	reg, err := remediate.NewRegistry(rem(s.res))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	creds := credsFunc(func(ctx context.Context, f *remediate.Finding, sp remediate.Spec) (aws.Config, error) {
		mu.Lock()
		defer mu.Unlock()
		s.seen = append(s.seen, f)
		s.specs = append(s.specs, sp.Action)
		return aws.Config{Region: f.Resource.Region}, nil
	})
	o := remediate.Options{
		Parser: remediate.ParserFunc(parse), Policy: remediate.PolicyFunc(approve), Registry: reg,
		Credentials: creds, Audit: s.audit, Review: s.review, Mode: remediate.ModeApply,
	}
	fixer, err := remediate.NewEngine(o)
	if err != nil {
		t.Fatal(err)
	}
	// Records that cannot be rolled back are made from this one.
	if s.fixed, err = fixer.Process(context.Background(), remediate.Message{ID: "m1", Body: []byte("f1")}); err != nil {
		t.Fatal(err)
	}
	if _, ok := rem(s.res).(remediate.Rollbacker); ok && s.fixed.Outcome != string(remediate.OutcomeApplied) {
		t.Fatalf("fix: outcome %q (%s), want applied", s.fixed.Outcome, s.fixed.FailureReason)
	}
	s.audit.recs, s.review.recs, s.seen, s.specs = nil, nil, nil, nil
	o.Mode = mode
	o.NewID = func() string { return "rb-1" }
	if s.engine, err = remediate.NewEngine(o); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestEngineRollback: Engine.Rollback restores the prior state of an
// applied record through the credential source with the remediator's
// Spec, and records it linked to the original; it refuses (review,
// nothing changed) records that are not applied changes and resources
// that changed since; a rollback that fails or does not read back as the
// prior state is failed.
func TestEngineRollback(t *testing.T) {
	type want struct {
		Outcome   string
		Reason    string // substring of FailureReason
		Rollbacks int
		Flag      bool // the resource's flag afterwards
		Review    bool // routed to review
		Changes   []string
	}
	tests := []struct {
		name   string
		dryRun bool
		rem    func(*flagResource) remediate.Remediator
		before func(s *rollbackSetup, rec *audit.Record) // edits the record or the resource
		want   want
	}{
		{name: "clean", want: want{Outcome: "rolled-back", Rollbacks: 1, Flag: false, Changes: []string{"flag: true → false"}}},
		{name: "dry run", dryRun: true,
			want: want{Outcome: "planned", Flag: true, Changes: []string{"flag: true → false"}}},
		{name: "resource changed since", before: func(s *rollbackSetup, _ *audit.Record) { s.res.other = "changed by someone" },
			want: want{Outcome: "review", Reason: "changed since record REC fixed it", Flag: true, Review: true,
				Changes: []string{`other: "x" → "changed by someone"`}}},
		{name: "fix undone by hand", before: func(s *rollbackSetup, _ *audit.Record) { s.res.flag = false },
			want: want{Outcome: "review", Reason: "live state is not the state the fix left", Flag: false, Review: true, Changes: []string{"flag: true → false"}}},
		{name: "not applied", before: func(_ *rollbackSetup, r *audit.Record) { r.Outcome = "compliant" },
			want: want{Outcome: "review", Reason: `has outcome "compliant"`, Flag: true, Review: true}},
		{name: "rolled-back record", before: func(_ *rollbackSetup, r *audit.Record) { r.Outcome = "rolled-back" },
			want: want{Outcome: "review", Reason: `has outcome "rolled-back"`, Flag: true, Review: true}},
		{name: "no rollback data", before: func(_ *rollbackSetup, r *audit.Record) { r.Evidence.Rollback = nil },
			want: want{Outcome: "review", Reason: "no rollback data", Flag: true, Review: true}},
		{name: "no state after", before: func(_ *rollbackSetup, r *audit.Record) { r.Evidence.After = nil },
			want: want{Outcome: "review", Reason: "no valid state after the fix", Flag: true, Review: true}},
		{name: "resource type not the remediator's", before: func(_ *rollbackSetup, r *audit.Record) { r.Resource.Type = "securityGroup" },
			want: want{Outcome: "review", Reason: `not "securityGroup"`, Flag: true, Review: true}},
		{name: "no Rollbacker", rem: func(r *flagResource) remediate.Remediator { return noRollback{r} },
			before: func(s *rollbackSetup, r *audit.Record) {
				r.Outcome = "applied"
				r.Evidence.Rollback = json.RawMessage(`{"flag":false}`)
			},
			want: want{Outcome: "review", Reason: "implements no Rollbacker", Flag: true, Review: true}},
		{name: "rollback fails", before: func(s *rollbackSetup, _ *audit.Record) { s.res.rollbackErr = remediate.Permanentf("AccessDenied") },
			want: want{Outcome: "failed", Reason: "may have been restored in part", Rollbacks: 1, Flag: true, Review: true, Changes: []string{"flag: true → false"}}},
		{name: "rollback does not read back", before: func(s *rollbackSetup, _ *audit.Record) { s.res.rollbackNop = true },
			want: want{Outcome: "failed", Reason: "live state is not the state before the fix", Rollbacks: 1, Flag: true, Review: true, Changes: []string{"flag: true → false"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mode := remediate.ModeApply
			if tt.dryRun {
				mode = remediate.ModeDryRun
			}
			s := newRollbackSetup(t, mode, tt.rem)
			orig := *s.fixed
			if tt.before != nil {
				tt.before(s, &orig)
			}
			rec, err := s.engine.Rollback(context.Background(), &orig)
			if err != nil {
				t.Fatal(err)
			}
			wantReason := strings.ReplaceAll(tt.want.Reason, "REC", orig.ID)
			got := want{Outcome: rec.Outcome, Reason: wantReason, Rollbacks: s.res.rollbacks, Flag: s.res.flag, Review: s.review.len() == 1, Changes: rec.Evidence.Changes}
			if !strings.Contains(rec.FailureReason, wantReason) {
				got.Reason = rec.FailureReason
			}
			w := tt.want
			w.Reason = wantReason
			if diff := cmp.Diff(w, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if rec.RollbackOf != orig.ID || rec.Decision != remediate.DecisionRollback || rec.ID != "rb-1" || rec.Action != "fix-flag" {
				t.Errorf("record id %q, rollback_of %q, decision %q, action %q; want rb-1 linked to %q, rollback, fix-flag", rec.ID, rec.RollbackOf, rec.Decision, rec.Action, orig.ID)
			}
			if s.audit.len() != 1 || s.audit.recs[0] != rec {
				t.Errorf("%d audit records, want the rollback's", s.audit.len())
			}
		})
	}
}

// TestEngineRollbackTarget: the rollback acts on the finding the record
// names — account, region, resource id (as ARN), type — through the
// credential source with the remediator's Spec.
func TestEngineRollbackTarget(t *testing.T) {
	s := newRollbackSetup(t, remediate.ModeApply, nil)
	if _, err := s.engine.Rollback(context.Background(), s.fixed); err != nil {
		t.Fatal(err)
	}
	if len(s.seen) != 1 {
		t.Fatalf("credential source called %d times, want once", len(s.seen))
	}
	f := s.seen[0]
	got := []string{f.ID, f.Resource.ID, f.Resource.ARN, f.Resource.Type, f.Resource.Account, f.Resource.Region, s.specs[0]}
	want := []string{"f1", "arn:aws:s3:::b-f1", "arn:aws:s3:::b-f1", "bucket", "111111111111", "us-east-1", "fix-flag"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("finding and spec the credentials were asked for (-want +got):\n%s", diff)
	}
}

// TestEngineRollbackErrors: a transient failure before any change returns
// an error and records nothing; decide-only mode cannot roll back.
func TestEngineRollbackErrors(t *testing.T) {
	s := newRollbackSetup(t, remediate.ModeApply, nil)
	s.res.planErr = errors.New("connection reset")
	rec, err := s.engine.Rollback(context.Background(), s.fixed)
	if err == nil || !strings.Contains(err.Error(), "nothing was changed; try again") || rec != nil {
		t.Errorf("transient read: record %v, error %v; want no record and a retryable error", rec, err)
	}
	if s.audit.len() != 0 || s.res.rollbacks != 0 {
		t.Errorf("transient read: %d records, %d rollbacks; want none", s.audit.len(), s.res.rollbacks)
	}

	d := newRollbackSetup(t, remediate.ModeDecideOnly, nil)
	if _, err := d.engine.Rollback(context.Background(), d.fixed); err == nil || !strings.Contains(err.Error(), "decide-only") {
		t.Errorf("decide-only: error %v, want one naming the mode", err)
	}
	if _, err := s.engine.Rollback(context.Background(), nil); err == nil {
		t.Error("nil record: no error")
	}
}

func TestStateDiff(t *testing.T) {
	tests := []struct {
		name     string
		from, to string
		want     []string
	}{
		{"same", `{"a":1,"b":[1,2]}`, `{"b":[1,2],"a":1}`, nil},
		{"changed field", `{"a":true,"b":"x"}`, `{"a":false,"b":"x"}`, []string{"a: true → false"}},
		{"nested and added", `{"a":{"b":1}}`, `{"a":{"b":2},"c":"new"}`, []string{"a.b: 1 → 2", `c: (absent) → "new"`}},
		{"array element removed", `{"r":[{"p":22},{"p":80}]}`, `{"r":[{"p":22}]}`, []string{"r[1].p: 80 → (absent)"}},
		{"null and empty are absent", `{"r":null,"o":{}}`, `{"r":[]}`, nil},
		{"scalar", `1`, `2`, []string{"(value): 1 → 2"}},
		{"not JSON", `{`, `{"a":1}`, []string{`{ → {"a":1}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := remediate.StateDiff(json.RawMessage(tt.from), json.RawMessage(tt.to))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("StateDiff(%s, %s) (-want +got):\n%s", tt.from, tt.to, diff)
			}
		})
	}
}
