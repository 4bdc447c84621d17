// Package snsreview is the review route of Remedy: an audit.Sink that
// publishes the records a human must look at (outcomes review and failed)
// to an SNS topic, with the context needed to act without opening
// anything else.
//
//	review := snsreview.New(sns.NewFromConfig(cfg), topicARN)
//	engine, err := remediate.NewEngine(remediate.Options{Review: review, ...})
//
// The engine writes a review or failed record to Options.Review before
// it audits the record; a publish error is returned, so the message is
// retried and the review is never silently dropped.
//
// Each notification is published with MessageStructure "json": email
// subscribers get a plain-text summary, every other protocol (SQS,
// Lambda, HTTPS, email-json) gets a [Message] as JSON. The subject (at
// most 100 ASCII characters) names the outcome, severity, control and
// resource. String message attributes "outcome", "decision", "severity",
// "account", "region", "action", "environment" and "resource_type"
// (those that are set) let subscriptions filter, for example one queue
// per team or only failed outcomes.
//
// Links: the Wiz issue (for findings whose source is Wiz), the resource
// in the AWS console (for an ARN, or an EC2 id with a region), and any
// that Options.Links adds. On a FIFO topic the message group is the
// account and the deduplication id is the record id, so a retried write
// is not delivered twice.
package snsreview
