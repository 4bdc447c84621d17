// Package awslambda runs a remediate engine (any batch.Processor) as an
// AWS Lambda function triggered by SQS or directly by SNS.
//
// The handlers are thin: they turn records into remediate.Message values,
// run them through package batch with bounded concurrency, and map each
// result to the acknowledgement Lambda understands. They hold no decision
// logic. A record is acknowledged when Process returned a nil error
// (rejected, skipped, review, compliant, applied, planned, failed and
// duplicates alike); only transient errors are retried.
//
//	func main() {
//		engine, err := remediate.NewEngine(opts)
//		if err != nil {
//			log.Fatal(err)
//		}
//		h := awslambda.NewSQSHandler(engine, func(o *awslambda.Options) {
//			o.Logger = slog.Default()
//		})
//		lambda.Start(h.Handle)
//	}
//
// # SQS trigger
//
// [SQSHandler.Handle] returns an events.SQSEventResponse listing the
// transiently failed records; the event source mapping must enable
// ReportBatchItemFailures. Bodies are passed through unchanged: the
// engine's parser accepts both raw delivery and an SNS envelope.
// ApproximateReceiveCount becomes Message.ReceiveCount.
//
// For a FIFO queue (an event source ARN ending in ".fifo") records of one
// MessageGroupId run one at a time in order, and after a failure the rest
// of that group is reported as failed without being processed, so a retry
// keeps the order. Groups run concurrently.
//
// # Throttled accounts
//
// With Options.Queue (deploy.Lambda sets it), a record whose failure says
// when to retry (batch.RetryAfter: its customer account is throttled, see
// crossaccount.Throttle) gets that back-off as its visibility timeout, so
// it returns when the account's rate limit can serve it; before its last
// delivery (Options.MaxReceiveCount) it is requeued — sent again as a
// new, delayed message — and acknowledged, so that throttling does not
// send a healthy finding to the dead-letter queue.
//
// # Deadline
//
// Lambda stops an invocation at its deadline, and a batch whose handler
// did not return is retried whole. So the handler starts no record when
// less than Options.DeadlineMargin is left and reports the unstarted ones
// as failures, and it cancels the records still running
// Options.ResponseReserve before the deadline, which leaves time to
// return the response. Both are capped at a share of the time left when
// the batch starts (a half and a tenth), so a function with a short
// timeout still makes progress. Nothing is lost: every record not acknowledged is
// redelivered by SQS, and the engine's idempotency store keeps a record
// that was finished from being acted on twice.
//
// # SNS trigger
//
// [SNSHandler.Handle] processes an events.SNSEvent. Lambda has no partial
// failure for SNS: the handler returns an error if any record failed
// transiently, which makes Lambda's asynchronous invocation retry the
// event (configure an on-failure destination or DLQ for the function).
// Each record is given to the engine as an SNS envelope, as SQS would
// deliver it, so the SNS MessageId becomes the finding's correlation id.
package awslambda
