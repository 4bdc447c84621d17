package eligibility_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/remedy-sec/remedy/eligibility"
	"github.com/remedy-sec/remedy/remediate"
)

func ExamplePolicy_Decide() {
	policy, err := eligibility.Load("testdata/example-policy.yaml", func(o *eligibility.Options) {
		o.Now = func() time.Time { return time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC) }
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	finding := func(account string, severity remediate.Severity, tags map[string]string) *remediate.Finding {
		return &remediate.Finding{
			ID:          "5b0e6c9a",
			TriggerType: "CREATED",
			Status:      "OPEN",
			Severity:    severity,
			Control:     remediate.Control{ID: "wc-id-1234", SourceRuleID: "S3-019"},
			Resource: remediate.Resource{
				ID:      "arn:aws:s3:::payments-exports",
				Type:    "bucket",
				Account: account,
				Tags:    tags,
			},
		}
	}
	tags := map[string]string{"Environment": "production", "Owner": "payments@example.com", "team": "payments"}
	for _, f := range []*remediate.Finding{
		finding("111111111111", remediate.SeverityHigh, tags),
		finding("111111111111", remediate.SeverityLow, tags),
		// No tags: the environment comes from the account, and it is restricted.
		finding("333333333333", remediate.SeverityCritical, nil),
		// The tag says production, the account says staging.
		finding("222222222222", remediate.SeverityCritical, tags),
	} {
		// Enrich sets environment, owner and exception from the sources
		// the policy trusts; Decide then reads them.
		if err := policy.Enrich(ctx, f); err != nil {
			log.Fatal(err)
		}
		d, err := policy.Decide(ctx, f)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s %s: %s %s\n", f.Resource.Account, f.Severity, d.Verdict, d.Action)
		for _, r := range d.Reasons {
			fmt.Printf("  %s → %s: %s\n", r.Check, r.Verdict, r.Message)
		}
	}
	// Output:
	// 111111111111 HIGH: remediate s3-block-public-access
	// 111111111111 LOW: skip s3-block-public-access
	//   severity → skip: severity is LOW: only HIGH or CRITICAL findings are fixed
	// 333333333333 CRITICAL: review s3-block-public-access
	//   environment → review: environment "restricted-production" is restricted: changes there need a person
	//   owner → review: owner is unknown: no configured source (tag:Owner, tag:owner) named one
	//   rule:team-tag → review: the resource has no team tag, so nobody would know who changed it
	// 222222222222 CRITICAL: review s3-block-public-access
	//   payload → review: environment: environment sources disagree: tag:Environment says "production", account says "staging"
	//   environment → review: environment is unknown: no configured source (tag:Environment, tag:env, account) named one
}
