package eligibility

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// approvalPolicy requires approval by action, by account, by environment
// and by tag, each in its own entry, and by all four in one.
const approvalPolicy = `
approved_resource_types:
  bucket: [s3-block-public-access, s3-delete-public-objects]
playbooks:
  wc-id-1234: s3-block-public-access
  wc-id-9999: s3-delete-public-objects
environment:
  known: [production, staging, development]
  sources: [tag:Environment]
owner:
  sources: [tag:Owner]
accounts:
  - id: "111111111111"
  - id: "222222222222"
approval_required:
  - actions: [s3-delete-public-objects]
  - accounts: ["222222222222"]
  - environments: [Staging]
  - tags: {data-class: pii}
`

// TestApprovalRequired checks that Decide sets ApprovalRequired exactly
// when an approval_required entry matches: by action, account,
// environment (without case) or tag (exact), any entry being enough and
// every key of an entry having to match.
func TestApprovalRequired(t *testing.T) {
	p := parsePolicy(t, approvalPolicy)
	tests := []struct {
		name    string
		control string
		account string
		env     string
		tags    map[string]string
		want    bool
	}{
		{"no entry matches", "wc-id-1234", "111111111111", "production", nil, false},
		{"by action", "wc-id-9999", "111111111111", "production", nil, true},
		{"by account", "wc-id-1234", "222222222222", "production", nil, true},
		{"by environment, without case", "wc-id-1234", "111111111111", "staging", nil, true},
		{"by tag", "wc-id-1234", "111111111111", "production", map[string]string{"data-class": "pii"}, true},
		{"tag value differs", "wc-id-1234", "111111111111", "production", map[string]string{"data-class": "public"}, false},
		{"tag key case differs", "wc-id-1234", "111111111111", "production", map[string]string{"Data-Class": "pii"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := eligible()
			f.Control.ID, f.Control.SourceRuleID = tt.control, ""
			f.Resource.Account = tt.account
			f.Environment = tt.env
			f.Resource.Tags = map[string]string{"Environment": tt.env, "Owner": "payments@example.com"}
			for k, v := range tt.tags {
				f.Resource.Tags[k] = v
			}
			d, err := p.Decide(context.Background(), f)
			if err != nil {
				t.Fatal(err)
			}
			if !d.Remediates() {
				t.Fatalf("decision %v %v: the requirement must not change the verdict", d.Verdict, d.Reasons)
			}
			if d.ApprovalRequired != tt.want {
				t.Errorf("ApprovalRequired = %v, want %v", d.ApprovalRequired, tt.want)
			}
		})
	}

	// Every key of one entry must match.
	p = parsePolicy(t, strings.Replace(approvalPolicy, "  - actions: [s3-delete-public-objects]\n  - accounts: [\"222222222222\"]\n  - environments: [Staging]\n  - tags: {data-class: pii}\n",
		"  - actions: [s3-delete-public-objects]\n    accounts: [\"222222222222\"]\n", 1))
	f := eligible()
	f.Control.ID, f.Control.SourceRuleID = "wc-id-9999", ""
	if d, _ := p.Decide(context.Background(), f); d.ApprovalRequired {
		t.Error("an entry of action and account matched a finding of another account")
	}
	f.Resource.Account = "222222222222"
	if d, _ := p.Decide(context.Background(), f); !d.ApprovalRequired {
		t.Error("an entry of action and account did not match a finding of both")
	}
}

// TestApprovalRequiredLoadErrors checks that a bad approval_required
// entry fails loading with the file and line.
func TestApprovalRequiredLoadErrors(t *testing.T) {
	head := "approved_resource_types:\n  bucket: [s3-block-public-access]\nenvironment:\n  known: [development]\naccounts:\n  - id: \"111111111111\"\napproval_required:\n"
	tests := []struct {
		name  string
		entry string
		want  string
	}{
		{"unknown key", "  - action: [s3-block-public-access]\n", `test.yaml:8: unknown key "action" (did you mean "actions"?)`},
		{"action not allowed", "  - actions: [s3-delete-everything]\n", `test.yaml:8: approval_required entry 1: action "s3-delete-everything" is not allowed for any resource type`},
		{"unknown environment", "  - environments: [dev]\n", `test.yaml:8: approval_required entry 1: environment "dev" is not listed under environment.known`},
		{"account not allowlisted", "  - accounts: [\"222222222222\"]\n", `test.yaml:8: approval_required entry 1: account 222222222222 is not listed under accounts`},
		{"account not 12 digits", "  - accounts: [\"1111\"]\n", `test.yaml:8: approval_required entry 1: account "1111" is not 12 digits`},
		{"empty actions", "  - actions: []\n", `test.yaml:8: approval_required entry 1: actions is empty`},
		{"tags not a mapping", "  - tags: [pii]\n", `test.yaml:8: approval_required entry 1 tags must be a mapping`},
		{"misspelt top-level key", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := head + tt.entry
			want := tt.want
			if tt.entry == "" {
				doc = strings.Replace(head, "approval_required:", "aproval_required:", 1) + "  - actions: [s3-block-public-access]\n"
				want = `test.yaml:7: unknown key "aproval_required" (did you mean "approval_required"?)`
			}
			_, err := Parse([]byte(doc), "test.yaml")
			var le *LoadError
			if !errors.As(err, &le) || !strings.HasPrefix(le.Error(), want) {
				t.Errorf("Parse error = %v, want one starting %q", err, want)
			}
		})
	}
}
