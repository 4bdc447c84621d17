// Package snsreview is the review route of Remedy: an audit.Sink that
// publishes the records a human must look at (outcomes review, failed
// and rejected) to an SNS topic, with the context needed to act without
// opening anything else.
//
//	review := snsreview.New(sns.NewFromConfig(cfg), topicARN)
//	engine, err := remediate.NewEngine(remediate.Options{Review: review, ...})
//
// The engine writes a review, failed or rejected record to
// Options.Review before it audits the record; a publish error is
// returned, so the message is retried and the review is never silently
// dropped.
//
// Each notification is published with MessageStructure "json": email
// subscribers get a plain-text summary, every other protocol (SQS,
// Lambda, HTTPS, email-json) gets a [Message] as JSON. The subject (at
// most 100 ASCII characters) names the outcome, severity, control and
// resource. String message attributes "outcome", "decision", "severity",
// "account", "region", "action", "environment", "resource_type" and
// "approval" (those that are set) let subscriptions filter, for example
// one queue per team, only failed outcomes, or only plans that wait for
// approval (approval "requested").
//
// A plan that waits for approval (a record whose Approval has status
// requested, or drifted when live state changed before the approval
// came) is announced as "approval needed": the notification carries the
// plan (Evidence: before, after, changes), its hash and the request id,
// and the email text says how to approve it (remedy approve ID).
//
// Every value in the email text is passed through Escape: a newline,
// carriage return or other control character, a Unicode line or
// paragraph separator, or a bidirectional override in a resource name,
// control name, reason or id is shown as an escape (\n, \u202e), so a
// payload cannot add lines to a review or reorder it. The JSON document
// carries the values as they are.
//
// Rejected records (a payload template that breaks, a sender that is not
// Amazon SNS) can come by the thousand, so they are grouped by reason —
// the check that rejected them and their reason with quoted values and
// digits left out, escaped and cut — and rate-limited: the first
// rejection of a reason is published at once, and the rejections of that
// reason within Options.RejectedInterval (default 5 minutes) are counted
// and reported by its next notification, which says how many there were
// and names a few record ids (Message.Rejections). Nothing is dropped: a
// notification that fails keeps its counts for the next one, and Flush
// reports what is still counted. The counts live in the sink's memory,
// one process at a time; each rejection also has its own audit record.
//
// Links: the Wiz issue (for findings whose source is Wiz), the resource
// in the AWS console (for an ARN, or an EC2 id with a region), and any
// that Options.Links adds. On a FIFO topic the message group is the
// account and the deduplication id is the record id (for rejections, a
// digest of what the notification counts), so a retried write is not
// delivered twice.
package snsreview
