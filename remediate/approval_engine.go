package remediate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/remedy-sec/remedy/audit"
)

// approvalNeed says why d's action needs a person's approval of its
// plan, or "" when it does not.
func approvalNeed(spec Spec, d Decision) string {
	switch {
	case d.ApprovalRequired:
		return fmt.Sprintf("the policy requires approval of the plan before %s runs", d.Action)
	case spec.Sensitive && !d.SensitiveApproved:
		return fmt.Sprintf("action %q is sensitive and not approved to run unattended (eligibility: sensitive_approved)", d.Action)
	}
	return ""
}

// approvalGate runs in apply mode between the plan and the intent kept
// before Apply. When the delivery carries an approval (s.grant) it lets
// the change go ahead only if the fresh plan hashes as the approved one;
// otherwise, for an action that needs approval (why), it stores a
// request and ends the finding in review. stop reports that r has its
// outcome and nothing is to be applied.
func (e *Engine) approvalGate(ctx context.Context, f *Finding, d Decision, r *audit.Record, plan Plan, s *changeState, why string) (stop bool, err error) {
	switch {
	case s.grant != nil:
		hash := PlanHash(f, d.Action, plan)
		if hash == s.grant.PlanHash {
			return false, nil
		}
		return true, e.requestApproval(ctx, f, d, r, plan, s, fmt.Sprintf(
			"live state no longer yields the plan %s approved (request %s): the plan is now %s; nothing was changed, and approval is asked again",
			s.grant.PlanHash, s.grant.RequestID, hash))
	case why != "":
		return true, e.requestApproval(ctx, f, d, r, plan, s, why)
	}
	return false, nil
}

// requestApproval stores plan as an approval request and ends r in
// review with the request's id, the plan and its hash. An error (the
// store failed) is transient: nothing was changed and the message is
// retried, which stores the same request.
func (e *Engine) requestApproval(ctx context.Context, f *Finding, d Decision, r *audit.Record, plan Plan, s *changeState, why string) error {
	hash := PlanHash(f, d.Action, plan)
	now := e.o.Now()
	fc := *f
	fc.Raw = nil
	req := &ApprovalRequest{
		ID: approvalRequestID(s.key, hash), Finding: &fc, Action: d.Action, PolicyVersion: d.PolicyVersion,
		Plan:     ApprovalPlan{Before: plan.Before, After: plan.After, Changes: plan.Changes},
		PlanHash: hash, RecordID: r.ID, Created: now, Expires: now.Add(e.o.ApprovalTTL),
	}
	if err := e.guard(ctx, "approval", func() error { return e.o.Approvals.Put(ctx, req) }); err != nil {
		if isPanic(err) {
			r.Outcome = string(OutcomeFailed)
			r.FailureReason = "approval: " + err.Error()
			return nil
		}
		return fmt.Errorf("remediate: store the approval request for finding %s (nothing was changed): %w", f.ID, err)
	}
	msg := fmt.Sprintf("%s: approval request %s for plan %s (%d change(s)), expires %s; approve with: remedy approve %s --approver NAME",
		why, req.ID, hash, len(plan.Changes), req.Expires.UTC().Format(time.RFC3339), req.ID)
	r.Decision = VerdictReview.String()
	r.Reasons = append(r.Reasons, audit.Reason{Check: CheckApproval, LeadsTo: VerdictReview.String(), Message: msg})
	r.Outcome = string(OutcomeReview)
	r.FailureReason = msg
	r.Evidence.Before, r.Evidence.After, r.Evidence.Changes = plan.Before, plan.After, plan.Changes
	if s.grant != nil {
		r.Approval.Status = ApprovalDrifted
		r.Approval.NextRequestID, r.Approval.NextPlanHash = req.ID, hash
		return nil
	}
	r.Approval = &audit.Approval{RequestID: req.ID, PlanHash: hash, Expires: req.Expires, Status: ApprovalRequested}
	return nil
}

// processApproval takes an approval message to its terminal record, with
// the same claim, keep and write protocol as a finding (see process).
func (e *Engine) processApproval(ctx context.Context, m Message, a Approval, perr error) (*audit.Record, error) {
	key := approvalDeliveryKey(a, m.Body, perr)
	switch err := e.guard(ctx, "idempotency", func() error { return e.o.Idempotency.Begin(ctx, key) }); {
	case errors.Is(err, ErrAlreadyDone) && perr == nil:
		// The same signed approval was processed to its end before: a
		// replay, or a duplicate delivery. Nothing is done; it is audited.
		return e.replayedApproval(ctx, m, a)
	case errors.Is(err, ErrAlreadyDone):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("remediate: claim approval message %s: %w", m.ID, err)
	}
	keeper, _ := e.o.Idempotency.(RecordKeeper)
	kept, err := e.kept(ctx, keeper, key)
	if err != nil {
		e.release(ctx, key)
		return nil, err
	}
	r := kept
	if kept == nil || kept.Outcome == "" {
		s := &changeState{key: key, keeper: keeper}
		if r, err = e.approve(ctx, m, a, perr, kept, s); err != nil {
			if s.interrupted != "" {
				e.keepAttempt(ctx, keeper, key, r, s.interrupted, err)
			}
			e.release(ctx, key)
			return nil, err
		}
		r.Timings.Completed = e.o.Now()
		r.Timings.DurationMS = float64(r.Timings.Completed.Sub(r.Timings.Received).Microseconds()) / 1000
	}
	return e.conclude(ctx, m, key, keeper, kept, r)
}

// replayedApproval audits a copy of an approval message that was
// processed before, and changes nothing.
func (e *Engine) replayedApproval(ctx context.Context, m Message, a Approval) (*audit.Record, error) {
	msg := fmt.Sprintf("approval of request %s by %s was processed before (this is a replay, or a duplicate delivery of it); an approval is used once, and nothing was changed", a.RequestID, a.Approver)
	r := e.newRecord(m, nil, Decision{})
	r.Decision = VerdictReject.String()
	r.Reasons = []audit.Reason{{Check: CheckApproval, LeadsTo: VerdictReject.String(), Message: msg}}
	r.Outcome, r.FailureReason = string(OutcomeRejected), msg
	r.Approval = &audit.Approval{RequestID: a.RequestID, Approver: a.Approver, PlanHash: a.PlanHash, Expires: a.Expires, Status: ApprovalReplayed}
	r.Timings.Completed = e.o.Now()
	r.Timings.DurationMS = float64(r.Timings.Completed.Sub(r.Timings.Received).Microseconds()) / 1000
	e.o.Logger.LogAttrs(ctx, slog.LevelWarn, "approval rejected", slog.String("message_id", m.ID),
		slog.String("request_id", a.RequestID), slog.String("approver", a.Approver), slog.String("status", ApprovalReplayed), slog.String("reason", msg))
	if err := e.writeRecord(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

// approve checks an approval — signature, expiry, the request it names,
// its plan hash, that the request was not used by another message — and
// consumes the request; then it re-enriches and re-decides the request's
// finding and acts on it with the approval, which applies only a fresh
// plan that hashes as approved. Every rejection is a record (outcome
// rejected, check approval); the error is transient only.
func (e *Engine) approve(ctx context.Context, m Message, a Approval, perr error, prior *audit.Record, s *changeState) (*audit.Record, error) {
	r := e.newRecord(m, nil, Decision{})
	r.Decision, r.Outcome, r.FailureReason = "", "", ""
	r.Approval = &audit.Approval{RequestID: a.RequestID, Approver: a.Approver, PlanHash: a.PlanHash, Expires: a.Expires}
	reject := func(status, format string, args ...any) (*audit.Record, error) {
		msg := fmt.Sprintf(format, args...)
		r.Decision = VerdictReject.String()
		r.Reasons = append(r.Reasons, audit.Reason{Check: CheckApproval, LeadsTo: VerdictReject.String(), Message: msg})
		r.Outcome = string(OutcomeRejected)
		r.FailureReason = msg
		r.Approval.Status = status
		e.o.Logger.LogAttrs(ctx, slog.LevelWarn, "approval rejected", slog.String("message_id", m.ID),
			slog.String("request_id", a.RequestID), slog.String("approver", a.Approver), slog.String("status", status), slog.String("reason", msg))
		return r, nil
	}
	if perr != nil {
		return reject(ApprovalMalformed, "%v", perr)
	}
	if e.o.Approvals == nil {
		return reject(ApprovalNotApplied, "approval of request %s: this engine has no approval store (Options.Approvals), so it cannot act on approvals; send approvals to the deployment that asked for them", a.RequestID)
	}
	var key []byte
	if err := e.guard(ctx, "approval", func() (err error) { key, err = e.o.ApprovalKey.ApprovalKey(ctx); return err }); err != nil {
		if IsTransient(err) && !isPanic(err) {
			return nil, fmt.Errorf("remediate: read the approval key: %w", err)
		}
		return reject(ApprovalNotApplied, "approval of request %s: the approval key could not be read: %v", a.RequestID, err)
	}
	if err := a.Verify(key); err != nil {
		return reject(ApprovalForged, "approval of request %s by %q: %v; nothing was changed (sign approvals with remedy approve, which reads the key from SSM)", a.RequestID, a.Approver, err)
	}
	now := e.o.Now()
	// A delivery that resumes its own interrupted change (prior holds
	// the intent kept before Apply) is judged as when it started: the
	// change may have been made, and its record must say so.
	resumed := prior != nil
	if !resumed && !now.Before(a.Expires) {
		return reject(ApprovalExpired, "approval of request %s by %s expired at %s; approve again", a.RequestID, a.Approver, a.Expires.UTC().Format(time.RFC3339))
	}
	var req *ApprovalRequest
	err := e.guard(ctx, "approval", func() (err error) { req, err = e.o.Approvals.Get(ctx, a.RequestID); return err })
	switch {
	case errors.Is(err, ErrApprovalNotFound):
		return reject(ApprovalUnknownRequest, "approval by %s names request %s, which is not stored (expired and removed, or never made)", a.Approver, a.RequestID)
	case err != nil && (isPanic(err) || IsPermanent(err)):
		return reject(ApprovalNotApplied, "approval of request %s: the request could not be read: %v", a.RequestID, err)
	case err != nil:
		return nil, fmt.Errorf("remediate: read approval request %s: %w", a.RequestID, err)
	case req.Finding == nil:
		return reject(ApprovalNotApplied, "approval request %s holds no finding", a.RequestID)
	}
	// From here the record is about the request's finding.
	base := e.newRecord(m, req.Finding, Decision{Action: req.Action, PolicyVersion: req.PolicyVersion})
	base.ID = r.ID
	base.Approval = r.Approval
	r = base
	r.Decision, r.Outcome = "", ""
	switch {
	case a.PlanHash != req.PlanHash:
		return reject(ApprovalWrongPlan, "approval by %s is for plan %s, but request %s is for plan %s; approve the plan the request shows", a.Approver, a.PlanHash, req.ID, req.PlanHash)
	case !resumed && !now.Before(req.Expires):
		return reject(ApprovalExpired, "approval request %s expired at %s; approval is asked again when the finding is delivered again with a new revision (reopened in the source)", req.ID, req.Expires.UTC().Format(time.RFC3339))
	case e.o.Mode != ModeApply:
		return reject(ApprovalNotApplied, "approval of request %s by %s: the engine is in %s mode and applies nothing; the request was not used", req.ID, a.Approver, e.o.Mode)
	}
	c := ApprovalConsumption{Token: s.key, Approver: a.Approver, Time: now}
	err = e.guard(ctx, "approval", func() error { return e.o.Approvals.Consume(ctx, req.ID, c) })
	switch {
	case errors.Is(err, ErrApprovalConsumed):
		return reject(ApprovalReplayed, "approval of request %s by %s: %v; an approval is used once", req.ID, a.Approver, err)
	case errors.Is(err, ErrApprovalNotFound):
		return reject(ApprovalUnknownRequest, "approval request %s disappeared before it could be used", req.ID)
	case err != nil && (isPanic(err) || IsPermanent(err)):
		return reject(ApprovalNotApplied, "approval of request %s: the request could not be consumed: %v", req.ID, err)
	case err != nil:
		return nil, fmt.Errorf("remediate: consume approval request %s (nothing was changed): %w", req.ID, err)
	}
	r.Approval.Status = ApprovalGranted
	// The policy and the exceptions may have changed since the request:
	// decide again on the finding as stored, freshly enriched.
	f := *req.Finding
	f.Concerns = nil
	if e.o.Enricher != nil {
		if err := e.guard(ctx, "enrich", func() error { return e.o.Enricher.Enrich(ctx, &f) }); err != nil {
			if IsTransient(err) && !isPanic(err) {
				return nil, fmt.Errorf("remediate: enrich the approved finding %s: %w", f.ID, err)
			}
			return notApplied(r, CheckEnrich, "enrichment of the approved finding failed: %v", err), nil
		}
	}
	var d Decision
	if err := e.guard(ctx, "decide", func() (err error) { d, err = e.o.Policy.Decide(ctx, &f); return err }); err != nil {
		if IsTransient(err) && !isPanic(err) {
			return nil, fmt.Errorf("remediate: decide the approved finding %s: %w", f.ID, err)
		}
		return notApplied(r, CheckPolicy, "policy evaluation of the approved finding failed: %v", err), nil
	}
	nr := e.newRecord(m, &f, d)
	nr.ID, nr.Approval = r.ID, r.Approval
	r = nr
	if !d.Remediates() || d.Action != req.Action {
		return notApplied(r, CheckApproval, "the policy no longer approves %s for this finding (decision %s, action %q): the approval of request %s by %s was not applied",
			req.Action, d.Verdict, d.Action, req.ID, a.Approver), nil
	}
	s.grant = &a
	if err := e.act(ctx, &f, d, r, prior, s); err != nil {
		return r, err
	}
	if r.Approval.Status == ApprovalGranted && r.Outcome == string(OutcomeReview) {
		// The engine's own checks stopped it (a concern, an action no
		// longer registered): the approval was used, nothing was applied.
		r.Approval.Status = ApprovalNotApplied
	}
	return r, nil
}

// notApplied ends r of an authentic approval in review: a person must
// look at why it could not be used.
func notApplied(r *audit.Record, check, format string, args ...any) *audit.Record {
	msg := fmt.Sprintf(format, args...)
	r.Decision = VerdictReview.String()
	r.Reasons = append(r.Reasons, audit.Reason{Check: check, LeadsTo: VerdictReview.String(), Message: msg})
	r.Outcome = string(OutcomeReview)
	r.FailureReason = msg
	r.Approval.Status = ApprovalNotApplied
	return r
}
