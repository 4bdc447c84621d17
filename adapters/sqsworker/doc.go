// Package sqsworker runs a remediate engine (any batch.Processor) as a
// long-running SQS consumer, for ECS, Kubernetes or any host that is not
// Lambda.
//
//	client := sqs.NewFromConfig(cfg)
//	w := sqsworker.New(client, queueURL, engine, func(o *sqsworker.Options) {
//		o.Concurrency = 16
//		o.Logger = slog.Default()
//	})
//	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
//	defer stop()
//	if err := w.Run(ctx); err != nil {
//		log.Fatal(err)
//	}
//
// The worker is thin: it receives, runs each message through package
// batch and acts on the result. A message is deleted when Process
// returned a nil error; a transient error gives it back to the queue.
//
//   - Receive: long polls of up to 10 messages (20 s waits by default),
//     and only as many as there are free slots: Concurrency messages are
//     processed at once and up to Prefetch more (10 by default) wait,
//     received ahead, so a processing slot that frees up takes the next
//     message at once instead of after a receive round trip. Waiting
//     messages are heartbeated like running ones, and released unstarted
//     at shutdown — except one on its last delivery (Options.MaxReceiveCount),
//     which is processed within the drain so that it never reaches the
//     dead-letter queue unprocessed.
//   - Heartbeat: while a message is in flight its visibility timeout is
//     extended (ChangeMessageVisibilityBatch) every HeartbeatInterval, so
//     a slow remediation is not delivered to a second worker.
//   - Retry back-off: a transient failure sets the message's visibility
//     to RetryBase·2^(ApproximateReceiveCount-1), capped at RetryMax,
//     so retries slow down until the queue's redrive policy moves the
//     message to the dead-letter queue.
//   - Throttling: a failure that says when to retry (RetryAfter; a
//     crossaccount.ThrottledError when the finding's customer account is
//     throttled) sets the visibility to that instead, so the throttled
//     account's findings come back when its rate limit can serve them and
//     the slot goes to other accounts' findings meanwhile. Such a message
//     with one delivery or none left is requeued — sent again as a new
//     message, delayed, and the delivery deleted — up to MaxRequeues
//     times, so that a healthy finding in a throttled account does not
//     reach the dead-letter queue.
//   - Deletes: acknowledged messages are deleted with DeleteMessageBatch,
//     up to 10 at a time, after at most DeleteDelay.
//   - FIFO: for a queue whose URL ends in ".fifo", messages of one
//     MessageGroupId in a receive run one at a time in order; after a
//     failure the rest of that group is released unprocessed (SQS keeps
//     the group blocked until the failed message is retried).
//   - Shutdown: when Run's context ends the worker stops receiving,
//     lets in-flight messages finish for up to DrainTimeout, then cancels
//     them and releases every unfinished message (visibility 0) so another
//     worker takes it at once. Pending deletes are flushed. Run returns
//     only when every goroutine it started has ended.
//
// A receive cut short by shutdown may already have taken messages off the
// queue on the server side; they reappear when their visibility timeout
// ends. Nothing is lost: SQS redelivers whatever was not deleted, and the
// engine's idempotency store keeps a message that was finished from being
// acted on twice.
package sqsworker
