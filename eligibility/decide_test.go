package eligibility

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/remediate"
)

// testNow is before the example exception expires (end of 2027-06-30).
var testNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func at(t time.Time) func(*Options) {
	return func(o *Options) { o.Now = func() time.Time { return t } }
}

func examplePolicy(t testing.TB, optFns ...func(*Options)) *Policy {
	t.Helper()
	p, err := Load("testdata/example-policy.yaml", append([]func(*Options){at(testNow)}, optFns...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func parsePolicy(t testing.TB, doc string, optFns ...func(*Options)) *Policy {
	t.Helper()
	p, err := Parse([]byte(doc), "test.yaml", append([]func(*Options){at(testNow)}, optFns...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// eligible returns a finding the example policy remediates, as it looks
// after enrichment.
func eligible() *remediate.Finding {
	return &remediate.Finding{
		ID:            "5b0e6c9a-1f0e-4d6e-9a53-2f1c0d4b7e11",
		Source:        "wiz",
		TriggerSource: "ISSUES",
		TriggerType:   "CREATED",
		Status:        "OPEN",
		Severity:      remediate.SeverityHigh,
		Control:       remediate.Control{ID: "wc-id-1234", Name: "S3 Bucket allows public access", SourceRuleID: "S3-019"},
		Resource: remediate.Resource{
			ID:      "arn:aws:s3:::payments-exports",
			ARN:     "arn:aws:s3:::payments-exports",
			Name:    "payments-exports",
			Type:    "bucket",
			Cloud:   "AWS",
			Account: "111111111111",
			Region:  "us-east-1",
			Tags:    map[string]string{"Environment": "production", "Owner": "payments@example.com", "team": "payments"},
		},
		Environment: "production",
		Owner:       "payments@example.com",
	}
}

// clone copies f deeply enough to detect any change Decide makes.
func clone(f *remediate.Finding) *remediate.Finding {
	c := *f
	c.Resource.Tags = maps.Clone(f.Resource.Tags)
	c.Projects = slices.Clone(f.Projects)
	c.Concerns = slices.Clone(f.Concerns)
	c.Raw = slices.Clone(f.Raw)
	return &c
}

// reason is what the table asserts about one Reason: its check, the
// verdict it leads to and a value its message must name.
type reason struct {
	Check   string
	LeadsTo remediate.Verdict
	Names   string
}

func reasonsOf(d remediate.Decision, want []reason) []reason {
	if len(d.Reasons) == 0 {
		return nil
	}
	out := make([]reason, len(d.Reasons))
	for i, r := range d.Reasons {
		out[i] = reason{Check: r.Check, LeadsTo: r.Verdict}
		// Keep the expected value only when the message names it, so a
		// message that loses the value shows up in the diff.
		if i < len(want) && strings.Contains(r.Message, want[i].Names) {
			out[i].Names = want[i].Names
		} else {
			out[i].Names = r.Message
		}
	}
	return out
}

const (
	review = remediate.VerdictReview
	skip   = remediate.VerdictSkip
)

func TestDecideChecks(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(f *remediate.Finding)
		verdict remediate.Verdict
		want    []reason
	}{
		{name: "eligible", edit: func(f *remediate.Finding) {}, verdict: remediate.VerdictRemediate},

		// payload concerns
		{name: "one concern", verdict: review,
			edit: func(f *remediate.Finding) { f.AddConcern("resource.tags", "tags is a string that is not JSON") },
			want: []reason{{CheckPayload, review, "resource.tags: tags is a string"}}},
		{name: "one reason per concern", verdict: review,
			edit: func(f *remediate.Finding) {
				f.AddConcern("resource.region", "region missing")
				f.AddConcern("environment", "environment sources disagree")
			},
			want: []reason{{CheckPayload, review, "resource.region"}, {CheckPayload, review, "environment: environment sources disagree"}}},

		// trigger type
		{name: "trigger REOPENED", verdict: remediate.VerdictRemediate, edit: func(f *remediate.Finding) { f.TriggerType = "REOPENED" }},
		{name: "trigger case-insensitive", verdict: remediate.VerdictRemediate, edit: func(f *remediate.Finding) { f.TriggerType = " created " }},
		{name: "trigger UPDATED", verdict: skip, edit: func(f *remediate.Finding) { f.TriggerType = "UPDATED" },
			want: []reason{{CheckTrigger, skip, "UPDATED"}}},
		{name: "trigger RESOLVED", verdict: skip, edit: func(f *remediate.Finding) { f.TriggerType = "RESOLVED" },
			want: []reason{{CheckTrigger, skip, "RESOLVED"}}},
		{name: "trigger missing", verdict: review, edit: func(f *remediate.Finding) { f.TriggerType = "" },
			want: []reason{{CheckTrigger, review, "missing"}}},
		{name: "trigger unknown", verdict: review, edit: func(f *remediate.Finding) { f.TriggerType = "DELETED" },
			want: []reason{{CheckTrigger, review, `"DELETED"`}}},

		// status
		{name: "status IN_PROGRESS", verdict: remediate.VerdictRemediate, edit: func(f *remediate.Finding) { f.Status = "in_progress" }},
		{name: "status RESOLVED", verdict: skip, edit: func(f *remediate.Finding) { f.Status = "RESOLVED" },
			want: []reason{{CheckStatus, skip, "RESOLVED"}}},
		{name: "status REJECTED", verdict: skip, edit: func(f *remediate.Finding) { f.Status = "REJECTED" },
			want: []reason{{CheckStatus, skip, "REJECTED"}}},
		{name: "status missing", verdict: review, edit: func(f *remediate.Finding) { f.Status = "" },
			want: []reason{{CheckStatus, review, "missing"}}},
		{name: "status unknown", verdict: review, edit: func(f *remediate.Finding) { f.Status = "CLOSED" },
			want: []reason{{CheckStatus, review, `"CLOSED"`}}},

		// severity
		{name: "severity CRITICAL", verdict: remediate.VerdictRemediate, edit: func(f *remediate.Finding) { f.Severity = remediate.SeverityCritical }},
		{name: "severity LOW", verdict: skip, edit: func(f *remediate.Finding) { f.Severity = remediate.SeverityLow },
			want: []reason{{CheckSeverity, skip, "LOW"}}},
		{name: "severity MEDIUM", verdict: skip, edit: func(f *remediate.Finding) { f.Severity = remediate.SeverityMedium },
			want: []reason{{CheckSeverity, skip, "MEDIUM"}}},
		{name: "severity INFORMATIONAL", verdict: skip, edit: func(f *remediate.Finding) { f.Severity = remediate.SeverityInformational },
			want: []reason{{CheckSeverity, skip, "INFORMATIONAL"}}},
		{name: "severity missing", verdict: review, edit: func(f *remediate.Finding) { f.Severity = "" },
			want: []reason{{CheckSeverity, review, "missing"}}},
		{name: "severity unknown", verdict: review, edit: func(f *remediate.Finding) { f.Severity = "SEVERE" },
			want: []reason{{CheckSeverity, review, `"SEVERE"`}}},
		{name: "control severity is not the finding's", verdict: skip, edit: func(f *remediate.Finding) {
			f.Severity = remediate.SeverityLow
			f.Control.Severity = remediate.SeverityCritical
		}, want: []reason{{CheckSeverity, skip, "LOW"}}},

		// environment
		{name: "environment case and space", verdict: remediate.VerdictRemediate, edit: func(f *remediate.Finding) { f.Environment = " Production " }},
		{name: "environment missing", verdict: review, edit: func(f *remediate.Finding) { f.Environment = "" },
			want: []reason{{CheckEnvironment, review, "tag:Environment, tag:env, account"}}},
		{name: "environment restricted", verdict: review, edit: func(f *remediate.Finding) { f.Environment = "restricted-production" },
			want: []reason{{CheckEnvironment, review, `"restricted-production" is restricted`}}},
		{name: "environment restricted any case", verdict: review, edit: func(f *remediate.Finding) { f.Environment = "Restricted-Production" },
			want: []reason{{CheckEnvironment, review, `"Restricted-Production" is restricted`}}},
		{name: "environment unknown", verdict: review, edit: func(f *remediate.Finding) { f.Environment = "prod" },
			want: []reason{{CheckEnvironment, review, `"prod" is not one the policy knows`}}},

		// owner
		{name: "owner missing", verdict: review, edit: func(f *remediate.Finding) { f.Owner = "" },
			want: []reason{{CheckOwner, review, "tag:Owner, tag:owner"}}},
		{name: "owner blank", verdict: review, edit: func(f *remediate.Finding) { f.Owner = " \t" },
			want: []reason{{CheckOwner, review, "owner is unknown"}}},

		// exception
		{name: "exception approved by enrichment", verdict: skip, edit: func(f *remediate.Finding) {
			f.Exception, f.ExceptionID = remediate.ExceptionApproved, "CHG-7"
		}, want: []reason{{CheckException, skip, `"CHG-7"`}}},
		{name: "exception expired has no effect", verdict: remediate.VerdictRemediate, edit: func(f *remediate.Finding) {
			f.Exception, f.ExceptionID = remediate.ExceptionExpired, "CHG-7"
		}},
		{name: "policy exception applies without enrichment", verdict: skip, edit: func(f *remediate.Finding) {
			f.Resource.ID, f.Resource.ARN = "arn:aws:s3:::www-example-com", "arn:aws:s3:::www-example-com"
		}, want: []reason{{CheckException, skip, `"EXC-0042"`}}},
		{name: "policy exception for another account", verdict: remediate.VerdictRemediate, edit: func(f *remediate.Finding) {
			f.Resource.ID, f.Resource.ARN = "arn:aws:s3:::www-example-com", "arn:aws:s3:::www-example-com"
			f.Resource.Account = "222222222222"
			f.Environment = "staging"
		}},
		{name: "policy exception for another control", verdict: remediate.VerdictRemediate, edit: func(f *remediate.Finding) {
			f.Resource.ID, f.Resource.ARN = "arn:aws:s3:::www-example-com", "arn:aws:s3:::www-example-com"
			f.Control = remediate.Control{ID: "wc-id-9999", SourceRuleID: "S3-019"}
		}},

		// account
		{name: "account missing", verdict: review, edit: func(f *remediate.Finding) { f.Resource.Account = "" },
			want: []reason{{CheckAccount, review, "missing"}}},
		{name: "account not allowlisted", verdict: review, edit: func(f *remediate.Finding) { f.Resource.Account = "999999999999" },
			want: []reason{{CheckAccount, review, `"999999999999"`}}},

		// resource type
		{name: "resource type missing", verdict: review, edit: func(f *remediate.Finding) { f.Resource.Type = "" },
			want: []reason{{CheckResourceType, review, "missing"}}},
		{name: "resource type not approved", verdict: review, edit: func(f *remediate.Finding) { f.Resource.Type = "virtualMachine" },
			want: []reason{{CheckResourceType, review, `"virtualMachine"`}}},
		{name: "resource type compares exactly", verdict: review, edit: func(f *remediate.Finding) { f.Resource.Type = "Bucket" },
			want: []reason{{CheckResourceType, review, `"Bucket"`}}},

		// control → playbook
		{name: "playbook by source rule only", verdict: remediate.VerdictRemediate, edit: func(f *remediate.Finding) { f.Control.ID = "wc-unmapped" }},
		{name: "playbook by control only", verdict: remediate.VerdictRemediate, edit: func(f *remediate.Finding) { f.Control.SourceRuleID = "" }},
		{name: "no playbook", verdict: review, edit: func(f *remediate.Finding) { f.Control = remediate.Control{ID: "wc-unmapped", SourceRuleID: "S3-999"} },
			want: []reason{{CheckControl, review, `"wc-unmapped"`}}},
		{name: "no control", verdict: review, edit: func(f *remediate.Finding) { f.Control = remediate.Control{} },
			want: []reason{{CheckControl, review, "names no control"}}},
		{name: "control and source rule disagree", verdict: review, edit: func(f *remediate.Finding) { f.Control.SourceRuleID = "S3-004" },
			want: []reason{{CheckControl, review, `"s3-default-encryption"`}}},

		// action
		{name: "proposed action matches", verdict: remediate.VerdictRemediate, edit: func(f *remediate.Finding) { f.ProposedAction = "s3-block-public-access" }},
		{name: "proposed action differs", verdict: review, edit: func(f *remediate.Finding) { f.ProposedAction = "s3-default-encryption" },
			want: []reason{{CheckAction, review, `"s3-default-encryption" differs`}}},
		{name: "action not allowed for the type", verdict: review, edit: func(f *remediate.Finding) { f.Resource.Type = "securityGroup" },
			want: []reason{{CheckAction, review, `"s3-block-public-access" is not allowed for resource type "securityGroup"`}}},
		{name: "proposed action without playbook is checked", verdict: review, edit: func(f *remediate.Finding) {
			f.Control = remediate.Control{ID: "wc-unmapped"}
			f.ProposedAction = "delete-bucket"
		}, want: []reason{{CheckControl, review, `"wc-unmapped"`}, {CheckAction, review, `"delete-bucket" is not allowed`}}},

		// CEL rule
		{name: "rule false", verdict: review, edit: func(f *remediate.Finding) { delete(f.Resource.Tags, "team") },
			want: []reason{{"rule:team-tag", review, "no team tag"}}},
	}
	p := examplePolicy(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := eligible()
			tt.edit(f)
			d, err := p.Decide(context.Background(), f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, reasonsOf(d, tt.want)); diff != "" {
				t.Errorf("reasons (-want +got):\n%s", diff)
			}
			if d.Verdict != tt.verdict {
				t.Errorf("verdict = %v, want %v", d.Verdict, tt.verdict)
			}
			if got, want := d.Remediates(), tt.verdict == remediate.VerdictRemediate; got != want {
				t.Errorf("Remediates() = %v, want %v (decision %+v)", got, want, d)
			}
			if d.PolicyVersion != p.Version() {
				t.Errorf("PolicyVersion = %q, want %q", d.PolicyVersion, p.Version())
			}
		})
	}
}

func TestDecideAction(t *testing.T) {
	p := examplePolicy(t)
	tests := []struct {
		name string
		edit func(f *remediate.Finding)
		want string
	}{
		{"playbook action", func(f *remediate.Finding) {}, "s3-block-public-access"},
		{"kept when another check fails", func(f *remediate.Finding) { f.Severity = remediate.SeverityLow }, "s3-block-public-access"},
		{"kept when the proposal differs", func(f *remediate.Finding) { f.ProposedAction = "s3-default-encryption" }, "s3-block-public-access"},
		{"none without a playbook, whatever is proposed", func(f *remediate.Finding) {
			f.Control = remediate.Control{ID: "wc-unmapped"}
			f.ProposedAction = "s3-block-public-access"
		}, ""},
		{"none when the playbooks disagree", func(f *remediate.Finding) { f.Control.SourceRuleID = "S3-004" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := eligible()
			tt.edit(f)
			d, err := p.Decide(context.Background(), f)
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tt.want {
				t.Errorf("Action = %q, want %q", d.Action, tt.want)
			}
		})
	}
}

func TestDecideCollectsEveryReason(t *testing.T) {
	f := &remediate.Finding{
		ID:          "x",
		TriggerType: "UPDATED",
		Status:      "RESOLVED",
		Severity:    remediate.SeverityLow,
		Environment: "restricted-production",
		Exception:   remediate.ExceptionApproved, ExceptionID: "CHG-1",
		Resource: remediate.Resource{ID: "i-1", Type: "instance", Account: "444444444444"},
		Control:  remediate.Control{ID: "wc-unmapped"},
		Concerns: []remediate.Concern{{Field: "resource.region", Message: "missing"}},
	}
	d, err := examplePolicy(t).Decide(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	want := []reason{
		{CheckPayload, review, "resource.region"},
		{CheckTrigger, skip, "UPDATED"},
		{CheckStatus, skip, "RESOLVED"},
		{CheckSeverity, skip, "LOW"},
		{CheckEnvironment, review, "restricted-production"},
		{CheckOwner, review, "owner"},
		{CheckException, skip, "CHG-1"},
		{CheckAccount, review, "444444444444"},
		{CheckResourceType, review, "instance"},
		{CheckControl, review, "wc-unmapped"},
		{"rule:team-tag", review, "team tag"},
	}
	if diff := cmp.Diff(want, reasonsOf(d, want)); diff != "" {
		t.Errorf("reasons (-want +got):\n%s", diff)
	}
	if d.Verdict != skip {
		t.Errorf("verdict = %v, want skip (skip outranks review)", d.Verdict)
	}
}

func TestDecideDoesNotModifyFinding(t *testing.T) {
	p := examplePolicy(t)
	f := eligible()
	f.AddConcern("resource.tags", "odd")
	f.Projects = []string{"Payments"}
	f.Resource.ID, f.Resource.ARN = "arn:aws:s3:::www-example-com", "arn:aws:s3:::www-example-com" // excepted: Decide must not record it
	before := clone(f)
	if _, err := p.Decide(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, f); diff != "" {
		t.Errorf("Decide modified the finding (-before +after):\n%s", diff)
	}
}

func TestDecideExceptionExpiry(t *testing.T) {
	expiry := time.Date(2027, 7, 1, 0, 0, 0, 0, time.UTC) // expires: 2027-06-30 covers that whole day
	tests := []struct {
		name string
		now  time.Time
		want []reason
	}{
		{"approved", testNow, []reason{{CheckException, skip, `"EXC-0042"`}}},
		{"last instant of the last day", expiry.Add(-time.Nanosecond), []reason{{CheckException, skip, "until 2027-06-30"}}},
		{"expired", expiry, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := examplePolicy(t, at(tt.now))
			f := eligible()
			f.Resource.ID, f.Resource.ARN = "arn:aws:s3:::www-example-com", "arn:aws:s3:::www-example-com"
			if err := p.Enrich(context.Background(), f); err != nil {
				t.Fatal(err)
			}
			d, err := p.Decide(context.Background(), f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, reasonsOf(d, tt.want)); diff != "" {
				t.Errorf("reasons (-want +got):\n%s", diff)
			}
			wantStatus := remediate.ExceptionApproved
			if tt.want == nil {
				wantStatus = remediate.ExceptionExpired
			}
			if f.Exception != wantStatus || f.ExceptionID != "EXC-0042" {
				t.Errorf("after Enrich: Exception = %q (%q), want %q (EXC-0042)", f.Exception, f.ExceptionID, wantStatus)
			}
		})
	}
}

// A rule that cannot be evaluated leads to review — even one whose
// leads_to is skip — and never lets the finding through.
func TestDecideRuleErrors(t *testing.T) {
	const doc = `
approved_resource_types: {bucket: [s3-block-public-access]}
playbooks: {wc-id-1234: s3-block-public-access}
environment: {known: [production], sources: [tag:Environment]}
owner: {sources: [tag:Owner]}
accounts: [{id: "111111111111"}]
rules:
  - name: team-present
    expression: resource.tags["team"] != ""      # no such key → error
    leads_to: skip
  - name: critical-only
    expression: finding.severity == "CRITICAL"
    leads_to: skip
    message: only CRITICAL findings are fixed in this pilot
  - name: bounded
    expression: resource.tags.all(a, resource.tags.all(b, resource.tags.all(c, a + b + c != "")))
`
	p := parsePolicy(t, doc)
	tests := []struct {
		name    string
		edit    func(f *remediate.Finding)
		verdict remediate.Verdict
		want    []reason
	}{
		{name: "every rule passes", verdict: remediate.VerdictRemediate, edit: func(f *remediate.Finding) {
			f.Severity = remediate.SeverityCritical
		}},
		{name: "evaluation error is review, not the rule's skip", verdict: review, edit: func(f *remediate.Finding) {
			f.Severity = remediate.SeverityCritical
			delete(f.Resource.Tags, "team")
		}, want: []reason{{"rule:team-present", review, "could not be evaluated: no such key: team"}}},
		{name: "false rule leads where it says", verdict: skip, edit: func(f *remediate.Finding) {}, want: []reason{
			{"rule:critical-only", skip, "only CRITICAL findings are fixed in this pilot"},
		}},
		{name: "cost limit is an evaluation error", verdict: review, edit: func(f *remediate.Finding) {
			f.Severity = remediate.SeverityCritical
			for i := range 100 {
				f.Resource.Tags[fmt.Sprint("k", i)] = "v"
			}
		}, want: []reason{{"rule:bounded", review, "cost limit exceeded"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := eligible()
			tt.edit(f)
			d, err := p.Decide(context.Background(), f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, reasonsOf(d, tt.want)); diff != "" {
				t.Errorf("reasons (-want +got):\n%s", diff)
			}
			if d.Verdict != tt.verdict {
				t.Errorf("verdict = %v, want %v", d.Verdict, tt.verdict)
			}
		})
	}
}

func TestRuleVariables(t *testing.T) {
	// Each expression must hold for eligible() after enrichment under
	// the example policy: together they document what rules can read.
	exprs := []string{
		`finding.id == "5b0e6c9a-1f0e-4d6e-9a53-2f1c0d4b7e11" && finding.source == "wiz"`,
		`finding.trigger_source == "ISSUES" && finding.trigger_type == "CREATED" && finding.status == "OPEN"`,
		`finding.severity == "HIGH" && resource.tags["team"] != ""`,
		`finding.environment == "production" && finding.owner == "payments@example.com"`,
		`finding.exception == "" && finding.exception_id == "" && finding.proposed_action == ""`,
		`finding.projects == ["Payments"] && finding.rule_id == "0f5b" && finding.rule_name == "Auto-remediate S3"`,
		`finding.detected_at < now && now - finding.detected_at > duration("1h")`,
		`finding.updated_at == timestamp("1970-01-01T00:00:00Z") && int(finding.updated_at) == 0`, // unknown reads as the epoch
		`resource.id.startsWith("arn:aws:s3:::") && resource.arn == resource.id && resource.name == "payments-exports"`,
		`resource.type == "bucket" && resource.cloud == "AWS" && resource.account == "111111111111" && resource.region == "us-east-1"`,
		`!("Team" in resource.tags) && resource.tags[?"missing"].orValue("none") == "none"`,
		`control.id == "wc-id-1234" && control.name.contains("public") && control.severity == "CRITICAL"`,
		`control.source_rule_id == "S3-019" && control.source_rule_name == ""`,
		`account.id == "111111111111" && account.name == "payments-prod" && account.environment == "production" && account.allowlisted`,
		`account.owner == ""`,
		`action == "s3-block-public-access"`,
		`resource.name.lowerAscii().matches("^payments-")`,
	}
	doc := "approved_resource_types: {bucket: [s3-block-public-access]}\nplaybooks: {wc-id-1234: s3-block-public-access}\n" +
		"accounts: [{id: \"111111111111\", name: payments-prod, environment: production}]\n" +
		"environment: {known: [production], sources: [tag:Environment]}\nowner: {sources: [tag:Owner]}\nrules:\n"
	for i, e := range exprs {
		doc += fmt.Sprintf("  - name: r%d\n    expression: %q\n", i, e)
	}
	p := parsePolicy(t, doc)
	f := eligible()
	f.Projects = []string{"Payments"}
	f.Rule = remediate.Rule{ID: "0f5b", Name: "Auto-remediate S3"}
	f.Control.Severity = remediate.SeverityCritical
	f.DetectedAt = testNow.Add(-2 * time.Hour)
	f.Declared = remediate.Declared{Environment: "development", Owner: "mallory"}
	if err := p.Enrich(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	d, err := p.Decide(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range d.Reasons {
		i := 0
		fmt.Sscanf(strings.TrimPrefix(r.Check, "rule:r"), "%d", &i)
		t.Errorf("%s: %s\n\texpression: %s", r.Check, r.Message, exprs[i])
	}
}

func TestDecideDefault(t *testing.T) {
	p := Default(at(testNow))
	tests := []struct {
		name    string
		edit    func(f *remediate.Finding)
		verdict remediate.Verdict
		want    []reason
	}{
		{name: "nothing is approved: review", verdict: review, edit: func(f *remediate.Finding) {}, want: []reason{
			{CheckAccount, review, "111111111111"},
			{CheckResourceType, review, "bucket"},
			{CheckControl, review, "wc-id-1234"},
			{CheckAction, review, "s3-block-public-access"},
		}},
		{name: "low severity still skips", verdict: skip, edit: func(f *remediate.Finding) { f.Severity = remediate.SeverityLow }, want: []reason{
			{CheckSeverity, skip, "LOW"},
			{CheckAccount, review, "111111111111"},
			{CheckResourceType, review, "bucket"},
			{CheckControl, review, "wc-id-1234"},
			{CheckAction, review, "s3-block-public-access"},
		}},
		{name: "restricted-production", verdict: review, edit: func(f *remediate.Finding) {
			f.Environment = "restricted-production"
			f.Owner = ""
		}, want: []reason{
			{CheckEnvironment, review, "restricted"},
			{CheckOwner, review, "tag:Owner"},
			{CheckAccount, review, "111111111111"},
			{CheckResourceType, review, "bucket"},
			{CheckControl, review, "wc-id-1234"},
			{CheckAction, review, "s3-block-public-access"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := eligible()
			f.ProposedAction = "s3-block-public-access"
			tt.edit(f)
			d, err := p.Decide(context.Background(), f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, reasonsOf(d, tt.want)); diff != "" {
				t.Errorf("reasons (-want +got):\n%s", diff)
			}
			if d.Verdict != tt.verdict {
				t.Errorf("verdict = %v, want %v", d.Verdict, tt.verdict)
			}
		})
	}
}

func TestDecideErrors(t *testing.T) {
	p := examplePolicy(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if d, err := p.Decide(ctx, eligible()); err == nil || d.Remediates() {
		t.Errorf("Decide(cancelled) = %+v, %v; want an error and no remediation", d, err)
	}
	if d, err := p.Decide(context.Background(), nil); !remediate.IsPermanent(err) || d.Remediates() {
		t.Errorf("Decide(nil) = %+v, %v; want a permanent error", d, err)
	}
	if err := p.Enrich(context.Background(), nil); !remediate.IsPermanent(err) {
		t.Errorf("Enrich(nil) = %v; want a permanent error", err)
	}
}

// One policy serves many goroutines; run with -race.
func TestConcurrentUse(t *testing.T) {
	p := examplePolicy(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				f := eligible()
				if (g+i)%3 == 0 {
					f.Resource.ID, f.Resource.ARN = "arn:aws:s3:::www-example-com", "arn:aws:s3:::www-example-com"
				}
				if err := p.Enrich(context.Background(), f); err != nil {
					t.Error(err)
					return
				}
				if _, err := p.Decide(context.Background(), f); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// The zero Policy approves nothing and never panics.
func TestZeroPolicy(t *testing.T) {
	var p Policy
	f := eligible()
	if err := p.Enrich(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	d, err := p.Decide(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	want := []reason{
		{CheckEnvironment, review, "no configured source (none)"},
		{CheckOwner, review, "no configured source (none)"},
		{CheckAccount, review, "111111111111"},
		{CheckResourceType, review, "bucket"},
		{CheckControl, review, "wc-id-1234"},
	}
	if diff := cmp.Diff(want, reasonsOf(d, want)); diff != "" {
		t.Errorf("reasons (-want +got):\n%s", diff)
	}
}

// add must record reasons exactly as remediate.Decision.Add does.
func TestAddMatchesDecisionAdd(t *testing.T) {
	verdicts := []remediate.Verdict{remediate.VerdictRemediate, review, skip, remediate.VerdictReject}
	for _, a := range verdicts {
		for _, b := range verdicts {
			for _, c := range verdicts {
				want := remediate.Decision{Verdict: remediate.VerdictRemediate}
				got := remediate.Decision{Verdict: remediate.VerdictRemediate}
				for i, v := range []remediate.Verdict{a, b, c} {
					msg := fmt.Sprint("m", i)
					want.Add("check", v, "%s", msg)
					add(&got, "check", v, msg)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%v, %v, %v (-Decision.Add +add):\n%s", a, b, c, diff)
				}
			}
		}
	}
}

func TestQuoteMatchesFmt(t *testing.T) {
	for _, s := range []string{"", "bucket", "111111111111", `a"b`, `a\b`, "tab\there", "new\nline", "café", "zero\u200bwidth", "\xff", "del\x7f"} {
		if got, want := quote(s), fmt.Sprintf("%q", s); got != want {
			t.Errorf("quote(%q) = %s, want %s", s, got, want)
		}
	}
}
