// Package remediate is the core of Remedy: the normalized Finding, the
// policy's Decision, the Remediator contract, the Registry of
// remediators, and the Engine that takes one message from receipt to a
// durable audit record.
//
// The engine runs these stages, each behind an interface so that it can
// be replaced and tested on its own:
//
//	Authenticator  optional: is the body from a trusted sender (package adapters/snsverify)
//	Parser       body → *Finding            (package wizpayload)
//	Enricher     environment, owner, exceptions (package eligibility)
//	IdempotencyStore  one change per delivery (MemoryIdempotency, or DynamoDB)
//	Policy       *Finding → Decision        (package eligibility)
//	CredentialSource  scoped AWS config for the account (package crossaccount)
//	Remediator   Plan → Apply → Verify      (packages under remediators/)
//	audit.Sink   the evidence; Review gets review and failed outcomes
//
// Default deny holds at every step: a Decision's zero value never
// remediates; a concern, an unknown action, a resource type the
// remediator does not declare, or a sensitive remediator the policy did
// not approve (Decision.SensitiveApproved) sends the finding to review
// even if a policy approved it; a permanent error ends as a failed
// outcome routed to review; anything else unsure is returned as a
// transient error so the queue retries it.
//
// Approval of a plan: when a Decision requires approval
// (ApprovalRequired), or its remediator is sensitive and not approved to
// run unattended, an engine with an ApprovalStore (Options.Approvals)
// plans against live state, stores the plan and its hash (PlanHash) as
// an ApprovalRequest and ends the finding in review, naming the request.
// An approval message ({"remedy_approval": ...}, see Approval and
// ParseApprovalMessage) is recognised before the Parser; the engine
// verifies its HMAC (Options.ApprovalKey), its expiry and that the
// request is consumed once, decides the stored finding again, plans
// again, and applies only a plan with the approved hash — otherwise it
// asks again with a new request. Every step is audited; the record names
// the approver (audit.Record.Approval).
//
// What is checked before any finding arrives:
//
//	Registry.Register  the Spec is complete (Spec.Validate): every resource
//	                   type declares the ARN patterns its session may cover
//	                   (Spec.Resources), of services its IAM actions belong to
//	NewEngine          the required options; a Policy that names its actions
//	                   (ActionNamer, ResourceTypeNamer) names only registered
//	                   ones, each for types its remediator fixes; a Policy
//	                   that is an Enricher enriches unless Options.Enricher
//	                   is set
//
// Errors are transient unless marked with Permanent. ClassifyAWS marks
// AWS error codes that retrying cannot fix (its documentation lists
// them); a remediator adds its own with Spec.PermanentErrorCodes.
//
// The rules a remediator keeps are on the Remediator type; package
// remediatetest checks them against a real account or moto.
package remediate
