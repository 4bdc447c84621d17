package snsverify_test

import (
	"context"
	"log"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/remedy-sec/remedy/adapters/awslambda"
	"github.com/remedy-sec/remedy/adapters/snsverify"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/eligibility"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediators/s3publicaccess"
	"github.com/remedy-sec/remedy/wizpayload"
)

// A Lambda function behind SNS → SQS that reads only notifications of
// the findings topic signed by Amazon SNS; anything else is audited as
// rejected for authenticity and never parsed.
func Example() {
	v, err := snsverify.New(snsverify.Options{
		TopicARNs: []string{os.Getenv("FINDINGS_TOPIC_ARN")},
	})
	if err != nil {
		log.Fatal(err)
	}
	reg, err := remediate.NewRegistry(s3publicaccess.New())
	if err != nil {
		log.Fatal(err)
	}
	engine, err := remediate.NewEngine(remediate.Options{
		Authenticator: v,
		Parser:        wizpayload.New(),
		Policy:        eligibility.Default(),
		Registry:      reg,
		Audit:         audit.NewJSONLines(os.Stdout),
		Mode:          remediate.ModeDecideOnly, // Apply and DryRun also need Options.Credentials (crossaccount)
	})
	if err != nil {
		log.Fatal(err)
	}
	lambda.Start(awslambda.NewSQSHandler(engine).Handle)
}

// Authenticate can also be called on its own, for example by an HTTP
// endpoint subscribed to the topic.
func ExampleVerifier_Authenticate() {
	v, err := snsverify.New(snsverify.Options{TopicARNs: []string{"arn:aws:sns:eu-west-1:111122223333:remedy-findings"}})
	if err != nil {
		log.Fatal(err)
	}
	body := []byte(`{"Type":"Notification", "...": "..."}`)
	if err := v.Authenticate(context.Background(), body); err != nil {
		log.Printf("refused: %v", err) // a *remediate.RejectError, or a transient error to retry
	}
}
