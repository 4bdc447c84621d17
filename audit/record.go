package audit

import (
	"encoding/json"
	"time"
)

// SchemaVersion identifies the Record schema. It changes only when a
// field changes meaning or is removed; added fields keep the version.
const SchemaVersion = "remedy.audit/v1"

// Record is the evidence of one terminal decision: what was received,
// what was decided and why, what was changed, and how it ended.
//
// A Record never holds credentials or external IDs. Evidence is what a
// remediator read and wrote; remediators keep secrets out of it.
type Record struct {
	Schema string    `json:"schema"`
	ID     string    `json:"id"`
	Time   time.Time `json:"time"`

	Finding  Finding  `json:"finding"`
	Resource Resource `json:"resource"`

	// Decision is remediate, review, skip or reject — or rollback for a
	// rollback record.
	Decision string   `json:"decision"`
	Reasons  []Reason `json:"reasons,omitempty"`
	Action   string   `json:"action,omitempty"`
	// Outcome is the terminal state: rejected, skipped, review,
	// compliant, applied (changed and read back), applied-unverified
	// (changed by a remediator that cannot read back; to review), planned
	// or failed — or dead-lettered, which is not terminal. A rollback
	// record (see RollbackOf) ends rolled-back, planned, review (refused)
	// or failed.
	Outcome string `json:"outcome"`
	DryRun  bool   `json:"dry_run,omitempty"`
	// FailureReason says why a failed, rejected or review outcome ended so.
	FailureReason string `json:"failure_reason,omitempty"`
	// ReviewRouted is true when the review route accepted the record.
	ReviewRouted bool `json:"review_routed,omitempty"`

	Evidence    Evidence    `json:"evidence,omitzero"`
	Correlation Correlation `json:"correlation"`
	Timings     Timings     `json:"timings"`

	PolicyVersion string `json:"policy_version,omitempty"`

	// RollbackOf, set on a rollback record (remedy rollback), is the id
	// of the record whose change it undoes or refused to undo.
	RollbackOf string `json:"rollback_of,omitempty"`

	// Approval is set on the records of the approval path: the review
	// record of a plan that waits for approval (status requested), and
	// the record of each approval message, which names the approver.
	Approval *Approval `json:"approval,omitempty"`
}

// Approval is what a record says about an approval request and the
// approval that used it. On a record of a rejected approval message
// (status forged, malformed) the values are those the message claimed,
// unauthenticated.
type Approval struct {
	// RequestID is the approval request's id ("apr-…"), for
	// `remedy approve ID`.
	RequestID string `json:"request_id"`
	// Approver is who approved; empty on a request's record.
	Approver string `json:"approver,omitempty"`
	// PlanHash is the SHA-256 of the plan approved or to approve
	// ("sha256:…").
	PlanHash string `json:"plan_hash"`
	// Expires is when the request (on a request's record) or the
	// approval stops being accepted.
	Expires time.Time `json:"expires,omitzero"`
	// Status is requested, granted, drifted, forged, expired, replayed,
	// wrong-plan, unknown-request, malformed or not-applied (see the
	// Approval* constants of package remediate).
	Status string `json:"status"`
	// NextRequestID and NextPlanHash name the new request made when live
	// state no longer yielded the approved plan (status drifted).
	NextRequestID string `json:"next_request_id,omitempty"`
	NextPlanHash  string `json:"next_plan_hash,omitempty"`
}

// Finding identifies the finding a record is about.
type Finding struct {
	ID            string `json:"id,omitempty"`
	Source        string `json:"source,omitempty"`
	TriggerSource string `json:"trigger_source,omitempty"`
	TriggerType   string `json:"trigger_type,omitempty"`
	Status        string `json:"status,omitempty"`
	Severity      string `json:"severity,omitempty"`
	ControlID     string `json:"control_id,omitempty"`
	ControlName   string `json:"control_name,omitempty"`
	RuleID        string `json:"rule_id,omitempty"`
	Environment   string `json:"environment,omitempty"`
	Owner         string `json:"owner,omitempty"`
	Exception     string `json:"exception,omitempty"`
	Revision      string `json:"revision,omitempty"`
}

// Resource identifies the resource a record is about.
type Resource struct {
	ID      string `json:"id,omitempty"`
	Type    string `json:"type,omitempty"`
	Name    string `json:"name,omitempty"`
	Account string `json:"account,omitempty"`
	Region  string `json:"region,omitempty"`
}

// Reason is one check that did not pass.
type Reason struct {
	Check   string `json:"check"`
	LeadsTo string `json:"leads_to"`
	Message string `json:"message"`
}

// Evidence is what a remediator observed and did.
type Evidence struct {
	// Before and After are the resource state read before and after.
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
	// Changes lists each change planned or made, in words.
	Changes []string `json:"changes,omitempty"`
	// Rollback is the data needed to restore the prior state.
	Rollback json.RawMessage `json:"rollback,omitempty"`
	// RequestIDs are the AWS request ids of the calls made for the finding.
	RequestIDs []string `json:"request_ids,omitempty"`
	// Verified is true when a read-back confirmed the change.
	Verified bool `json:"verified,omitempty"`
	// EarlierAttempt is set when an earlier delivery of the message
	// started this change and failed transiently after Apply was sent
	// (a timeout, a lost response): it says what that Apply returned.
	// The outcome is then applied if this delivery found the resource
	// compliant, and Before and Changes are that earlier delivery's.
	EarlierAttempt string `json:"earlier_attempt,omitempty"`
}

// Correlation joins a record to the delivery and the source.
type Correlation struct {
	CorrelationID string `json:"correlation_id,omitempty"`
	MessageID     string `json:"message_id,omitempty"`
	ReceiveCount  int    `json:"receive_count,omitempty"`
	// SessionName is the STS RoleSessionName of the session the
	// finding's AWS calls were made in (or that was tried), as the
	// customer account's CloudTrail shows it, such as
	// "s3-block-public-access@shared". Empty when no session was needed.
	SessionName string `json:"session_name,omitempty"`
}

// Timings records when processing started and how long it took.
type Timings struct {
	Received   time.Time `json:"received"`
	Completed  time.Time `json:"completed"`
	DurationMS float64   `json:"duration_ms"`
}
