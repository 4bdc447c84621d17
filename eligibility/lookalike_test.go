package eligibility

import (
	"context"
	"testing"

	"github.com/remedy-sec/remedy/remediate"
)

// decideEnriched enriches a copy of f with p and decides it.
func decideEnriched(t *testing.T, p *Policy, f *remediate.Finding) remediate.Decision {
	t.Helper()
	if err := p.Enrich(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	d, err := p.Decide(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestExceptionCoversEverySpelling: an exception must apply whether the
// policy or the payload names the resource by ARN or by id.
// Matching too narrowly would change a resource a person excepted.
func TestExceptionCoversEverySpelling(t *testing.T) {
	policyFor := func(resource string) *Policy {
		return parsePolicy(t, `
name: spellings
approved_resource_types: {bucket: [s3-block-public-access], securityGroup: [sg-revoke-public-ingress]}
playbooks: {wc-id-1234: s3-block-public-access, EC2-022: sg-revoke-public-ingress}
environment: {known: [production], sources: [account]}
owner: {sources: [account]}
accounts: [{id: "111111111111", environment: production, owner: ops@example.com}]
exceptions:
  - id: EXC-1
    resource: "`+resource+`"
    owner: web@example.com
    reason: served publicly on purpose
    expires: 2027-06-30
`)
	}
	bucket := func(id, arn, name string) *remediate.Finding {
		f := eligible()
		f.Resource.ID, f.Resource.ARN, f.Resource.Name = id, arn, name
		f.Resource.Tags = map[string]string{"team": "web"}
		return f
	}
	sg := func(id, arn string) *remediate.Finding {
		f := eligible()
		f.Control = remediate.Control{ID: "EC2-022"}
		f.Resource.Type = "securityGroup"
		f.Resource.ID, f.Resource.ARN, f.Resource.Name = id, arn, "web-sg"
		return f
	}
	const bArn, sgArn = "arn:aws:s3:::www-example-com", "arn:aws:ec2:us-east-1:111111111111:security-group/sg-0abc"
	tests := []struct {
		name      string
		exception string
		f         *remediate.Finding
	}{
		{"ARN in policy, ARN in payload", bArn, bucket(bArn, bArn, "www-example-com")},
		{"name in policy, ARN in payload", "www-example-com", bucket(bArn, bArn, "")},
		{"ARN in policy, bare id in payload", bArn, bucket("www-example-com", "", "")},
		{"ARN in policy, bare id and name in payload", bArn, bucket("www-example-com", "", "www-example-com")},
		{"sg id in policy, sg ARN in payload", "sg-0abc", sg(sgArn, sgArn)},
		{"sg ARN in policy, sg id in payload", sgArn, sg("sg-0abc", "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decideEnriched(t, policyFor(tt.exception), tt.f)
			if d.Verdict != remediate.VerdictSkip || d.Remediates() {
				t.Fatalf("verdict = %v, want skip by exception; reasons %+v", d.Verdict, d.Reasons)
			}
			if !hasCheck(d, CheckException) {
				t.Errorf("no exception reason: %+v", d.Reasons)
			}
		})
	}
	// A different resource is not covered.
	d := decideEnriched(t, policyFor(bArn), bucket("arn:aws:s3:::other", "arn:aws:s3:::other", "other"))
	if hasCheck(d, CheckException) {
		t.Errorf("exception for %s covered arn:aws:s3:::other: %+v", bArn, d.Reasons)
	}
}

// TestExceptionIgnoresDisplayNames: an exception covers the resource it
// names by ARN or id, never another resource that merely carries that
// name, or the same id in an ARN of another account: a payload's display
// name must not skip a finding that should be fixed.
func TestExceptionIgnoresDisplayNames(t *testing.T) {
	const (
		bArn   = "arn:aws:s3:::www-example-com"
		sgArn  = "arn:aws:ec2:us-east-1:111111111111:security-group/sg-0abc"
		sgArn2 = "arn:aws:ec2:us-east-1:222222222222:security-group/sg-0abc"
	)
	tests := []struct {
		name      string
		exception string
		edit      func(*remediate.Finding)
	}{
		{"bucket named like the excepted bucket's id", "www-example-com", func(f *remediate.Finding) {
			f.Resource.Name = "www-example-com"
		}},
		{"bucket named like the excepted bucket's ARN", bArn, func(f *remediate.Finding) {
			f.Resource.Name = bArn
		}},
		{"bucket named like the excepted bucket's ARN, no ARN in payload", bArn, func(f *remediate.Finding) {
			f.Resource.ID, f.Resource.ARN, f.Resource.Name = "payments-exports", "", bArn
		}},
		{"security group named like the excepted group", "sg-0abc", func(f *remediate.Finding) {
			f.Control = remediate.Control{ID: "EC2-022"}
			f.Resource.Type = "securityGroup"
			f.Resource.ID, f.Resource.ARN, f.Resource.Name = "sg-0def", "", "sg-0abc"
		}},
		{"same group id in another account's ARN", sgArn, func(f *remediate.Finding) {
			f.Control = remediate.Control{ID: "EC2-022"}
			f.Resource.Type = "securityGroup"
			f.Resource.ID, f.Resource.ARN, f.Resource.Name = sgArn2, sgArn2, "web-sg"
		}},
	}
	policy := func(t *testing.T, resource string) *Policy {
		return parsePolicy(t, `
name: names
approved_resource_types: {bucket: [s3-block-public-access], securityGroup: [sg-revoke-public-ingress]}
playbooks: {wc-id-1234: s3-block-public-access, EC2-022: sg-revoke-public-ingress}
environment: {known: [production], sources: [account]}
owner: {sources: [account]}
accounts: [{id: "111111111111", environment: production, owner: ops@example.com}]
exceptions:
  - id: EXC-1
    resource: "`+resource+`"
    owner: web@example.com
    reason: served publicly on purpose
    expires: 2027-06-30
`)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := policy(t, tt.exception)
			f := eligible()
			tt.edit(f)
			d := decideEnriched(t, p, f)
			if hasCheck(d, CheckException) || f.Exception != remediate.ExceptionNone {
				t.Errorf("exception for %q covered %s (name %q): exception %q, reasons %+v", tt.exception, f.Resource.ID, f.Resource.Name, f.Exception, d.Reasons)
			}
			if d.Verdict == remediate.VerdictSkip {
				t.Errorf("verdict skip, want the finding decided on its own merits: %+v", d.Reasons)
			}
		})
	}

	// A bucket remediator finds a bucket by name when the finding has no
	// id or ARN: such a finding is neither excepted by its name nor
	// changed, but reviewed.
	f := eligible()
	f.Resource.ID, f.Resource.ARN, f.Resource.Name = "", "", "www-example-com"
	d := decideEnriched(t, policy(t, bArn), f)
	if d.Verdict != remediate.VerdictReview || d.Remediates() || !hasCheck(d, CheckException) || f.Exception != remediate.ExceptionNone {
		t.Errorf("finding with only a name: verdict %v, exception %q, reasons %+v; want review on %s", d.Verdict, f.Exception, d.Reasons, CheckException)
	}
}

// TestLookAlikesAreNotValues: Unicode case mapping must not turn a
// look-alike into a trusted value.
func TestLookAlikesAreNotValues(t *testing.T) {
	p := examplePolicy(t)
	tests := []struct {
		name  string
		edit  func(*remediate.Finding)
		check string
	}{
		{"dotted capital I in environment", func(f *remediate.Finding) { f.Resource.Tags["Environment"] = "productİon" }, CheckEnvironment},
		{"Kelvin sign in trigger", func(f *remediate.Finding) { f.TriggerType = "REOPENED"[:0] + "CREATED\u212a" }, CheckTrigger},
		{"dotless i in status", func(f *remediate.Finding) { f.Status = "ın_progress" }, CheckStatus},
		{"zero-width owner", func(f *remediate.Finding) { f.Resource.Tags["Owner"] = "\u200b" }, CheckOwner},
		{"bidi override in owner", func(f *remediate.Finding) { f.Resource.Tags["Owner"] = "ops\u202e" }, CheckOwner},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := eligible()
			f.Resource.Tags = map[string]string{"Environment": "production", "Owner": "ops@example.com", "team": "payments"}
			f.Environment, f.Owner = "", ""
			tt.edit(f)
			d := decideEnriched(t, p, f)
			if d.Remediates() || d.Verdict == remediate.VerdictRemediate {
				t.Fatalf("look-alike remediated: %+v", d)
			}
			if !hasCheck(d, tt.check) {
				t.Errorf("no %s reason: %+v", tt.check, d.Reasons)
			}
		})
	}
	// ASCII case still folds for enumerations.
	f := eligible()
	f.Resource.Tags = map[string]string{"Environment": "PRODUCTION", "Owner": "ops@example.com", "team": "payments"}
	f.TriggerType, f.Status = "created", "In_Progress"
	if d := decideEnriched(t, p, f); !d.Remediates() {
		t.Errorf("ASCII case variants did not remediate: %+v", d.Reasons)
	}
}

func hasCheck(d remediate.Decision, check string) bool {
	for _, r := range d.Reasons {
		if r.Check == check {
			return true
		}
	}
	return false
}
