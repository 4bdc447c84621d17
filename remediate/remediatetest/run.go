package remediatetest

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/remedy-sec/remedy/crossaccount"
	"github.com/remedy-sec/remedy/remediate"
)

// Harness is what Run needs to test a remediator: the remediator, where
// to act, and how to make and inspect resources without it.
type Harness struct {
	// Remediator is the remediator under test. Required.
	Remediator remediate.Remediator
	// AWS acts in the account and region of the resources
	// NewNonCompliant creates. Run passes the remediator a copy whose
	// HTTPClient records every call; the harness functions get AWS as is.
	AWS aws.Config
	// NewNonCompliant creates a fresh resource that violates the control
	// and returns a finding about it, as a parser would build it. It
	// calls t.Fatal if it cannot, and may register t.Cleanup to delete
	// the resource. Run calls it once per sub-test. Required.
	NewNonCompliant func(t *testing.T, cfg aws.Config) *remediate.Finding
	// Compliant reads the resource f is about and reports whether it
	// satisfies the control. It must not use the remediator under test:
	// it is the independent witness of what the remediator did. Required.
	Compliant func(t *testing.T, cfg aws.Config, f *remediate.Finding) bool
	// NewMissing returns a finding about a well-formed resource that does
	// not exist, such as a bucket name nobody created. Required.
	NewMissing func(t *testing.T, cfg aws.Config) *remediate.Finding
	// IAMAction, if set, names the IAM action that authorizes op, for
	// operations whose action is not "service:Name" and that
	// Operation.IAMAction does not know. Returning "" falls back to
	// Operation.IAMAction.
	IAMAction func(op Operation) string
}

// Run runs the conformance suite against h, one sub-test per property
// (see the package documentation). Sub-tests run one after another, each
// on its own fresh resource.
func Run(t *testing.T, h Harness) {
	t.Helper()
	switch {
	case h.Remediator == nil:
		t.Fatal("remediatetest: Harness.Remediator is nil")
	case h.NewNonCompliant == nil:
		t.Fatal("remediatetest: Harness.NewNonCompliant is nil")
	case h.Compliant == nil:
		t.Fatal("remediatetest: Harness.Compliant is nil")
	case h.NewMissing == nil:
		t.Fatal("remediatetest: Harness.NewMissing is nil")
	}
	s := &suite{h: h}
	t.Run("Spec", s.testSpec)
	t.Run("PlanMakesNoWrite", s.testPlanMakesNoWrite)
	t.Run("ApplyMakesCompliant", s.testApplyMakesCompliant)
	t.Run("ApplyIsIdempotent", s.testApplyIsIdempotent)
	t.Run("VerifyDetectsNonCompliance", s.testVerify)
	t.Run("RollbackRestores", s.testRollback)
	t.Run("PermissionsCoverCalls", s.testPermissions)
	t.Run("ErrorsAreClassified", s.testErrors)
}

type suite struct {
	h Harness
}

// target returns a target for a fresh non-compliant resource and the
// recorder that sees the remediator's calls.
func (s *suite) target(t *testing.T) (remediate.Target, *Recorder) {
	t.Helper()
	f := s.h.NewNonCompliant(t, s.h.AWS)
	if f == nil {
		t.Fatal("Harness.NewNonCompliant returned a nil finding")
	}
	if s.h.Compliant(t, s.h.AWS, f) {
		t.Fatalf("Harness.NewNonCompliant made a resource that Harness.Compliant reports compliant: %+v", f.Resource)
	}
	return s.targetFor(t, f)
}

func (s *suite) targetFor(t *testing.T, f *remediate.Finding) (remediate.Target, *Recorder) {
	cfg, rec := Record(s.h.AWS)
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	return remediate.Target{Finding: f, AWS: cfg, Logger: logger}, rec
}

func (s *suite) compliant(t *testing.T, tg remediate.Target) bool {
	t.Helper()
	return s.h.Compliant(t, s.h.AWS, tg.Finding)
}

// plan runs Plan and fails the test on error.
func (s *suite) plan(t *testing.T, tg remediate.Target) remediate.Plan {
	t.Helper()
	p, err := s.h.Remediator.Plan(t.Context(), tg)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	return p
}

func (s *suite) apply(t *testing.T, tg remediate.Target, p remediate.Plan) remediate.Result {
	t.Helper()
	res, err := s.h.Remediator.Apply(t.Context(), tg, p)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return res
}

func (s *suite) testSpec(t *testing.T) {
	sp := s.h.Remediator.Spec()
	if sp.Action == "" {
		t.Error("Spec().Action is empty")
	}
	if sp.Description == "" {
		t.Error("Spec().Description is empty")
	}
	if len(sp.ResourceTypes) == 0 {
		t.Error("Spec().ResourceTypes is empty")
	}
	if len(sp.IAMActions) == 0 {
		t.Error("Spec().IAMActions is empty")
	}
	seen := map[string]bool{}
	for _, a := range sp.IAMActions {
		if !validIAMAction(a) {
			t.Errorf("Spec().IAMActions: %q is not of the form service:Action", a)
		}
		if seen[a] {
			t.Errorf("Spec().IAMActions: %q listed twice", a)
		}
		seen[a] = true
	}
	if _, err := remediate.NewRegistry(s.h.Remediator); err != nil {
		t.Errorf("remediate.NewRegistry: %v", err)
		return
	}
	// The declarations must give a session policy: every action AWS
	// scopes to a resource acts on resources Spec().Resources declares.
	if _, err := crossaccount.SessionPolicy(sp, crossaccount.Scope{Account: "000000000000"}); err != nil {
		t.Errorf("no session policy can be built from the Spec: %v", err)
	}
}

// validIAMAction accepts "service:Action" with no wildcard: a remediator
// declares exactly what it calls.
func validIAMAction(a string) bool {
	svc, act, ok := strings.Cut(a, ":")
	if !ok || svc == "" || act == "" {
		return false
	}
	for _, r := range svc {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	for _, r := range act {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func (s *suite) testPlanMakesNoWrite(t *testing.T) {
	tg, rec := s.target(t)
	p := s.plan(t, tg)
	ops := rec.Operations()
	if len(ops) == 0 {
		t.Fatal("Plan made no AWS call: it must read live state, with SDK clients built from Target.AWS")
	}
	assertReadOnly(t, "Plan", ops)
	if p.Compliant {
		t.Error("Plan.Compliant is true for a non-compliant resource")
	}
	if len(p.Changes) == 0 {
		t.Error("Plan.Changes is empty for a non-compliant resource")
	}
	assertJSON(t, "Plan.Before", p.Before, true)
	assertJSON(t, "Plan.After", p.After, true)
	if bytes.Equal(p.Before, p.After) {
		t.Errorf("Plan.Before and Plan.After are equal (%s) for a non-compliant resource", p.Before)
	}
	if s.compliant(t, tg) {
		t.Error("the resource is compliant after Plan: Plan changed it")
	}
}

func (s *suite) testApplyMakesCompliant(t *testing.T) {
	tg, _ := s.target(t)
	p := s.plan(t, tg)
	res := s.apply(t, tg, p)
	if !s.compliant(t, tg) {
		t.Fatal("the resource is not compliant after Apply")
	}
	assertJSON(t, "Result.After", res.After, true)
	_, isRollbacker := s.h.Remediator.(remediate.Rollbacker)
	assertJSON(t, "Result.Rollback", res.Rollback, isRollbacker)
	if tg.AWS.Credentials == nil {
		return
	}
	creds, err := tg.AWS.Credentials.Retrieve(t.Context())
	if err != nil {
		return
	}
	for _, ev := range []struct {
		name string
		data []byte
	}{{"Plan.Before", p.Before}, {"Plan.After", p.After}, {"Result.After", res.After}, {"Result.Rollback", res.Rollback}} {
		for _, secret := range []string{creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken} {
			if len(secret) >= 8 && bytes.Contains(ev.data, []byte(secret)) {
				t.Errorf("%s holds a credential", ev.name)
			}
		}
	}
}

func (s *suite) testApplyIsIdempotent(t *testing.T) {
	tg, rec := s.target(t)
	p := s.plan(t, tg)
	s.apply(t, tg, p)
	if _, err := s.h.Remediator.Apply(t.Context(), tg, p); err != nil {
		t.Fatalf("second Apply of the same plan: %v", err)
	}
	if !s.compliant(t, tg) {
		t.Fatal("the resource is not compliant after applying twice")
	}
	rec.Reset()
	p2 := s.plan(t, tg)
	assertReadOnly(t, "Plan", rec.Operations())
	if !p2.Compliant {
		t.Errorf("Plan after Apply: Compliant is false; Changes: %q", p2.Changes)
	}
	if len(p2.Changes) != 0 {
		t.Errorf("Plan after Apply: Changes = %q, want none", p2.Changes)
	}
	rec.Reset()
	if _, err := s.h.Remediator.Apply(t.Context(), tg, p2); err != nil {
		t.Fatalf("Apply of a compliant plan: %v", err)
	}
	assertReadOnly(t, "Apply of a compliant plan", rec.Operations())
}

func (s *suite) testVerify(t *testing.T) {
	v, ok := s.h.Remediator.(remediate.Verifier)
	if !ok {
		t.Skipf("%T does not implement remediate.Verifier", s.h.Remediator)
	}
	tg, _ := s.target(t)
	p := s.plan(t, tg)
	if err := v.Verify(t.Context(), tg, p); err == nil {
		t.Error("Verify on a non-compliant resource returned nil")
	}
	s.apply(t, tg, p)
	if err := v.Verify(t.Context(), tg, p); err != nil {
		t.Errorf("Verify after Apply: %v", err)
	}
}

func (s *suite) testRollback(t *testing.T) {
	r, ok := s.h.Remediator.(remediate.Rollbacker)
	if !ok {
		t.Skipf("%T does not implement remediate.Rollbacker", s.h.Remediator)
	}
	tg, _ := s.target(t)
	p := s.plan(t, tg)
	res := s.apply(t, tg, p)
	if !s.compliant(t, tg) {
		t.Fatal("the resource is not compliant after Apply")
	}
	if err := r.Rollback(t.Context(), tg, res.Rollback); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if s.compliant(t, tg) {
		t.Fatal("the resource is still compliant after Rollback")
	}
	if p2 := s.plan(t, tg); p2.Compliant {
		t.Error("Plan after Rollback: Compliant is true")
	}
	if err := r.Rollback(t.Context(), tg, res.Rollback); err != nil {
		t.Errorf("second Rollback: %v", err)
	}
	if s.compliant(t, tg) {
		t.Error("the resource is compliant after a second Rollback")
	}
	if len(p.Rollback) == 0 {
		return
	}
	// Plan.Rollback is what undoes a change interrupted before Apply
	// returned: it must restore as Result.Rollback does.
	assertJSON(t, "Plan.Rollback", p.Rollback, true)
	tg, _ = s.target(t)
	p = s.plan(t, tg)
	s.apply(t, tg, p)
	if err := r.Rollback(t.Context(), tg, p.Rollback); err != nil {
		t.Fatalf("Rollback from Plan.Rollback: %v", err)
	}
	if s.compliant(t, tg) {
		t.Error("the resource is still compliant after Rollback from Plan.Rollback")
	}
}

func (s *suite) testPermissions(t *testing.T) {
	tg, rec := s.target(t)
	p := s.plan(t, tg)
	res := s.apply(t, tg, p)
	if v, ok := s.h.Remediator.(remediate.Verifier); ok {
		if err := v.Verify(t.Context(), tg, p); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	}
	s.plan(t, tg)
	if r, ok := s.h.Remediator.(remediate.Rollbacker); ok {
		if err := r.Rollback(t.Context(), tg, res.Rollback); err != nil {
			t.Fatalf("Rollback: %v", err)
		}
	}
	declared := s.h.Remediator.Spec().IAMActions
	used := map[string]bool{}
	for _, op := range rec.Operations() {
		a := s.iamAction(op)
		if a == "" {
			t.Errorf("cannot tell which IAM action authorizes %s; set Harness.IAMAction", op)
			continue
		}
		used[a] = true
		if !slices.Contains(declared, a) {
			t.Errorf("%s needs %s, which Spec().IAMActions %q does not declare", op, a, declared)
		}
	}
	for _, a := range declared {
		if !used[a] {
			t.Logf("declared %s was not used in this run (it may be needed on another path)", a)
		}
	}
}

func (s *suite) iamAction(op Operation) string {
	if s.h.IAMAction != nil {
		if a := s.h.IAMAction(op); a != "" {
			return a
		}
	}
	return op.IAMAction()
}

func (s *suite) testErrors(t *testing.T) {
	t.Run("MissingResource", func(t *testing.T) {
		f := s.h.NewMissing(t, s.h.AWS)
		if f == nil {
			t.Fatal("Harness.NewMissing returned a nil finding")
		}
		tg, rec := s.targetFor(t, f)
		_, err := s.h.Remediator.Plan(t.Context(), tg)
		if err == nil {
			t.Fatal("Plan for a missing resource returned no error")
		}
		if !remediate.IsPermanent(s.classify(err)) {
			t.Errorf("Plan for a missing resource: error %q is transient; a resource that does not exist is a permanent failure (wrap AWS errors with remediate.ClassifyAWS, or declare the code in Spec().PermanentErrorCodes)", err)
		}
		assertReadOnly(t, "Plan", rec.Operations())
	})
	t.Run("NoResource", func(t *testing.T) {
		tg, rec := s.targetFor(t, &remediate.Finding{ID: "remediatetest-no-resource", Source: "remediatetest"})
		_, err := s.h.Remediator.Plan(t.Context(), tg)
		if err == nil {
			t.Fatal("Plan for a finding that names no resource returned no error")
		}
		if !remediate.IsPermanent(s.classify(err)) {
			t.Errorf("Plan for a finding that names no resource: error %q is transient, want permanent", err)
		}
		if ops := rec.Operations(); len(ops) != 0 {
			t.Errorf("Plan for a finding that names no resource called AWS: %v", ops)
		}
	})
}

// classify classifies err as the engine does the remediator's errors,
// with its default classifier and the codes the Spec declares permanent.
func (s *suite) classify(err error) error { return s.h.Remediator.Spec().Classify(err) }

// assertReadOnly reports every operation in ops that is not a read.
func assertReadOnly(t *testing.T, what string, ops []Operation) {
	t.Helper()
	for _, op := range ops {
		if !op.ReadOnly() {
			t.Errorf("%s called %s, which is not a read (Get*, Describe*, List*, Head*)", what, op)
		}
	}
}

// assertJSON reports data that is not valid JSON, or is empty when
// required.
func assertJSON(t *testing.T, name string, data json.RawMessage, required bool) {
	t.Helper()
	switch {
	case len(data) == 0 && required:
		t.Errorf("%s is empty", name)
	case len(data) != 0 && !json.Valid(data):
		t.Errorf("%s is not valid JSON: %q", name, data)
	}
}
