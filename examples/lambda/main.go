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
// deploy; the template sets them.
package main

import "github.com/remedy-sec/remedy/deploy"

func main() {
	// A team's own function adds its remediators here:
	//	deploy.Lambda(func(c *deploy.Config) { c.Remediators = append(c.Remediators, mine.New()) })
	deploy.Lambda()
}
