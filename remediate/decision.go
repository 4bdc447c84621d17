package remediate

import "fmt"

// Verdict is what a policy decided for a finding. The zero value is not a
// valid verdict, and the engine treats it as Review: a forgotten field never
// remediates.
type Verdict uint8

// Verdicts. Their order is their precedence when checks disagree: a
// rejection beats a skip, a skip beats review, and review beats remediate.
const (
	verdictUnset Verdict = iota
	VerdictRemediate
	VerdictReview
	VerdictSkip
	VerdictReject
)

var verdictNames = [...]string{"", "remediate", "review", "skip", "reject"}

// String returns the lower-case name used in audit records and CLI output.
func (v Verdict) String() string {
	if int(v) < len(verdictNames) && v != verdictUnset {
		return verdictNames[v]
	}
	return "unset"
}

// MarshalText implements encoding.TextMarshaler.
func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (v *Verdict) UnmarshalText(b []byte) error {
	for i, n := range verdictNames {
		if i > 0 && n == string(b) {
			*v = Verdict(i)
			return nil
		}
	}
	return fmt.Errorf("remediate: unknown verdict %q (want remediate, review, skip or reject)", b)
}

// Outcome returns the terminal outcome a verdict leads to when no
// remediator runs. Remediate has no such outcome; it returns "".
func (v Verdict) Outcome() Outcome {
	switch v {
	case VerdictReject:
		return OutcomeRejected
	case VerdictSkip:
		return OutcomeSkipped
	case VerdictRemediate:
		return ""
	}
	return OutcomeReview
}

// Decision is a policy's answer for one finding. The zero Decision never
// remediates.
type Decision struct {
	Verdict Verdict `json:"decision"`
	// Action is the remediation action chosen, if any.
	Action string `json:"action,omitempty"`
	// Reasons lists every check that did not pass, in policy order. A
	// remediate decision has none.
	Reasons []Reason `json:"reasons"`
	// PolicyVersion identifies the policy that decided.
	PolicyVersion string `json:"policy_version,omitempty"`
	// SensitiveApproved says the policy approves Action to run unattended
	// although its remediator is sensitive (Spec.Sensitive): without it,
	// the engine sends a sensitive action to review whatever the verdict.
	// It approves nothing by itself: the decision must still remediate.
	SensitiveApproved bool `json:"sensitive_approved,omitempty"`
	// ApprovalRequired says a person must approve the concrete plan
	// before Action runs (package eligibility sets it from the policy's
	// approval_required rules): with Options.Approvals set, the engine in
	// apply mode stores the plan as an ApprovalRequest and routes the
	// finding to review instead of applying; without, it sends the
	// finding to review. Like SensitiveApproved, it never makes a
	// decision remediate.
	ApprovalRequired bool `json:"approval_required,omitempty"`
}

// Reason explains one check's result.
type Reason struct {
	// Check is the stable name of the check, such as "severity".
	Check string `json:"check"`
	// Verdict is what this check alone leads to.
	Verdict Verdict `json:"leads_to"`
	// Message is a sentence a person can read.
	Message string `json:"message"`
}

// Add records a failing check. The decision's verdict becomes the one of
// highest precedence among its reasons.
func (d *Decision) Add(check string, v Verdict, format string, args ...any) {
	d.Reasons = append(d.Reasons, Reason{Check: check, Verdict: v, Message: fmt.Sprintf(format, args...)})
	if v > d.Verdict {
		d.Verdict = v
	}
}

// Remediates reports whether d permits a change: its verdict is Remediate,
// it has no failing reason and names an action.
func (d Decision) Remediates() bool {
	return d.Verdict == VerdictRemediate && len(d.Reasons) == 0 && d.Action != ""
}

// Outcome is the terminal state of processing one message, recorded in
// its audit record.
type Outcome string

// Outcomes, as the README lists them.
const (
	OutcomeRejected  Outcome = "rejected"  // payload malformed or not accepted
	OutcomeSkipped   Outcome = "skipped"   // not eligible, nothing to do
	OutcomeReview    Outcome = "review"    // sent to a human
	OutcomeCompliant Outcome = "compliant" // live state already compliant
	OutcomeApplied   Outcome = "applied"   // changed and verified by a read-back
	OutcomePlanned   Outcome = "planned"   // dry run: plan recorded
	OutcomeFailed    Outcome = "failed"    // permanent failure, sent to review

	// OutcomeAppliedUnverified is a change made by a remediator that
	// cannot read it back (it implements no Verifier). It goes to review,
	// so that applied always means verified.
	OutcomeAppliedUnverified Outcome = "applied-unverified"

	// OutcomeDeadLettered is not terminal: it records the last transient
	// failure of a message on the delivery after which the queue moves it
	// to its dead-letter queue. A replayed message is processed again.
	OutcomeDeadLettered Outcome = "dead-lettered"
)

// NeedsReview reports whether the outcome is routed to a human.
func (o Outcome) NeedsReview() bool {
	return o == OutcomeReview || o == OutcomeFailed || o == OutcomeAppliedUnverified
}
