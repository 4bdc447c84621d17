package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/remedy-sec/remedy/adapters/awslambda"
	"github.com/remedy-sec/remedy/adapters/dynamo"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/eligibility"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediators/s3publicaccess"
	"github.com/remedy-sec/remedy/wizpayload"
)

// A Lambda function's engine gets the DynamoDB stores, so that every
// instance reading the queue shares one deduplication table and every
// decision is kept in a durable audit table.
func Example() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	db := dynamodb.NewFromConfig(cfg)

	policy, err := eligibility.Load("policy.yaml")
	if err != nil {
		log.Fatal(err)
	}
	reg, err := remediate.NewRegistry(s3publicaccess.New())
	if err != nil {
		log.Fatal(err)
	}
	engine, err := remediate.NewEngine(remediate.Options{
		Parser:   wizpayload.New(),
		Enricher: policy,
		Policy:   policy,
		Registry: reg,
		Idempotency: dynamo.NewIdempotency(db, "remedy-idempotency", func(o *dynamo.IdempotencyOptions) {
			o.ClaimTTL = 5 * time.Minute // above Timeout, so a slow finding keeps its claim
		}),
		// CloudWatch Logs for people, the table for evidence: a message is
		// acknowledged only when both accepted its record.
		Audit: audit.Multi(
			audit.NewJSONLines(os.Stdout),
			dynamo.NewAuditSink(db, "remedy-audit", func(o *dynamo.AuditOptions) {
				o.Retention = 400 * 24 * time.Hour // items expire through the table's TTL
			}),
		),
		Timeout: 2 * time.Minute,
		// ModeDecideOnly changes nothing; ModeApply and ModeDryRun also need
		// Options.Credentials, a *crossaccount.Cache.
		Mode: remediate.ModeDecideOnly,
	})
	if err != nil {
		log.Fatal(err)
	}
	lambda.Start(awslambda.NewSQSHandler(engine).Handle)
}

// AuditSink.Get reads back the whole record behind a review notification's
// record_id, evidence included.
func ExampleAuditSink_Get() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	records := dynamo.NewAuditSink(dynamodb.NewFromConfig(cfg), "remedy-audit")

	rec, err := records.Get(ctx, "Q2YVNH7KZ4XJ3M5WBA6DTRLEGC")
	if errors.Is(err, dynamo.ErrNotFound) {
		fmt.Println("no such record (expired, or another table)")
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %s on %s: %s\n", rec.Outcome, rec.Action, rec.Resource.ID, rec.FailureReason)
	for _, c := range rec.Evidence.Changes {
		fmt.Println(" -", c)
	}
}
