// Package remedy is a Go library and SDK for guardrailed auto-remediation
// of cloud security findings.
//
// A detection tool (Wiz first) raises a finding; Remedy decides whether it
// is safe to fix automatically, fixes it in the customer's AWS account
// through a scoped cross-account role, verifies the fix, and leaves audit
// evidence for every decision. Anything ambiguous, protected or failed
// goes to a human instead of being changed.
//
// The SDK is a set of small packages, with dependencies pointing one way
// (package remediate imports audit; everything else imports remediate):
//
//	remediate     Finding, Decision, Remediator, Registry, and the Engine
//	              that runs (authenticate →) parse → enrich → decide →
//	              deduplicate → assume → plan → apply → verify → review → audit
//	wizpayload    strict parser of Wiz automation-rule payloads (raw or SNS-wrapped)
//	eligibility   the policy: default deny, YAML policy file, CEL rules, exceptions
//	crossaccount  account allowlist, STS AssumeRole with external ID, scoped
//	              session policies, the credential cache
//	audit         Record, Sink, Multi, the JSON-lines sink; audit/audittest
//	adapters      thin wrappers for batches, Lambda and SQS workers; DynamoDB
//	              idempotency and audit, the SNS review route, SNS signature checks
//	remediators   built-in fixes, one package each; remediate/remediatetest
//	              (conformance suite) and remediate/remediatetest/mototest
//	deploy        the engine from environment variables over your remediators;
//	              deploy.Lambda and deploy.Worker; deploy/lambdatest
//	cli           the operator commands (decide, plan, iam-policy, replay,
//	              tables) over your remediators; cmd/remedy is its main
//	examples      runnable mains: local, lambda, worker, demo, and custom
//	              (a separate module with its own remediator)
//
// A team's Lambda function with its own remediator beside the built-ins:
//
//	func main() {
//		deploy.Lambda(func(c *deploy.Config) {
//			c.Remediators = append(c.Remediators, s3versioning.New())
//		})
//	}
//
// A minimal engine that decides without touching AWS:
//
//	policy, err := eligibility.Load("policy.yaml")
//	...
//	eng, err := remediate.NewEngine(remediate.Options{
//		Parser:   wizpayload.New(),
//		Enricher: policy,
//		Policy:   policy,
//		Registry: reg,
//		Audit:    audit.NewJSONLines(os.Stdout),
//		Mode:     remediate.ModeDecideOnly,
//	})
//	rec, err := eng.Process(ctx, remediate.Message{ID: id, Body: body})
//	// err != nil: transient, do not acknowledge; otherwise rec is the evidence.
//
// See the README for the policy file format and the two commands that run
// the demo and every test.
package remedy
