// Command lambda is Remedy's reference AWS Lambda function: an SQS event
// source mapping (with ReportBatchItemFailures) delivers Wiz findings
// that SNS fanned out, and the engine decides, fixes through a scoped
// cross-account role, routes reviews to SNS and audits every decision.
//
// Build it for the provided.al2023 runtime:
//
//	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -ldflags='-s -w' -o bootstrap ./examples/lambda
//	zip function.zip bootstrap policy.yaml accounts.yaml
//
// template.yaml is the platform account's stack (topic, queue, dead-letter
// queue, tables, review topic, function, least-privilege execution role);
// customer-role.yaml is the role each customer account creates. The
// function is configured by environment variables, listed in package
// internal/deploy; the template sets them.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/remedy-sec/remedy/adapters/awslambda"
	"github.com/remedy-sec/remedy/deploy"
)

func main() {
	ctx := context.Background()
	cfg, err := deploy.FromEnv(os.Getenv)
	if err != nil {
		fail(err)
	}
	d, err := cfg.Build(ctx, os.Stdout, os.Stderr)
	if err != nil {
		fail(err)
	}
	h := awslambda.NewSQSHandler(d.Engine, func(o *awslambda.Options) {
		o.Concurrency = cfg.Concurrency
		o.Logger = d.Logger
	})
	lambda.StartWithOptions(h.Handle, lambda.WithContext(ctx))
}

// fail reports a configuration error as Lambda shows it (an init error in
// the logs) and exits.
func fail(err error) {
	fmt.Fprintf(os.Stderr, "remedy: %v\n", err)
	os.Exit(1)
}
