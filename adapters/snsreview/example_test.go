package snsreview_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/remedy-sec/remedy/adapters/awslambda"
	"github.com/remedy-sec/remedy/adapters/snsreview"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/eligibility"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediators/sgingress"
	"github.com/remedy-sec/remedy/wizpayload"
)

// The review route goes in the engine's Options.Review: findings a person
// must act on are published to the topic before they are audited, and a
// failed publish retries the message.
func ExampleNew() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	review := snsreview.New(sns.NewFromConfig(cfg), "arn:aws:sns:eu-west-1:123456789012:remedy-review",
		func(o *snsreview.Options) {
			// A message about to be dead-lettered needs a person too.
			o.Outcomes = []string{
				string(remediate.OutcomeReview), string(remediate.OutcomeFailed), string(remediate.OutcomeDeadLettered),
			}
			o.Links = func(r *audit.Record) []snsreview.Link {
				return []snsreview.Link{{Name: "Runbook", URL: "https://runbooks.example.com/remedy/" + r.Finding.ControlID}}
			}
		})

	policy, err := eligibility.Load("policy.yaml")
	if err != nil {
		log.Fatal(err)
	}
	reg, err := remediate.NewRegistry(sgingress.New())
	if err != nil {
		log.Fatal(err)
	}
	engine, err := remediate.NewEngine(remediate.Options{
		Parser:   wizpayload.New(),
		Enricher: policy,
		Policy:   policy,
		Registry: reg,
		Review:   review,
		Audit:    audit.NewJSONLines(os.Stdout),
		// ModeDecideOnly changes nothing; ModeApply and ModeDryRun also need
		// Options.Credentials, a *crossaccount.Cache.
		Mode:            remediate.ModeDecideOnly,
		MaxReceiveCount: 5, // the queue's redrive policy: a last delivery that fails is routed
	})
	if err != nil {
		log.Fatal(err)
	}
	lambda.Start(awslambda.NewSQSHandler(engine).Handle)
}

// Sink.Message is the notification a review record becomes: what a bridge
// to a ticketing or chat tool receives as JSON, and what email subscribers
// get summarized.
func ExampleSink_Message() {
	// Message publishes nothing, so this client is never called.
	review := snsreview.New(sns.New(sns.Options{Region: "eu-west-1"}), "arn:aws:sns:eu-west-1:123456789012:remedy-review")

	m := review.Message(&audit.Record{
		ID:   "Q2YVNH7KZ4XJ3M5WBA6DTRLEGC",
		Time: time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC),
		Finding: audit.Finding{
			ID: "wiz-issue-42", Source: "wiz", Severity: "CRITICAL", ControlName: "Security group allows SSH from the internet",
		},
		Resource: audit.Resource{ID: "sg-0abc", Type: "securityGroup", Account: "111111111111", Region: "eu-west-1"},
		Decision: "review",
		Outcome:  "review",
		Reasons:  []audit.Reason{{Check: "owner", LeadsTo: "review", Message: "the finding has no owner"}},
	})
	fmt.Println(m.Subject)
	for _, r := range m.Reasons {
		fmt.Printf("%s: %s\n", r.Check, r.Message)
	}
	for _, l := range m.Links {
		fmt.Printf("%s: %s\n", l.Name, l.URL)
	}
	// Output:
	// Remedy review: CRITICAL Security group allows SSH from the internet on sg-0abc (111111111111)
	// owner: the finding has no owner
	// Wiz issue: https://app.wiz.io/issues#~(issue~'wiz-issue-42)
	// AWS console: https://eu-west-1.console.aws.amazon.com/ec2/home?region=eu-west-1#SecurityGroup:groupId=sg-0abc
}
