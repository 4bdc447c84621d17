package eligibility

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/remediate"
)

const enrichPolicy = `
environment:
  known: [production, staging, Development]
  restricted: [restricted-production]
  sources: [tag:Environment, tag:env, account, declared]
owner:
  sources: [tag:Owner, account, declared]
accounts:
  - {id: "111111111111", environment: production, owner: platform@example.com}
  - {id: "222222222222"}
exceptions:
  - {id: E-res, resource: "arn:aws:s3:::a", owner: o, reason: r, expires: 2027-01-01}
  - {id: E-ctl, control: S3-019, owner: o, reason: r, expires: 2027-01-01}
  - {id: E-old, resource: "arn:aws:s3:::b", owner: o, reason: r, expires: 2026-01-01}
  - {id: E-acct, control: wc-x, account: "222222222222", owner: o, reason: r, expires: 2027-01-01}
`

// enriched is the part of a finding Enrich sets.
type enriched struct {
	Environment string
	Owner       string
	Exception   remediate.ExceptionStatus
	ExceptionID string
	Concerns    []remediate.Concern
}

func TestEnrich(t *testing.T) {
	tests := []struct {
		name string
		in   remediate.Finding
		want enriched
	}{
		{
			name: "nothing known",
			in:   remediate.Finding{Resource: remediate.Resource{Account: "222222222222"}},
			want: enriched{},
		},
		{
			name: "tag gives the policy's spelling",
			in:   remediate.Finding{Resource: remediate.Resource{Tags: map[string]string{"Environment": " DEVELOPMENT ", "Owner": " dev@example.com "}}},
			want: enriched{Environment: "Development", Owner: "dev@example.com"},
		},
		{
			name: "unknown name is kept for Decide to reject",
			in:   remediate.Finding{Resource: remediate.Resource{Tags: map[string]string{"env": "qa"}}},
			want: enriched{Environment: "qa"},
		},
		{
			name: "account metadata",
			in:   remediate.Finding{Resource: remediate.Resource{Account: "111111111111"}},
			want: enriched{Environment: "production", Owner: "platform@example.com"},
		},
		{
			name: "sources agree ignoring case",
			in: remediate.Finding{
				Resource: remediate.Resource{Account: "111111111111", Tags: map[string]string{"Environment": "Production", "env": "production"}},
				Declared: remediate.Declared{Environment: "PRODUCTION", Owner: "platform@example.com"},
			},
			want: enriched{Environment: "production", Owner: "platform@example.com"},
		},
		{
			name: "tags disagree",
			in:   remediate.Finding{Resource: remediate.Resource{Tags: map[string]string{"Environment": "production", "env": "staging"}}},
			want: enriched{Concerns: []remediate.Concern{{Field: "environment", Message: `environment sources disagree: tag:Environment says "production", tag:env says "staging"`}}},
		},
		{
			name: "declared disagrees with the account",
			in: remediate.Finding{
				Resource: remediate.Resource{Account: "111111111111"},
				Declared: remediate.Declared{Environment: "staging"},
			},
			want: enriched{Owner: "platform@example.com", Concerns: []remediate.Concern{{Field: "environment", Message: `environment sources disagree: account says "production", declared says "staging"`}}},
		},
		{
			name: "owners compare exactly",
			in: remediate.Finding{Resource: remediate.Resource{
				Account: "111111111111",
				Tags:    map[string]string{"Owner": "Platform@example.com"},
			}},
			want: enriched{Environment: "production", Concerns: []remediate.Concern{{Field: "owner", Message: `owner sources disagree: tag:Owner says "Platform@example.com", account says "platform@example.com"`}}},
		},
		{
			name: "tag keys compare exactly",
			in:   remediate.Finding{Resource: remediate.Resource{Tags: map[string]string{"environment": "staging", "OWNER": "x", "Env": "staging"}}},
			want: enriched{},
		},
		{
			name: "blank values are absent",
			in: remediate.Finding{
				Resource: remediate.Resource{Account: "111111111111", Tags: map[string]string{"Environment": "  ", "Owner": ""}},
			},
			want: enriched{Environment: "production", Owner: "platform@example.com"},
		},
		{
			name: "earlier values are replaced",
			in:   remediate.Finding{Environment: "production", Owner: "someone", Resource: remediate.Resource{Account: "222222222222"}},
			want: enriched{},
		},
		{
			name: "exception by resource",
			in:   remediate.Finding{Resource: remediate.Resource{ID: "arn:aws:s3:::a"}},
			want: enriched{Exception: remediate.ExceptionApproved, ExceptionID: "E-res"},
		},
		{
			name: "exception by the control's source rule",
			in:   remediate.Finding{Control: remediate.Control{ID: "wc-1", SourceRuleID: "S3-019"}},
			want: enriched{Exception: remediate.ExceptionApproved, ExceptionID: "E-ctl"},
		},
		{
			name: "resource ids compare exactly",
			in:   remediate.Finding{Resource: remediate.Resource{ID: "arn:aws:s3:::A"}},
			want: enriched{},
		},
		{
			name: "expired exception is recorded, not applied",
			in:   remediate.Finding{Resource: remediate.Resource{ID: "arn:aws:s3:::b"}},
			want: enriched{Exception: remediate.ExceptionExpired, ExceptionID: "E-old"},
		},
		{
			name: "approved beats expired",
			in:   remediate.Finding{Resource: remediate.Resource{ID: "arn:aws:s3:::b"}, Control: remediate.Control{SourceRuleID: "S3-019"}},
			want: enriched{Exception: remediate.ExceptionApproved, ExceptionID: "E-ctl"},
		},
		{
			name: "exception scoped to an account",
			in:   remediate.Finding{Resource: remediate.Resource{Account: "222222222222"}, Control: remediate.Control{ID: "wc-x"}},
			want: enriched{Exception: remediate.ExceptionApproved, ExceptionID: "E-acct"},
		},
		{
			name: "exception scoped to another account",
			in:   remediate.Finding{Resource: remediate.Resource{Account: "111111111111"}, Control: remediate.Control{ID: "wc-x"}},
			want: enriched{Environment: "production", Owner: "platform@example.com"},
		},
		{
			name: "an earlier approval is not lowered",
			in: remediate.Finding{
				Resource:  remediate.Resource{ID: "arn:aws:s3:::b"},
				Exception: remediate.ExceptionApproved, ExceptionID: "store-9",
			},
			want: enriched{Exception: remediate.ExceptionApproved, ExceptionID: "store-9"},
		},
	}
	p := parsePolicy(t, enrichPolicy)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.in
			if err := p.Enrich(context.Background(), &f); err != nil {
				t.Fatal(err)
			}
			got := enriched{f.Environment, f.Owner, f.Exception, f.ExceptionID, f.Concerns}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Enrich (-want +got):\n%s", diff)
			}
		})
	}
}

// What the payload declares is ignored unless the policy lists
// "declared" as a source, and nothing in it grants an exception.
func TestEnrichIgnoresUntrustedClaims(t *testing.T) {
	p := examplePolicy(t) // sources: tags and account only
	f := eligible()
	f.Environment, f.Owner = "", ""
	f.Resource.Account = "999999999999"
	f.Resource.Tags = map[string]string{"team": "payments"}
	f.Declared = remediate.Declared{Environment: "production", Owner: "mallory@example.com"}
	if err := p.Enrich(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	if f.Environment != "" || f.Owner != "" || f.Exception != "" {
		t.Errorf("Enrich trusted the payload: environment %q, owner %q, exception %q", f.Environment, f.Owner, f.Exception)
	}
}

// Sources that disagree become a concern, and the concern sends the
// finding to review.
func TestEnrichConflictLeadsToReview(t *testing.T) {
	p := examplePolicy(t)
	f := eligible()
	f.Environment = ""
	f.Resource.Tags["env"] = "staging" // tag:Environment says production
	if err := p.Enrich(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	d, err := p.Decide(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	want := []reason{
		{CheckPayload, review, `environment: environment sources disagree: tag:Environment says "production", tag:env says "staging", account says "production"`},
		{CheckEnvironment, review, "environment is unknown"},
	}
	if diff := cmp.Diff(want, reasonsOf(d, want)); diff != "" {
		t.Errorf("reasons (-want +got):\n%s", diff)
	}
	if d.Verdict != review {
		t.Errorf("verdict = %v, want review", d.Verdict)
	}
}

// The whole path a finding takes: Enrich from tags and account metadata,
// then Decide.
func TestEnrichThenDecide(t *testing.T) {
	p := examplePolicy(t)
	tests := []struct {
		name    string
		account string
		envTag  string
		verdict remediate.Verdict
		checks  []string
	}{
		{"production account", "111111111111", "production", remediate.VerdictRemediate, nil},
		{"production account, no tag", "111111111111", "", remediate.VerdictRemediate, nil},
		{"staging account, production tag", "222222222222", "production", review, []string{CheckPayload, CheckEnvironment}},
		{"restricted account", "333333333333", "", review, []string{CheckEnvironment}},
		{"not allowlisted", "444444444444", "production", review, []string{CheckAccount}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := eligible()
			f.Environment, f.Owner = "", ""
			f.Resource.Account = tt.account
			f.Resource.Tags["Environment"] = tt.envTag
			if err := p.Enrich(context.Background(), f); err != nil {
				t.Fatal(err)
			}
			d, err := p.Decide(context.Background(), f)
			if err != nil {
				t.Fatal(err)
			}
			var checks []string
			for _, r := range d.Reasons {
				checks = append(checks, r.Check)
			}
			if diff := cmp.Diff(tt.checks, checks); diff != "" {
				t.Errorf("checks (-want +got):\n%s", diff)
			}
			if d.Verdict != tt.verdict {
				t.Errorf("verdict = %v, want %v; reasons %+v", d.Verdict, tt.verdict, d.Reasons)
			}
		})
	}
}
