package eligibility

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/remediate"
)

// sensitivePolicy approves a sensitive action on buckets, in
// development and staging of two accounts and anywhere in a third.
const sensitivePolicy = `
approved_resource_types:
  bucket: [s3-delete-public-objects]
playbooks:
  wc-id-1234: s3-delete-public-objects
  S3-019: s3-delete-public-objects
environment:
  known: [production, staging, development]
  restricted: [restricted-production]
  sources: [tag:Environment]
owner:
  sources: [tag:Owner]
accounts:
  - id: "111111111111"
  - id: "222222222222"
  - id: "333333333333"
sensitive_approved:
  - action: s3-delete-public-objects
    environments: [Development, staging]
    accounts: ["111111111111", "222222222222"]
  - action: s3-delete-public-objects
    accounts: ["333333333333"]
`

// TestSensitiveApproved checks that a decision says a sensitive action
// is approved only where an entry of sensitive_approved covers the
// finding: its action, one of its environments (without case) and one
// of its accounts, each list absent meaning any.
func TestSensitiveApproved(t *testing.T) {
	p := parsePolicy(t, sensitivePolicy)
	tests := []struct {
		name        string
		env         string
		account     string
		control     string
		wantAction  string
		wantVerdict remediate.Verdict
		want        bool
	}{
		{"listed environment and account", "development", "111111111111", "wc-id-1234", "s3-delete-public-objects", remediate.VerdictRemediate, true},
		{"environment compares without case", "Staging", "222222222222", "wc-id-1234", "s3-delete-public-objects", remediate.VerdictRemediate, true},
		{"environment not listed", "production", "111111111111", "wc-id-1234", "s3-delete-public-objects", remediate.VerdictRemediate, false},
		{"an account the first entry does not list, the second does", "development", "333333333333", "wc-id-1234", "s3-delete-public-objects", remediate.VerdictRemediate, true},
		{"entry without environments: any environment of its account", "production", "333333333333", "wc-id-1234", "s3-delete-public-objects", remediate.VerdictRemediate, true},
		{"no playbook: no action to approve", "development", "111111111111", "wc-other", "", remediate.VerdictReview, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := eligible()
			f.Environment, f.Resource.Account, f.Control.ID, f.Control.SourceRuleID = tt.env, tt.account, tt.control, ""
			d, err := p.Decide(context.Background(), f)
			if err != nil {
				t.Fatal(err)
			}
			type result struct {
				Action            string
				Verdict           remediate.Verdict
				SensitiveApproved bool
			}
			want := result{tt.wantAction, tt.wantVerdict, tt.want}
			if diff := cmp.Diff(want, result{d.Action, d.Verdict, d.SensitiveApproved}); diff != "" {
				t.Errorf("decision (-want +got):\n%s\nreasons: %+v", diff, d.Reasons)
			}
		})
	}
	// An account the second entry does not list either.
	f := eligible()
	f.Environment, f.Resource.Account = "production", "222222222222"
	if d, _ := p.Decide(context.Background(), f); d.SensitiveApproved {
		t.Error("production in 222222222222 is approved, but no entry covers it")
	}
	// A policy without the key approves no sensitive action.
	if d, _ := examplePolicy(t).Decide(context.Background(), eligible()); d.SensitiveApproved || !d.Remediates() {
		t.Errorf("example policy: SensitiveApproved %v, Remediates %v; want false, true", d.SensitiveApproved, d.Remediates())
	}
}

func TestSensitiveApprovedLoadErrors(t *testing.T) {
	head := "approved_resource_types:\n  bucket: [s3-delete-public-objects]\nenvironment:\n  known: [development]\n  restricted: [vault]\naccounts:\n  - id: \"111111111111\"\nsensitive_approved:\n"
	tests := []struct {
		name  string
		entry string
		want  string
	}{
		{"action required", "  - environments: [development]\n", "test.yaml:9: sensitive_approved: action is required"},
		{"action not allowed", "  - action: s3-delete-everything\n", `test.yaml:9: sensitive_approved: action "s3-delete-everything" is not allowed for any resource type`},
		{"unknown environment", "  - action: s3-delete-public-objects\n    environments: [dev]\n", `test.yaml:10: sensitive_approved "s3-delete-public-objects": environment "dev" is not listed under environment.known`},
		{"restricted environment", "  - action: s3-delete-public-objects\n    environments: [vault]\n", `test.yaml:10: sensitive_approved "s3-delete-public-objects": environment "vault" is restricted`},
		{"empty environments", "  - action: s3-delete-public-objects\n    environments: []\n", `test.yaml:10: sensitive_approved "s3-delete-public-objects": environments is empty`},
		{"account not allowlisted", "  - action: s3-delete-public-objects\n    accounts: [\"222222222222\"]\n", `test.yaml:10: sensitive_approved "s3-delete-public-objects": account 222222222222 is not listed under accounts`},
		{"account not 12 digits", "  - action: s3-delete-public-objects\n    accounts: [\"1111\"]\n", `test.yaml:10: sensitive_approved "s3-delete-public-objects": account "1111" is not 12 digits`},
		{"unknown key", "  - action: s3-delete-public-objects\n    environment: [development]\n", `test.yaml:10: unknown key "environment" (did you mean "environments"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(head+tt.entry), "test.yaml")
			var le *LoadError
			if !errors.As(err, &le) || !strings.HasPrefix(le.Error(), tt.want) {
				t.Errorf("Parse error = %v, want one starting %q", err, tt.want)
			}
		})
	}
}

func TestResourceTypesOfAction(t *testing.T) {
	p := parsePolicy(t, "approved_resource_types:\n  bucket: [a, b]\n  AWS::S3::Bucket: [a]\n  securityGroup: [c]\n")
	got := map[string][]string{}
	for _, a := range p.Actions() {
		got[a] = p.ResourceTypes(a)
	}
	want := map[string][]string{"a": {"AWS::S3::Bucket", "bucket"}, "b": {"bucket"}, "c": {"securityGroup"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ResourceTypes (-want +got):\n%s", diff)
	}
}

// sensitiveRemediator is a sensitive remediator that is never run: the
// engine in decide-only mode makes no AWS call.
type sensitiveRemediator struct{}

func (sensitiveRemediator) Spec() remediate.Spec {
	return remediate.Spec{
		Action: "s3-delete-public-objects", ResourceTypes: []string{"bucket"}, Sensitive: true,
		Resources: map[string][]string{"bucket": {"arn:{partition}:s3:::*/*"}}, IAMActions: []string{"s3:DeleteObject"},
	}
}

func (sensitiveRemediator) Plan(context.Context, remediate.Target) (remediate.Plan, error) {
	return remediate.Plan{}, errors.New("not run in decide-only mode")
}

func (sensitiveRemediator) Apply(context.Context, remediate.Target, remediate.Plan) (remediate.Result, error) {
	return remediate.Result{}, errors.New("not run in decide-only mode")
}

// TestSensitiveApprovalThroughEngine runs the policy through the engine
// in decide-only mode, the path `remedy decide` takes: a sensitive
// action the policy approves for the finding is planned, one it does not
// goes to review. The engine is given no Enricher: it enriches with the
// policy, so the environment comes from the finding's tags.
func TestSensitiveApprovalThroughEngine(t *testing.T) {
	p := parsePolicy(t, sensitivePolicy)
	reg, err := remediate.NewRegistry(sensitiveRemediator{})
	if err != nil {
		t.Fatal(err)
	}
	var rec *audit.Record
	eng, err := remediate.NewEngine(remediate.Options{
		Parser: remediate.ParserFunc(func(b []byte) (*remediate.Finding, error) {
			f := &remediate.Finding{}
			return f, json.Unmarshal(b, f)
		}),
		Policy:   p,
		Registry: reg,
		Audit:    audit.SinkFunc(func(_ context.Context, r *audit.Record) error { rec = r; return nil }),
		Mode:     remediate.ModeDecideOnly,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		env, account string
		want         remediate.Outcome
	}{
		{"development", "111111111111", remediate.OutcomePlanned},
		{"production", "111111111111", remediate.OutcomeReview},
		{"production", "333333333333", remediate.OutcomePlanned},
		{"production", "222222222222", remediate.OutcomeReview},
	} {
		f := eligible()
		f.ID += "-" + tt.env + "-" + tt.account
		f.Environment, f.Owner = "", "" // as parsed: enrichment sets them
		f.Resource.Account = tt.account
		f.Resource.Tags["Environment"] = tt.env
		body, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := eng.Process(context.Background(), remediate.Message{ID: f.ID, Body: body}); err != nil {
			t.Fatal(err)
		}
		if rec.Outcome != string(tt.want) {
			t.Errorf("%s in %s: outcome %q (%s), want %q", tt.env, tt.account, rec.Outcome, rec.FailureReason, tt.want)
		}
		if tt.want == remediate.OutcomeReview && !strings.Contains(rec.FailureReason, "sensitive") {
			t.Errorf("%s in %s: review reason %q does not say the action is sensitive", tt.env, tt.account, rec.FailureReason)
		}
	}
}
