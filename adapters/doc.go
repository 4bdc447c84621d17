// Package adapters holds thin wrappers that connect the engine in
// package remediate to where it runs. Each lives in its own package:
//
//	adapters/batch       run a batch of messages through an engine with bounded concurrency
//	adapters/awslambda   Lambda handlers for SQS (partial batch failure, FIFO groups, deadline) and SNS triggers
//	adapters/sqsworker   long-polling SQS worker: heartbeat, retry back-off, batch deletes, graceful shutdown
//	adapters/dynamo      DynamoDB idempotency store (shared across workers) and durable audit sink
//	adapters/snsreview   review route: publishes review and failed records to an SNS topic
//
// Adapters hold no decision logic: they turn transport messages into
// remediate.Message values, call Engine.Process, and acknowledge exactly
// the messages whose error is nil.
package adapters
