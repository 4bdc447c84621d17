// Package wizpayload parses the payloads Wiz sends into a
// [remediate.Finding], strictly: a payload decides whether Remedy changes
// a customer's account, so nothing in it is repaired or guessed.
//
// # What it accepts
//
// A message body is either the Wiz payload itself (SNS raw delivery) or an
// SNS envelope whose Message holds it. A body with a top-level Type,
// Message, MessageId or TopicArn member is an envelope: its Type must be
// "Notification" (a SubscriptionConfirmation is rejected and none of its
// URLs is fetched), its MessageId becomes Finding.CorrelationID, and its
// Message is parsed with the same limits and strictness as a raw body.
// Parsing does no I/O and so does not check the envelope's signature:
// give the engine an adapters/snsverify Verifier as its Authenticator
// for that.
//
// The Wiz payload is one of two shapes:
//
//   - the automation-rule template: trigger, issue, resource and control
//     objects whose values are strings, issue.projects a comma-joined
//     string or null. Custom templates may add tags (in resource or at the
//     top level; an object of strings or a string holding one as JSON),
//     and top-level environment, owner and proposedAction strings.
//     issue.created/issue.updated may also be spelled createdAt/updatedAt
//     (one spelling per payload).
//   - the GraphQL issue shape returned by the Wiz API: id, status,
//     severity, createdAt, updatedAt, sourceRule, projects (an array of
//     objects with a name) and entitySnapshot. It carries no trigger, so
//     its TriggerSource is [TriggerSourceAPI] and its TriggerType is
//     empty: a policy that acts only on CREATED or REOPENED sends it to
//     review. Options.AcceptedTriggerSources applies only to payloads
//     that carry a trigger.
//
// # Rejected or concerning
//
// Malformed input is rejected: Parse returns a nil Finding and an error
// wrapping [*remediate.RejectError] whose Field names the payload path,
// such as "resource.subscriptionId" or "issue.severity". Paths inside an
// SNS Message are the Wiz payload's own; paths inside a tags string are
// prefixed with the tags field. Rejected: a body over the size limit,
// nesting too deep, duplicate keys at any depth, invalid UTF-8 (including
// unpaired surrogate escapes), a top level that is not an object, a
// value of the wrong JSON type (null counts as missing: a tag whose value
// is null is no tag), a tag key or value or a top-level environment or
// owner longer than Options.MaxStringBytes, a missing issue
// id or resource id, an issue id that is not 1-128 letters, digits and
// . _ : -, a resource id or type with whitespace, quotes, control or
// format characters, a resource id holding a wildcard (* or ?) or
// starting with "ARN:" in any case but lower, an AWS account id that is
// not exactly 12 digits, an
// AWS region of the wrong shape, an ARN without its six fields, a control
// or rule id or proposedAction with such characters, an empty tag key or
// a tag key or value with control characters, a time that is not RFC
// 3339 (or given under two spellings), a trigger source not accepted, a
// payload mixing both shapes, an SNS Type other than Notification, and
// an SNS Message that is not itself a valid Wiz payload.
//
// Limits serve safety: they bound the body, its nesting and the fields a
// decision reads. A long string nowhere a decision looks is not rejected:
// members the parser does not read (a description) are bounded only by
// the body's size, and free text it keeps (resource, control and rule
// names, the automation rule's id, project names) is cut to 1 KiB and
// marked with "…".
//
// A rejection of a payload that is well-formed JSON keeps what it still
// says about itself, for its record: the RejectError's FindingID, RuleID
// (trigger.ruleId) and ResourceID, each read from its usual place in
// either shape and set only if it is well formed as an accepted
// payload's would be.
//
// Input that is well formed but ambiguous is returned with a Concern per
// problem (see [remediate.Finding.Concerns]), which a policy turns into
// review: a missing or unknown severity, status or trigger type; no
// trigger at all; a missing resource type, account, region or cloud
// platform; a platform other than AWS; a resource ARN whose account or
// region disagrees with the payload's; a resource ARN in a partition
// other than "aws" (only "aws-cn" and "aws-us-gov", spelled exactly, are
// other AWS partitions; without a cloud platform no other makes the
// resource AWS); an AWS resource id that is neither an ARN nor a bare
// identifier of letters, digits and . _ - (an object key, an s3:// URL);
// a composite id (bucket##md5##key) or S3 object ARN naming a
// sub-resource; a region of "global"; tags in
// two places; and a top-level environment or owner that is present but
// empty.
//
// # Normalization
//
// Enumerations (severity, status, trigger source and type, cloud
// platform) are trimmed and matched case-insensitively in ASCII only and
// stored in upper case; a non-ASCII look-alike such as "hıgh" is unknown,
// not HIGH. Identifiers (ids, account, region, type, tag keys) are kept
// exactly as sent. Finding.Severity comes only from the severity;
// the control's is informational. Environment, Owner and Exception are
// never set: top-level environment and owner go to Finding.Declared for
// an enricher to weigh, and a payload cannot grant itself an exception.
// Revision is the trigger type, a colon and the update time (or
// creation time) in RFC 3339 UTC. The default automation-rule template
// carries no update time, so two REOPENED events of one issue would share
// a revision and the second would be taken for a duplicate: when the
// payload has no update time and came through SNS, the envelope's
// Timestamp (RFC 3339, or the body is rejected) is appended as
// "/sns:<time>":
//
//	REOPENED:2026-11-02T10:11:12Z/sns:2026-11-05T09:00:00.123Z
//
// SNS stamps a message once, so a redelivery of the same message (an SQS
// retry) keeps its revision, while a new notification gets a new one.
// CREATED is the exception: an issue is created once, its creation time
// identifies the event, and a second notification of it stays a
// duplicate. A raw delivery carries no Timestamp. CorrelationID is the
// SNS MessageId or "wiz:<issue id>:<revision>". Raw holds the Wiz
// payload's bytes.
//
// A [Parser] is immutable and safe for concurrent use:
//
//	p := wizpayload.New(func(o *wizpayload.Options) {
//		o.AcceptedTriggerSources = []string{"ISSUES", "CONTROL"}
//	})
//	f, err := p.Parse(body)
//	var rej *remediate.RejectError
//	if errors.As(err, &rej) { ... audit as rejected, naming rej.Field ... }
package wizpayload
