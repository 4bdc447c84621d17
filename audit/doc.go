// Package audit defines Remedy's evidence: one Record per terminal
// decision, and the Sink interface that persists it.
//
// The engine in package remediate builds every Record; a Sink only
// stores it, the way a slog.Handler only stores what a slog.Logger built.
// A message is acknowledged only after its Sink returned nil, so a sink
// that cannot write makes the message retry rather than lose evidence.
//
//	sink := audit.Multi(
//		audit.NewJSONLines(os.Stdout), // CloudWatch Logs on Lambda
//		durable,                             // e.g. a DynamoDB or S3 sink
//	)
//
// Records carry a schema version (SchemaVersion), published as a JSON
// Schema (JSONSchema, record.schema.json) for consumers outside Go, and
// never hold credentials or external IDs. Package audittest has a conformance suite
// for people who write their own Sink.
package audit
