package eligibility

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/remedy-sec/remedy/remediate"
)

// TestDecideDefaultDeny checks random findings against the seed's rule,
// written out independently: Decide remediates exactly the findings the
// rule (plus the example policy's approvals) allows, and nothing else.
func TestDecideDefaultDeny(t *testing.T) {
	p := examplePolicy(t)
	playbook := map[string]string{
		"wc-id-1234": "s3-block-public-access", "S3-019": "s3-block-public-access",
		"S3-004": "s3-default-encryption", "EC2-022": "sg-revoke-public-ingress",
	}
	allowed := map[string][]string{
		"bucket":        {"s3-block-public-access", "s3-default-encryption"},
		"securityGroup": {"sg-revoke-public-ingress"},
	}
	// pick favours the first (eligible) value so that the remediate path
	// is exercised often.
	pick := func(r *rand.Rand, vs ...string) string {
		if r.IntN(2) == 0 {
			return vs[0]
		}
		return vs[r.IntN(len(vs))]
	}
	r := rand.New(rand.NewPCG(1, 2))
	remediated := 0
	for i := range 20000 {
		f := &remediate.Finding{
			TriggerType: pick(r, "CREATED", "REOPENED", "UPDATED", "RESOLVED", ""),
			Status:      pick(r, "OPEN", "IN_PROGRESS", "RESOLVED", ""),
			Severity:    remediate.Severity(pick(r, "HIGH", "CRITICAL", "LOW", "")),
			Environment: pick(r, "production", "staging", "restricted-production", "prod", ""),
			Owner:       pick(r, "team@example.com", ""),
			Control: remediate.Control{
				ID:           pick(r, "wc-id-1234", "wc-unmapped", "EC2-022", ""),
				SourceRuleID: pick(r, "S3-019", "S3-004", ""),
			},
			Resource: remediate.Resource{
				ID:      pick(r, "arn:aws:s3:::payments", "arn:aws:s3:::www-example-com"),
				Type:    pick(r, "bucket", "securityGroup", "Bucket", ""),
				Account: pick(r, "111111111111", "222222222222", "333333333333", "999999999999", ""),
				Tags:    map[string]string{},
			},
			ProposedAction: pick(r, "", "", "s3-block-public-access", "sg-revoke-public-ingress"),
		}
		if r.IntN(4) != 0 {
			f.Resource.Tags["team"] = "payments"
		}
		if r.IntN(8) == 0 {
			f.AddConcern("resource.region", "missing")
		}

		byID, okID := playbook[f.Control.ID]
		bySrc, okSrc := playbook[f.Control.SourceRuleID]
		action := byID
		if !okID {
			action = bySrc
		}
		excepted := f.Resource.ID == "arn:aws:s3:::www-example-com" && f.Resource.Account == "111111111111" &&
			(f.Control.ID == "wc-id-1234" || f.Control.SourceRuleID == "wc-id-1234")
		want := len(f.Concerns) == 0 &&
			(f.TriggerType == "CREATED" || f.TriggerType == "REOPENED") &&
			(f.Status == "OPEN" || f.Status == "IN_PROGRESS") &&
			(f.Severity == "HIGH" || f.Severity == "CRITICAL") &&
			(f.Environment == "production" || f.Environment == "staging") &&
			f.Owner != "" && !excepted &&
			slices.Contains([]string{"111111111111", "222222222222", "333333333333"}, f.Resource.Account) &&
			(okID || okSrc) && !(okID && okSrc && byID != bySrc) &&
			slices.Contains(allowed[f.Resource.Type], action) &&
			(f.ProposedAction == "" || f.ProposedAction == action) &&
			f.Resource.Tags["team"] != ""

		d, err := p.Decide(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		if d.Remediates() != want {
			t.Fatalf("case %d: Remediates() = %v, want %v\nfinding %+v\ndecision %+v", i, d.Remediates(), want, f, d)
		}
		if (d.Verdict == remediate.VerdictRemediate) != (len(d.Reasons) == 0) {
			t.Fatalf("case %d: verdict %v with %d reasons", i, d.Verdict, len(d.Reasons))
		}
		if want {
			remediated++
		}
	}
	if remediated == 0 {
		t.Fatal("no random finding was eligible: the generator does not exercise the remediate path")
	}
	t.Logf("%d of 20000 random findings remediated", remediated)
}
