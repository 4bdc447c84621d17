package remediate

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/remedy-sec/remedy/audit"
)

// Mode selects how far the engine goes for a finding the policy approves.
// The zero value, ModeDryRun, changes nothing.
type Mode uint8

const (
	// ModeDryRun reads live state and records the plan; it changes nothing.
	ModeDryRun Mode = iota
	// ModeApply changes the resource, then verifies the change.
	ModeApply
	// ModeDecideOnly makes no AWS call at all: an approved finding is recorded
	// as planned with the action that would run.
	ModeDecideOnly
)

// String returns "dry-run", "apply" or "decide-only".
func (m Mode) String() string {
	switch m {
	case ModeDryRun:
		return "dry-run"
	case ModeApply:
		return "apply"
	case ModeDecideOnly:
		return "decide-only"
	}
	return fmt.Sprintf("Mode(%d)", m)
}

// Options configure an Engine. Parser, Policy, Registry and Audit are
// required; Credentials is required unless Mode is ModeDecideOnly.
type Options struct {
	// Authenticator, if set, checks each body before it is parsed; a body
	// it rejects is audited as rejected with the check "authenticity".
	Authenticator Authenticator
	Parser        Parser
	// Enricher adds trusted context before the policy decides. Nil means
	// the Policy, when it implements Enricher (eligibility.Policy does),
	// and no enrichment otherwise; to skip a Policy's own enrichment, set
	// an EnricherFunc that does nothing.
	Enricher Enricher
	// Policy decides. When it implements ActionNamer (and
	// ResourceTypeNamer), NewEngine checks it against the Registry.
	Policy   Policy
	Registry *Registry
	// Credentials gives remediators access to the finding's account.
	Credentials CredentialSource
	// Idempotency deduplicates deliveries. Nil means a MemoryIdempotency
	// with default limits, which protects one process only.
	Idempotency IdempotencyStore
	// Audit receives one record per terminal outcome. A message is
	// acknowledged only after Audit accepted its record.
	Audit audit.Sink
	// Review receives the records of review and failed outcomes before
	// they are audited; an error retries the message. Nil means those
	// records go to Audit only.
	Review audit.Sink
	Mode   Mode
	// Classify marks errors from credentials and remediators as permanent
	// or transient. Nil means ClassifyAWS. A remediator's errors are then
	// also marked permanent for the codes its Spec.PermanentErrorCodes
	// declares.
	Classify func(error) error
	// MaxReceiveCount is the queue's redrive maxReceiveCount. When a
	// message fails transiently on that delivery, the engine writes a
	// dead-lettered record (to Audit and Review) with the failure reason
	// before returning the error. Zero disables it.
	MaxReceiveCount int
	// Timeout bounds the AWS stages of one finding. Zero means 2 minutes.
	Timeout time.Duration
	// Approvals, if set, stores the plans of findings that need a
	// person's approval (Decision.ApprovalRequired, or a sensitive
	// remediator the policy does not approve to run unattended) as
	// approval requests, and lets approval messages apply them; see
	// Approval. Nil sends such findings to review. It requires
	// ApprovalKey.
	Approvals ApprovalStore
	// ApprovalKey is the HMAC key approval messages are verified with.
	ApprovalKey ApprovalKeySource
	// ApprovalTTL is how long an approval request may be approved.
	// Zero means 24 hours. Keep it well below how long the Idempotency
	// store remembers a completed delivery: a copy of a used approval
	// message is rejected as a replay while it is remembered, and by its
	// request's expiry after.
	ApprovalTTL time.Duration
	// Logger receives one line per outcome. Nil discards.
	Logger *slog.Logger
	// Now and NewID are for tests. Nil means time.Now and a random id.
	Now   func() time.Time
	NewID func() string
}

// Engine runs the stages listed in the package documentation for one
// message at a time: parse, enrich, decide, deduplicate, assume, plan,
// apply, verify, review, audit. It is safe for concurrent use; adapters
// call Process from many goroutines.
type Engine struct {
	o Options
}

// NewEngine validates o and returns an engine. Besides the required
// options, it checks a Policy that names its actions (ActionNamer,
// ResourceTypeNamer) against the Registry: every action has a
// remediator, and each is approved only for resource types its
// remediator declares. Errors name the option and what to fix.
func NewEngine(o Options, optFns ...func(*Options)) (*Engine, error) {
	for _, fn := range optFns {
		fn(&o)
	}
	switch {
	case o.Parser == nil:
		return nil, errors.New("remediate: NewEngine: Options.Parser is nil; use wizpayload.New()")
	case o.Policy == nil:
		return nil, errors.New("remediate: NewEngine: Options.Policy is nil; use eligibility.Default() or eligibility.Load(path)")
	case o.Registry == nil:
		return nil, errors.New("remediate: NewEngine: Options.Registry is nil; use remediate.NewRegistry(...)")
	case o.Audit == nil:
		return nil, errors.New("remediate: NewEngine: Options.Audit is nil; every decision needs an audit sink (audit.NewJSONLines(os.Stdout) at least)")
	case o.Credentials == nil && o.Mode != ModeDecideOnly:
		return nil, fmt.Errorf("remediate: NewEngine: Options.Credentials is nil in %s mode; configure crossaccount.New(...) or use ModeDecideOnly", o.Mode)
	case o.Mode > ModeDecideOnly:
		return nil, fmt.Errorf("remediate: NewEngine: unknown %s", o.Mode)
	case o.Approvals != nil && o.ApprovalKey == nil:
		return nil, errors.New("remediate: NewEngine: Options.Approvals is set but Options.ApprovalKey is nil: no approval could ever be verified; set the HMAC key (remediate.StaticApprovalKey) or leave Approvals nil to send such findings to review")
	}
	if err := validatePolicyActions(o.Policy, o.Registry); err != nil {
		return nil, err
	}
	if err := validateResourceTypes(o.Policy, o.Registry); err != nil {
		return nil, err
	}
	if o.Enricher == nil {
		// Forgetting it would silently decide on unenriched findings.
		o.Enricher, _ = o.Policy.(Enricher)
	}
	if o.Idempotency == nil {
		o.Idempotency = NewMemoryIdempotency()
	}
	if _, ok := o.Idempotency.(RecordKeeper); !ok && o.Mode == ModeApply {
		return nil, fmt.Errorf("remediate: NewEngine: Options.Idempotency (%T) does not implement RecordKeeper, which apply mode needs to make the intent of each change durable before making it; use remediate.NewMemoryIdempotency or the DynamoDB store of adapters/dynamo", o.Idempotency)
	}
	if o.Classify == nil {
		o.Classify = ClassifyAWS
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.ApprovalTTL <= 0 {
		o.ApprovalTTL = 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NewID == nil {
		o.NewID = rand.Text
	}
	return &Engine{o: o}, nil
}

// Check names the engine itself uses in reasons.
const (
	CheckAuthenticity = "authenticity" // the Authenticator rejected the body
	CheckPayload      = "payload"      // the payload was rejected by the parser
	CheckEnrich       = "enrich"       // enrichment failed permanently
	CheckPolicy       = "policy"       // the policy failed or returned no verdict
	CheckRegistry     = "registry"     // the engine's own pre-action checks
	CheckPanic        = "panic"        // a pluggable stage panicked (see PanicError)
)

// Evaluate authenticates (with Options.Authenticator), parses, enriches
// and decides one message body, with no side effect: nothing is
// deduplicated, assumed, changed or audited. A body the authenticator or
// the parser rejects yields a nil finding and a Reject decision. The
// error is non-nil for a transient failure that a retry may fix, and for
// a panic in a stage, as a *PanicError (with the finding if parsing
// succeeded), which Process records as failed.
func (e *Engine) Evaluate(ctx context.Context, body []byte) (*Finding, Decision, error) {
	f, d, _, err := e.evaluate(ctx, body)
	return f, d, err
}

// evaluate is Evaluate, also returning the parser's rejection of the
// body, whose best-effort ids the rejected record keeps.
func (e *Engine) evaluate(ctx context.Context, body []byte) (*Finding, Decision, *RejectError, error) {
	if e.o.Authenticator != nil {
		err := e.guard(ctx, "authenticate", func() error { return e.o.Authenticator.Authenticate(ctx, body) })
		if isPanic(err) {
			return nil, Decision{}, nil, err
		}
		if err != nil {
			d, err := rejection(CheckAuthenticity, "authenticate", err)
			if err != nil {
				err = unauthenticated{err}
			}
			return nil, d, nil, err
		}
	}
	var f *Finding
	err := e.guard(ctx, "parse", func() (err error) { f, err = e.o.Parser.Parse(body); return err })
	if isPanic(err) {
		return nil, Decision{}, nil, err
	}
	if err != nil {
		var rej *RejectError
		errors.As(err, &rej)
		d, err := rejection(CheckPayload, "parse", err)
		return nil, d, rej, err
	}
	if e.o.Enricher != nil {
		if err := e.guard(ctx, "enrich", func() error { return e.o.Enricher.Enrich(ctx, f) }); err != nil {
			if isPanic(err) {
				return f, Decision{}, nil, err
			}
			if IsTransient(err) {
				return f, Decision{}, nil, fmt.Errorf("remediate: enrich finding %s: %w", f.ID, err)
			}
			var d Decision
			d.Add(CheckEnrich, VerdictReview, "enrichment failed: %v", err)
			return f, d, nil, nil
		}
	}
	var d Decision
	err = e.guard(ctx, "decide", func() (err error) { d, err = e.o.Policy.Decide(ctx, f); return err })
	if err != nil {
		if isPanic(err) {
			return f, Decision{}, nil, err
		}
		if IsTransient(err) {
			return f, Decision{}, nil, fmt.Errorf("remediate: decide finding %s: %w", f.ID, err)
		}
		pv := d.PolicyVersion
		d = Decision{PolicyVersion: pv}
		d.Add(CheckPolicy, VerdictReview, "policy evaluation failed: %v", err)
		return f, d, nil, nil
	}
	if d.Verdict == verdictUnset || d.Verdict > VerdictReject {
		d.Add(CheckPolicy, VerdictReview, "the policy returned no valid verdict")
	}
	if d.Verdict == VerdictRemediate && d.Action == "" {
		d.Add(CheckPolicy, VerdictReview, "the policy approved the finding but named no action")
	}
	return f, d, nil, nil
}

// unauthenticated marks a transient failure of the Authenticator: the
// body was neither accepted nor rejected.
type unauthenticated struct{ err error }

func (u unauthenticated) Error() string { return u.err.Error() }
func (u unauthenticated) Unwrap() error { return u.err }

// rejection turns the error of a stage that reads the body into a Reject
// decision under check, when it wraps *RejectError; any other error is
// transient and returned.
func rejection(check, stage string, err error) (Decision, error) {
	var rej *RejectError
	if !errors.As(err, &rej) {
		return Decision{}, fmt.Errorf("remediate: %s: %w", stage, err)
	}
	var d Decision
	d.Add(check, VerdictReject, "%s", err.Error())
	return d, nil
}

// IdempotencyKey returns the key that identifies one delivery of a
// finding for one action: source, finding id, the resource's account,
// region, type and id, action and revision, hashed to a fixed length.
// Two findings that differ in any of them are never merged into one.
func IdempotencyKey(f *Finding, action string) string {
	// Length-prefix each part so that no two tuples hash the same input.
	buf := make([]byte, 0, 256)
	r := f.Resource
	for _, s := range [...]string{f.Source, f.ID, r.Account, r.Region, r.Type, r.ID, action, f.Revision} {
		buf = strconv.AppendInt(buf, int64(len(s)), 10)
		buf = append(append(append(buf, ':'), s...), '|')
	}
	sum := sha256.Sum256(buf)
	return "f:" + hex.EncodeToString(sum[:])
}

func bodyKey(body []byte) string {
	sum := sha256.Sum256(body)
	return "b:" + hex.EncodeToString(sum[:])
}

// Process runs one message through every stage and returns its audit
// record once the record is durable.
//
// A nil error means the message may be acknowledged: it reached a
// terminal outcome (including rejected, review and failed) and the record
// was written, or it was a duplicate of a completed delivery, in which
// case the record is nil. A non-nil error is transient: nothing was
// acknowledged and the transport should retry the message.
func (e *Engine) Process(ctx context.Context, m Message) (*audit.Record, error) {
	if m.ReceivedAt.IsZero() {
		m.ReceivedAt = e.o.Now()
	}
	rec, err := e.process(ctx, m)
	if err != nil && e.o.MaxReceiveCount > 0 && m.ReceiveCount >= e.o.MaxReceiveCount {
		e.deadLetter(ctx, m, err)
	}
	return rec, err
}

// deadLetter records the last failure of a message the queue is about to
// move to its dead-letter queue, so that an operator (and remedy replay)
// can see why. The record is not terminal: a replayed message is
// processed again. Its writes are best effort: the message is not
// acknowledged either way.
func (e *Engine) deadLetter(ctx context.Context, m Message, cause error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	// The finding's details go to review only from a body that proved
	// authentic (or needed no proof), not one whose check itself failed.
	var f *Finding
	if !errors.As(cause, new(unauthenticated)) {
		f, _ = e.o.Parser.Parse(m.Body)
	}
	r := e.newRecord(m, f, Decision{})
	r.Decision = ""
	r.Outcome = string(OutcomeDeadLettered)
	r.FailureReason = cause.Error()
	r.Timings.Completed = e.o.Now()
	r.Timings.DurationMS = float64(r.Timings.Completed.Sub(r.Timings.Received).Microseconds()) / 1000
	// This delivery is the message's last: the queue moves it on whatever
	// happens here, so each write gets a few tries before it is given up.
	if e.o.Review != nil {
		if err := retryWrite(ctx, 3, 200*time.Millisecond, func(ctx context.Context) error {
			return e.guard(ctx, "review", func() error { return e.o.Review.Write(ctx, r) })
		}); err != nil {
			e.o.Logger.LogAttrs(ctx, slog.LevelError, "dead-letter review failed", slog.String("message_id", m.ID), slog.Any("error", err))
		}
	}
	if err := retryWrite(ctx, 3, 200*time.Millisecond, func(ctx context.Context) error {
		return e.guard(ctx, "audit", func() error { return e.o.Audit.Write(ctx, r) })
	}); err != nil {
		e.o.Logger.LogAttrs(ctx, slog.LevelError, "dead-letter audit failed", slog.String("message_id", m.ID), slog.Any("error", err))
	}
	e.o.Logger.LogAttrs(ctx, slog.LevelWarn, "message goes to the dead-letter queue",
		slog.String("message_id", m.ID), slog.Int("receive_count", m.ReceiveCount), slog.Any("error", cause))
}

func (e *Engine) process(ctx context.Context, m Message) (*audit.Record, error) {
	if a, ok, aerr := ParseApprovalMessage(m.Body); ok {
		// Authenticated by its own HMAC, not by Options.Authenticator.
		return e.processApproval(ctx, m, a, aerr)
	}
	f, d, rej, err := e.evaluate(ctx, m.Body)
	var pe *PanicError
	if err != nil && !errors.As(err, &pe) {
		return nil, err
	}
	r := e.newRecord(m, f, d)
	if rej != nil {
		// What a rejected payload still says about itself, so that a
		// person can tell which finding was lost (untrusted; see
		// RejectError).
		r.Finding.ID, r.Finding.RuleID, r.Resource.ID = rej.FindingID, rej.RuleID, rej.ResourceID
	}
	if pe != nil {
		// A stage that reads or judges the finding panicked: a person must
		// look. The finding's details are kept only if it was parsed from
		// an authenticated body.
		d = Decision{}
		d.Add(CheckPanic, VerdictReview, "%s: %v", pe.Stage, pe)
		r = e.newRecord(m, f, d)
		r.Outcome = string(OutcomeFailed)
		r.FailureReason = pe.Stage + ": " + pe.Error()
	}
	key := bodyKey(m.Body)
	if f != nil {
		key = IdempotencyKey(f, d.Action)
	}
	switch err := e.guard(ctx, "idempotency", func() error { return e.o.Idempotency.Begin(ctx, key) }); {
	case errors.Is(err, ErrAlreadyDone):
		e.o.Logger.LogAttrs(ctx, slog.LevelInfo, "duplicate delivery acknowledged",
			slog.String("message_id", m.ID), slog.String("finding_id", r.Finding.ID))
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("remediate: claim message %s: %w", m.ID, err)
	}
	keeper, _ := e.o.Idempotency.(RecordKeeper)
	kept, err := e.kept(ctx, keeper, key)
	if err != nil {
		e.release(ctx, key)
		return nil, err
	}
	if kept != nil && kept.Outcome != "" {
		// An earlier delivery reached its outcome but could not write the
		// record: write that record, byte for byte as it was first tried
		// (a sink may have stored it and lost only its answer), rather
		// than processing again and finding the change already made.
		r = kept
	} else {
		// A kept record without an outcome is the evidence of a change
		// that was started (see keepIntent) and may have been made.
		if f != nil && pe == nil {
			s := &changeState{key: key, keeper: keeper}
			if err := e.act(ctx, f, d, r, kept, s); err != nil {
				if s.interrupted != "" {
					e.keepAttempt(ctx, keeper, key, r, s.interrupted, err)
				}
				e.release(ctx, key)
				return nil, err
			}
		}
		r.Timings.Completed = e.o.Now()
		r.Timings.DurationMS = float64(r.Timings.Completed.Sub(r.Timings.Received).Microseconds()) / 1000
	}
	return e.conclude(ctx, m, key, keeper, kept, r)
}

// conclude makes the terminal record r of the delivery that holds the
// claim on key durable, then marks key done: r is kept with the claim
// before it is written, and kept again if the write fails (the message is
// then given back). kept is what an earlier delivery kept, if anything.
func (e *Engine) conclude(ctx context.Context, m Message, key string, keeper RecordKeeper, kept, r *audit.Record) (*audit.Record, error) {
	if keeper != nil && r != kept {
		// The terminal record is kept with the claim before it is
		// written: if the process dies after the audit write and before
		// the done marker, the delivery that takes the claim over writes
		// this record again, byte for byte, instead of recording the
		// finding a second time.
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if kerr := e.guard(kctx, "idempotency", func() error { return keeper.Keep(kctx, key, r) }); kerr != nil {
			e.o.Logger.LogAttrs(ctx, slog.LevelWarn, "could not keep the record before writing it",
				slog.String("message_id", m.ID), slog.Any("error", kerr))
		}
		cancel()
	}
	if err := e.writeRecord(ctx, r); err != nil {
		if keeper != nil {
			kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if kerr := e.guard(kctx, "idempotency", func() error { return keeper.Keep(kctx, key, r) }); kerr != nil {
				e.o.Logger.LogAttrs(ctx, slog.LevelError, "could not keep the unwritten record; the retry processes the finding again",
					slog.String("message_id", m.ID), slog.Any("error", kerr))
			}
			cancel()
		}
		e.release(ctx, key)
		return nil, err
	}
	if err := e.complete(ctx, key); err != nil {
		// The record is durable; without the done marker a redelivery
		// (after the claim expires) is evaluated again and may be
		// recorded a second time.
		e.o.Logger.LogAttrs(ctx, slog.LevelWarn, "idempotency complete failed",
			slog.String("message_id", m.ID), slog.Any("error", err))
	}
	e.o.Logger.LogAttrs(ctx, slog.LevelInfo, "finding processed",
		slog.String("finding_id", r.Finding.ID), slog.String("decision", r.Decision),
		slog.String("outcome", r.Outcome), slog.String("action", r.Action))
	return r, nil
}

// changeState is what act needs of process to keep the evidence of a
// change, and tells process where a change was interrupted.
type changeState struct {
	key    string
	keeper RecordKeeper
	// interrupted names the stage ("apply") whose transient failure came
	// after a change may have been made.
	interrupted string
	// grant is the verified approval this delivery acts on, if any: the
	// plan is applied only if it hashes as grant.PlanHash.
	grant *Approval
}

// keepIntent makes the evidence of the change about to be made durable
// before it is made: a kept record without an outcome, holding the
// finding, the plan's before-state, changes and rollback data. If the
// process dies between Apply and the audit write (SIGKILL, out of
// memory, a Lambda deadline), the retry finds it and records the change
// as applied — or sends the finding to review when live state is neither
// the before-state nor the planned one — instead of finding the resource
// compliant and recording nothing of Remedy's change. No intent, no
// change: an error here retries the message without applying.
func (e *Engine) keepIntent(ctx context.Context, s *changeState, r *audit.Record) error {
	if s.keeper == nil {
		return errors.New("remediate: the idempotency store keeps no records, so no intent can be made durable before a change; use a store that implements RecordKeeper")
	}
	a := *r
	a.Outcome = ""
	a.Evidence.Verified = false
	a.Evidence.EarlierAttempt = fmt.Sprintf("apply started on receive %d and its outcome was not recorded: the process stopped, or its store failed, before the audit write", r.Correlation.ReceiveCount)
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := e.guard(kctx, "idempotency", func() error { return s.keeper.Keep(kctx, s.key, &a) }); err != nil {
		return fmt.Errorf("remediate: keep the intent before applying %s to %s (nothing was changed): %w", r.Action, r.Resource.ID, err)
	}
	return nil
}

// keepAttempt keeps the evidence of a change interrupted by a transient
// failure — of Apply, which may have taken effect, or of Verify after
// it — so that the retry, finding the resource compliant, records the
// change as applied rather than as already compliant. The kept record has
// no outcome.
func (e *Engine) keepAttempt(ctx context.Context, keeper RecordKeeper, key string, r *audit.Record, stage string, cause error) {
	if keeper == nil {
		return
	}
	a := *r
	a.Outcome = ""
	a.Evidence.EarlierAttempt = fmt.Sprintf("%s on receive %d failed, its outcome unknown: %v", stage, r.Correlation.ReceiveCount, cause)
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := e.guard(kctx, "idempotency", func() error { return keeper.Keep(kctx, key, &a) }); err != nil {
		e.o.Logger.LogAttrs(ctx, slog.LevelWarn, "could not keep the evidence of the interrupted change; the intent kept before Apply stands",
			slog.String("message_id", r.Correlation.MessageID), slog.Any("error", err))
	}
}

// kept returns the record an earlier delivery of key kept, if the store
// keeps records.
func (e *Engine) kept(ctx context.Context, keeper RecordKeeper, key string) (*audit.Record, error) {
	if keeper == nil {
		return nil, nil
	}
	var r *audit.Record
	err := e.guard(ctx, "idempotency", func() (err error) { r, err = keeper.Kept(ctx, key); return err })
	if err != nil {
		return nil, fmt.Errorf("remediate: read kept record: %w", err)
	}
	return r, nil
}

// routesToReview reports whether records of outcome o go to the review
// route: those that need a person, and rejections, so that a payload
// template that breaks every finding does not go unnoticed (a review
// sink groups and rate-limits them; see adapters/snsreview).
func routesToReview(o Outcome) bool { return o.NeedsReview() || o == OutcomeRejected }

// writeRecord routes r to review when its outcome needs a person (or was
// a rejection), then audits it. A change may already have been made, so a failed write is
// retried a few times (even past the message's own context) before the
// message is given back to the queue.
func (e *Engine) writeRecord(ctx context.Context, r *audit.Record) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var err error
	for attempt, backoff := 0, 100*time.Millisecond; attempt < 3; attempt, backoff = attempt+1, backoff*4 {
		if attempt > 0 {
			select {
			case <-time.After(backoff):
			case <-wctx.Done():
				return err
			}
		}
		if routesToReview(Outcome(r.Outcome)) && e.o.Review != nil && !r.ReviewRouted {
			if err = e.guard(wctx, "review", func() error { return e.o.Review.Write(wctx, r) }); err != nil {
				err = fmt.Errorf("remediate: route finding %s to review: %w", r.Finding.ID, err)
				continue
			}
			r.ReviewRouted = true
		}
		if err = e.guard(wctx, "audit", func() error { return e.o.Audit.Write(wctx, r) }); err != nil {
			err = fmt.Errorf("remediate: write audit record for message %s: %w", r.Correlation.MessageID, err)
			continue
		}
		return nil
	}
	return err
}

// complete marks key done, retrying a few times (even past the
// message's own context): the record is written, and a missing done
// marker would let a redelivery record the finding a second time.
func (e *Engine) complete(ctx context.Context, key string) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	return retryWrite(cctx, 3, 100*time.Millisecond, func(ctx context.Context) error {
		return e.guard(ctx, "idempotency", func() error { return e.o.Idempotency.Complete(ctx, key) })
	})
}

func (e *Engine) release(ctx context.Context, key string) {
	// Release with a fresh context: the message's may already be done.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := e.guard(rctx, "idempotency", func() error { return e.o.Idempotency.Release(rctx, key) }); err != nil {
		e.o.Logger.LogAttrs(ctx, slog.LevelWarn, "idempotency release failed; the retry waits for the claim to expire",
			slog.Any("error", err))
	}
}

// act takes an evaluated finding to its terminal outcome, filling r. It
// returns an error only for a transient failure; every unsure or
// permanent failure (a panic included) ends as a review or failed
// outcome instead. s.interrupted names the stage ("apply") when the
// error came after a change may have been made. prior is the evidence an
// earlier delivery's started or interrupted change kept, or nil.
func (e *Engine) act(ctx context.Context, f *Finding, d Decision, r, prior *audit.Record, s *changeState) error {
	if prior != nil {
		// Whatever this delivery ends in, the record carries what the
		// interrupted change would have done and may have done.
		r.Evidence = prior.Evidence
		r.Evidence.After, r.Evidence.Verified = nil, false
	}
	review := func(format string, args ...any) error {
		msg := fmt.Sprintf(format, args...)
		r.Decision = VerdictReview.String()
		r.Reasons = append(r.Reasons, audit.Reason{Check: CheckRegistry, LeadsTo: VerdictReview.String(), Message: msg})
		r.Outcome = string(OutcomeReview)
		r.FailureReason = msg
		return nil
	}
	if !d.Remediates() {
		if d.Verdict == VerdictRemediate {
			return review("the policy approved the finding with reasons or without an action")
		}
		r.Outcome = string(d.Verdict.Outcome())
		if len(d.Reasons) > 0 && d.Verdict != VerdictSkip {
			r.FailureReason = d.Reasons[0].Message
		}
		return nil
	}
	// Defence in depth: a policy that approves an ambiguous finding, an
	// unknown action or a mismatched type is overruled.
	if len(f.Concerns) > 0 {
		return review("the finding has %d unresolved concern(s), first: %s: %s", len(f.Concerns), f.Concerns[0].Field, f.Concerns[0].Message)
	}
	rem, err := e.o.Registry.Lookup(d.Action)
	if err != nil {
		return review("no remediator is registered for action %q; register one or change the playbook", d.Action)
	}
	spec := rem.Spec()
	if !slices.Contains(spec.ResourceTypes, f.Resource.Type) {
		return review("action %q fixes resource types %v, not %q", d.Action, spec.ResourceTypes, f.Resource.Type)
	}
	needsApproval := approvalNeed(spec, d)
	if needsApproval != "" && s.grant == nil && e.o.Approvals == nil {
		if d.ApprovalRequired {
			return review("%s, and the engine has no approval store (Options.Approvals) to ask for it", needsApproval)
		}
		return review("action %q is marked sensitive and needs human approval; a policy can approve it (eligibility: sensitive_approved)", d.Action)
	}
	if e.o.Mode == ModeDecideOnly {
		r.Outcome = string(OutcomePlanned)
		r.DryRun = true
		r.Evidence.Changes = []string{fmt.Sprintf("would run %s on %s (decide-only: live state not read)", d.Action, f.Resource.ID)}
		if needsApproval != "" {
			r.Evidence.Changes[0] = fmt.Sprintf("would ask for approval to run %s on %s (%s; decide-only: live state not read)", d.Action, f.Resource.ID, needsApproval)
		}
		return nil
	}

	ctx, cancel := context.WithTimeout(ctx, e.o.Timeout)
	defer cancel()
	ctx, reqs := withRequestLog(ctx, f.ID)
	defer func() { r.Evidence.RequestIDs = reqs.list() }()
	for _, id := range r.Evidence.RequestIDs {
		RecordRequestID(ctx, id) // an interrupted delivery's calls come first
	}

	// fail ends the finding as failed for a permanent error and returns
	// a transient one for the transport to retry.
	fail := func(stage string, err error) error {
		err = e.o.Classify(err)
		if stage != "assume role" {
			err = markCodes(err, spec.PermanentErrorCodes)
		}
		if IsTransient(err) {
			return fmt.Errorf("remediate: %s for finding %s: %w", stage, f.ID, err)
		}
		r.Outcome = string(OutcomeFailed)
		r.FailureReason = stage + ": " + err.Error()
		return nil
	}
	var cfg aws.Config
	err = e.guard(ctx, "assume role", func() (err error) { cfg, err = e.o.Credentials.Config(ctx, f, spec); return err })
	// Named even when the role could not be assumed: the attempt is in
	// the customer account's CloudTrail under that name.
	r.Correlation.SessionName = reqs.sessionName()
	if err != nil {
		return fail("assume role", err)
	}
	t := Target{Finding: f, AWS: cfg, Logger: e.o.Logger.With(slog.String("finding_id", f.ID), slog.String("action", d.Action)), clients: reqs.targetClients()}
	var plan Plan
	if err := e.guard(ctx, "plan", func() (err error) { plan, err = rem.Plan(ctx, t); return err }); err != nil {
		return fail("plan", err)
	}
	verify := func() error {
		v, ok := rem.(Verifier)
		if !ok {
			return nil
		}
		if err := e.guard(ctx, "verify", func() error { return v.Verify(ctx, t, plan) }); err != nil {
			return err
		}
		r.Evidence.Verified = true
		return nil
	}
	// applied is the outcome of a change: applied once a read-back
	// confirmed it, applied-unverified (to review) for a remediator that
	// cannot read back.
	applied := func() {
		r.Outcome = string(OutcomeApplied)
		if !r.Evidence.Verified {
			r.Outcome = string(OutcomeAppliedUnverified)
			r.FailureReason = fmt.Sprintf("action %q has no Verify: the change was made but not read back", d.Action)
		}
	}
	switch {
	case prior != nil && plan.Compliant:
		// The earlier delivery's Apply, whose outcome was unknown, took
		// effect (or someone made the same change meanwhile): record the
		// change with its evidence, confirmed by this read.
		r.Evidence.After = plan.Before
		if err := verify(); err != nil {
			return fail("verify", err)
		}
		applied()
		return nil
	case prior != nil && !slices.Equal(plan.Changes, prior.Evidence.Changes):
		// It took effect in part, or the resource changed meanwhile: the
		// rollback data no longer describe one change.
		r.Evidence.After = plan.Before
		return review("an earlier delivery's change, whose outcome was unknown, left the resource in a state that now needs %q rather than %q",
			plan.Changes, prior.Evidence.Changes)
	}
	// A prior Apply that changed nothing is retried as if it had not been.
	r.Evidence.Before, r.Evidence.After, r.Evidence.Changes = plan.Before, plan.After, plan.Changes
	if prior == nil || plan.Rollback != nil {
		r.Evidence.Rollback = plan.Rollback
	}
	switch {
	case plan.Compliant:
		r.Outcome = string(OutcomeCompliant)
		return nil
	case e.o.Mode == ModeDryRun:
		r.Outcome = string(OutcomePlanned)
		r.DryRun = true
		return nil
	}
	r.Evidence.RequestIDs = reqs.list()
	if stop, err := e.approvalGate(ctx, f, d, r, plan, s, needsApproval); stop || err != nil {
		return err
	}
	if err := e.keepIntent(ctx, s, r); err != nil {
		return err
	}
	var res Result
	if err := e.guard(ctx, "apply", func() (err error) { res, err = rem.Apply(ctx, t, plan); return err }); err != nil {
		if isPanic(err) {
			r.Outcome = string(OutcomeFailed)
			r.FailureReason = "apply: " + err.Error() + " (the change may have been made: check the resource against the evidence)"
			return nil
		}
		// Its outcome is unknown: the SDK retries, and an attempt before
		// the one that failed last may have landed.
		if err = fail("apply", err); err != nil {
			s.interrupted = "apply"
		}
		return err
	}
	if res.After != nil {
		r.Evidence.After = res.After
	}
	if res.Rollback != nil {
		r.Evidence.Rollback = res.Rollback
	}
	for _, id := range res.RequestIDs {
		RecordRequestID(ctx, id)
	}
	if err := verify(); err != nil {
		// The change was made but is not confirmed: a person must look,
		// whatever kind of error this is.
		r.Outcome = string(OutcomeFailed)
		r.FailureReason = "verify: " + err.Error()
		return nil
	}
	applied()
	return nil
}

func (e *Engine) newRecord(m Message, f *Finding, d Decision) *audit.Record {
	r := &audit.Record{
		Schema:        audit.SchemaVersion,
		ID:            e.o.NewID(),
		Time:          m.ReceivedAt,
		Decision:      d.Verdict.String(),
		Action:        d.Action,
		PolicyVersion: d.PolicyVersion,
		Correlation:   audit.Correlation{MessageID: m.ID, ReceiveCount: m.ReceiveCount},
		Timings:       audit.Timings{Received: m.ReceivedAt},
	}
	if len(d.Reasons) > 0 {
		r.Reasons = make([]audit.Reason, len(d.Reasons))
		for i, x := range d.Reasons {
			r.Reasons[i] = audit.Reason{Check: x.Check, LeadsTo: x.Verdict.String(), Message: x.Message}
		}
	}
	if f == nil {
		r.Outcome = string(OutcomeRejected)
		if len(d.Reasons) > 0 {
			r.FailureReason = d.Reasons[0].Message
		}
		return r
	}
	r.Finding = audit.Finding{
		ID: f.ID, Source: f.Source, TriggerSource: f.TriggerSource, TriggerType: f.TriggerType,
		Status: f.Status, Severity: string(f.Severity), ControlID: f.Control.ID, ControlName: f.Control.Name,
		RuleID: f.Rule.ID, Environment: f.Environment, Owner: f.Owner, Exception: string(f.Exception),
		Revision: f.Revision,
	}
	r.Resource = audit.Resource{
		ID: f.Resource.ID, Type: f.Resource.Type, Name: f.Resource.Name,
		Account: f.Resource.Account, Region: f.Resource.Region,
	}
	r.Correlation.CorrelationID = f.CorrelationID
	return r
}
