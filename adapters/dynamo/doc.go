// Package dynamo holds the DynamoDB-backed stores of Remedy: an
// idempotency store shared by every worker and Lambda instance reading one
// queue, a durable audit sink, an exception store the eligibility
// policy reads beside its file's exceptions, and the approval store of
// plans waiting for a person's approval.
//
//	db := dynamodb.NewFromConfig(cfg)
//	engine, err := remediate.NewEngine(remediate.Options{
//		Idempotency: dynamo.NewIdempotency(db, "remedy-idempotency"),
//		Audit:       audit.Multi(audit.NewJSONLines(os.Stdout), dynamo.NewAuditSink(db, "remedy-audit")),
//		...
//	})
//
// # Idempotency table
//
// Partition key "pk" (string), with DynamoDB TTL enabled on "ttl"
// ([CreateIdempotencyTable] creates it). One item per key:
//
//	pk          the idempotency key
//	status      "in_progress" or "done"
//	expires_at  Unix milliseconds when the claim or the done marker expires
//	owner       a random token of the claim (claims only)
//	ttl         Unix seconds, for DynamoDB's TTL deletion
//
// Begin is a conditional PutItem that succeeds only when no item exists or
// the existing one expired, so exactly one of several concurrent callers
// wins; the others learn from the item returned with the failed condition
// whether the key is done or in progress. A claim expires after ClaimTTL,
// so a crashed worker's claim can be taken over. Complete marks the key
// done for DoneTTL. Release deletes the claim only while it is still in
// progress and still this store's, so a slow worker whose claim was taken
// over cannot release the new owner's claim. DynamoDB's TTL deletion is
// lazy (it can take days), so expiry is decided by expires_at, never by
// the item's presence.
//
// # Audit table
//
// Partition key "id" (string), the record id ([CreateAuditTable] creates
// it). One item per record: the whole record as JSON in "record", plus
// "time", "outcome", "decision", "action", "finding_id", "resource_id",
// "account", "message_id" and "correlation_id" for queries and secondary
// indexes, and "ttl" when a retention is set. The put is conditional on
// the id being new: a retried write of the same record succeeds without a
// second item, and a different record under an existing id is an error.
// A record must fit in a DynamoDB item (400 KB); a larger one fails to
// write, which keeps its message unacknowledged.
//
// # Exception table
//
// Partition key "id" (string), the exception id ([CreateExceptionTable]
// creates it). One item per exception: "owner", "reason", "expires"
// (RFC 3339, the first instant it no longer applies), "created_at", the
// scope fields it sets ("resource", "control", "account", "tag_key" and
// "tag_value") and "revoked_at" once revoked. [Exceptions.Add] puts an
// item only if the id is new; [Exceptions.Revoke] sets revoked_at,
// keeping the item for the record. As an eligibility.ExceptionSource
// (eligibility.Options.Exceptions, REMEDY_EXCEPTION_TABLE in package
// deploy) it scans the table with consistent reads for every finding and
// returns the unrevoked exceptions; the policy matches scope and expiry.
// A read error is returned as it is, so the finding is retried; an item
// that is not a valid exception is a permanent error, so findings go to
// review until it is fixed or revoked.
//
// # Approval table
//
// Partition key "id" (string), the approval request id
// ([CreateApprovalTable] creates it, TTL on "ttl"). One item per
// request: the request as JSON in "request", its "plan_hash" and
// "expires", "ttl" (expiry plus ApprovalOptions.Retention, 7 days by
// default, so that a late approval is rejected as expired, not unknown),
// and, once an approval used it, "consumed_token", "consumed_by" and
// "consumed_at". [Approvals.Put] puts an item only if the id is new (a
// retried delivery's identical request is accepted); [Approvals.Consume]
// is an UpdateItem conditional on no other token having consumed it, the
// guard against replayed approvals across every worker
// (remediate.Options.Approvals, REMEDY_APPROVAL_TABLE in package deploy).
//
// DynamoDB rather than S3 for the durable sink: a conditional put gives
// exactly-once storage per record id, a write is durable when PutItem
// returns, and records can be queried by finding or account through
// secondary indexes without a separate catalogue.
package dynamo
