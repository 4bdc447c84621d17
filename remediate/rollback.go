package remediate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/remedy-sec/remedy/audit"
)

// OutcomeRolledBack is the outcome of a rollback record (see
// Engine.Rollback): the change of the record it names in RollbackOf was
// undone and the prior state read back.
const OutcomeRolledBack Outcome = "rolled-back"

// DecisionRollback is the Decision of a rollback record: an operator's
// request to undo a change, not a policy's verdict.
const DecisionRollback = "rollback"

// Rollback undoes the change an applied audit record describes, from the
// rollback data in its evidence, and returns its own record — written to
// Options.Audit (and to Options.Review when it needs a person), with
// RollbackOf naming rec.
//
// It rebuilds the finding's target from rec (account, region, resource
// id, type and name, action) and acts through Options.Credentials with
// the remediator's Spec, as the fix did: the same cross-account role and
// session policy. It reads live state with the remediator's Plan and
// refuses — outcome review, nothing changed — unless the live state is
// the one the fix left (rec.Evidence.After): a resource someone changed
// since is not put back blindly. The refusal's FailureReason and
// Evidence.Changes show the difference. Otherwise it calls the
// remediator's Rollback with rec.Evidence.Rollback and reads back: the
// outcome is rolled-back when live state is again the state before the
// fix (rec.Evidence.Before), failed (with the difference) when not.
//
// Only a record with outcome applied, for a registered remediator that
// implements Rollbacker, with rollback data, can be rolled back; any
// other is refused with outcome review. In ModeDryRun nothing is
// changed: the record, outcome planned, shows in Evidence.After and
// Changes what would be restored. ModeDecideOnly cannot roll back.
//
// The error is non-nil, and nothing is recorded, for a transient failure
// before anything was changed (assuming the role, reading live state),
// which the caller may retry, or when the record could not be written.
func (e *Engine) Rollback(ctx context.Context, rec *audit.Record) (*audit.Record, error) {
	if rec == nil {
		return nil, errors.New("remediate: Rollback: no record; pass the audit record of the change to undo")
	}
	if e.o.Mode == ModeDecideOnly {
		return nil, errors.New("remediate: Rollback: the engine is in decide-only mode and makes no AWS call; use ModeApply (or ModeDryRun to see what would be restored)")
	}
	start := e.o.Now()
	r := &audit.Record{
		Schema:        audit.SchemaVersion,
		ID:            e.o.NewID(),
		Time:          start,
		Finding:       rec.Finding,
		Resource:      rec.Resource,
		Decision:      DecisionRollback,
		Action:        rec.Action,
		PolicyVersion: rec.PolicyVersion,
		RollbackOf:    rec.ID,
		Correlation:   audit.Correlation{CorrelationID: rec.Correlation.CorrelationID},
		Timings:       audit.Timings{Received: start},
	}
	if err := e.rollback(ctx, rec, r); err != nil {
		return nil, err
	}
	r.Timings.Completed = e.o.Now()
	r.Timings.DurationMS = float64(r.Timings.Completed.Sub(r.Timings.Received).Microseconds()) / 1000
	if err := e.writeRecord(ctx, r); err != nil {
		return nil, err
	}
	e.o.Logger.LogAttrs(ctx, slog.LevelInfo, "rollback processed",
		slog.String("record_id", r.ID), slog.String("rollback_of", rec.ID),
		slog.String("outcome", r.Outcome), slog.String("action", r.Action))
	return r, nil
}

// rollback fills r. It returns an error only for a transient failure
// before any change.
func (e *Engine) rollback(ctx context.Context, rec, r *audit.Record) error {
	refuse := func(format string, args ...any) error {
		msg := fmt.Sprintf(format, args...)
		r.Outcome = string(OutcomeReview)
		r.FailureReason = "rollback refused: " + msg
		r.Reasons = append(r.Reasons, audit.Reason{Check: CheckRollback, LeadsTo: VerdictReview.String(), Message: msg})
		return nil
	}
	switch {
	case rec.ID == "":
		return refuse("the record has no id")
	case rec.Outcome != string(OutcomeApplied):
		return refuse("record %s has outcome %q: only a change with outcome %q (made and read back) can be rolled back", rec.ID, rec.Outcome, OutcomeApplied)
	case rec.DryRun:
		return refuse("record %s is of a dry run: nothing was changed", rec.ID)
	case rec.Action == "":
		return refuse("record %s names no action", rec.ID)
	case len(rec.Evidence.Rollback) == 0:
		return refuse("record %s has no rollback data (evidence.rollback)", rec.ID)
	case !json.Valid(rec.Evidence.Rollback):
		return refuse("record %s: its rollback data (evidence.rollback) is not valid JSON", rec.ID)
	case len(rec.Evidence.After) == 0 || !json.Valid(rec.Evidence.After):
		return refuse("record %s has no valid state after the fix (evidence.after) to compare live state with", rec.ID)
	case len(rec.Evidence.Before) == 0 || !json.Valid(rec.Evidence.Before):
		return refuse("record %s has no valid state before the fix (evidence.before) to restore", rec.ID)
	}
	rem, err := e.o.Registry.Lookup(rec.Action)
	if err != nil {
		return refuse("no remediator is registered for action %q", rec.Action)
	}
	rb, ok := rem.(Rollbacker)
	if !ok {
		return refuse("the remediator of action %q cannot roll back (it implements no Rollbacker)", rec.Action)
	}
	spec := rem.Spec()
	if !slices.Contains(spec.ResourceTypes, rec.Resource.Type) {
		return refuse("action %q fixes resource types %v, not %q", rec.Action, spec.ResourceTypes, rec.Resource.Type)
	}
	f := rollbackFinding(rec)

	ctx, cancel := context.WithTimeout(ctx, e.o.Timeout)
	defer cancel()
	ctx, reqs := withRequestLog(ctx, f.ID)
	defer func() { r.Evidence.RequestIDs = reqs.list() }()

	// fail ends the rollback as failed for a permanent error, and returns
	// a transient one: nothing has been changed yet.
	fail := func(stage string, err error) error {
		err = e.o.Classify(err)
		if stage != "assume role" {
			err = markCodes(err, spec.PermanentErrorCodes)
		}
		if IsTransient(err) {
			return fmt.Errorf("remediate: rollback of record %s: %s (nothing was changed; try again): %w", rec.ID, stage, err)
		}
		r.Outcome = string(OutcomeFailed)
		r.FailureReason = "rollback " + stage + ": " + err.Error()
		return nil
	}
	var cfg aws.Config
	err = e.guard(ctx, "assume role", func() (err error) { cfg, err = e.o.Credentials.Config(ctx, f, spec); return err })
	r.Correlation.SessionName = reqs.sessionName()
	if err != nil {
		return fail("assume role", err)
	}
	t := Target{Finding: f, AWS: cfg, Logger: e.o.Logger.With(slog.String("rollback_of", rec.ID), slog.String("action", rec.Action)), clients: reqs.targetClients()}
	var live Plan
	if err := e.guard(ctx, "plan", func() (err error) { live, err = rem.Plan(ctx, t); return err }); err != nil {
		return fail("read live state", err)
	}
	r.Evidence.Before = live.Before
	if diff := StateDiff(rec.Evidence.After, live.Before); len(diff) > 0 {
		r.Evidence.Changes = diff
		return refuse("resource %s changed since record %s fixed it: live state is not the state the fix left (evidence.after): %s",
			rec.Resource.ID, rec.ID, strings.Join(diff, "; "))
	}
	r.Evidence.After = rec.Evidence.Before
	r.Evidence.Changes = StateDiff(live.Before, rec.Evidence.Before)
	r.Evidence.Rollback = nil
	if e.o.Mode == ModeDryRun {
		r.Outcome = string(OutcomePlanned)
		r.DryRun = true
		return nil
	}
	if err := e.guard(ctx, "rollback", func() error { return rb.Rollback(ctx, t, rec.Evidence.Rollback) }); err != nil {
		r.Outcome = string(OutcomeFailed)
		r.FailureReason = "rollback: " + e.o.Classify(err).Error() + " (the prior state may have been restored in part: check the resource against the evidence)"
		return nil
	}
	var back Plan
	if err := e.guard(ctx, "read back", func() (err error) { back, err = rem.Plan(ctx, t); return err }); err != nil {
		r.Outcome = string(OutcomeFailed)
		r.FailureReason = "rollback read back: " + err.Error() + " (the rollback was made but not confirmed)"
		return nil
	}
	r.Evidence.After = back.Before
	if diff := StateDiff(rec.Evidence.Before, back.Before); len(diff) > 0 {
		r.Outcome = string(OutcomeFailed)
		r.FailureReason = "rollback read back: live state is not the state before the fix (evidence.before of record " + rec.ID + "): " + strings.Join(diff, "; ")
		return nil
	}
	r.Evidence.Verified = true
	r.Outcome = string(OutcomeRolledBack)
	return nil
}

// CheckRollback is the check name of a rollback's refusal reasons.
const CheckRollback = "rollback"

// rollbackFinding rebuilds, from an audit record, the finding its
// remediator and credential source act on.
func rollbackFinding(rec *audit.Record) *Finding {
	f := &Finding{
		ID: rec.Finding.ID, Source: rec.Finding.Source, TriggerSource: rec.Finding.TriggerSource,
		TriggerType: rec.Finding.TriggerType, Status: rec.Finding.Status, Severity: Severity(rec.Finding.Severity),
		Control:     Control{ID: rec.Finding.ControlID, Name: rec.Finding.ControlName},
		Rule:        Rule{ID: rec.Finding.RuleID},
		Environment: rec.Finding.Environment, Owner: rec.Finding.Owner,
		Exception: ExceptionStatus(rec.Finding.Exception), Revision: rec.Finding.Revision,
		CorrelationID:  rec.Correlation.CorrelationID,
		ProposedAction: rec.Action,
		Resource: Resource{
			ID: rec.Resource.ID, Type: rec.Resource.Type, Name: rec.Resource.Name,
			Account: rec.Resource.Account, Region: rec.Resource.Region,
		},
	}
	if strings.HasPrefix(f.Resource.ID, "arn:") {
		f.Resource.ARN = f.Resource.ID
	}
	return f
}

// StateDiff compares two JSON states, such as a record's evidence and
// live state, field by field, and returns one line per field whose value
// differs: "path: A → B". Null, empty arrays and empty objects count as
// absent. A value that is not valid JSON is compared as a whole. Nil
// means the two states are the same.
func StateDiff(from, to json.RawMessage) []string {
	a, aerr := flattenJSON(from)
	b, berr := flattenJSON(to)
	if aerr != nil || berr != nil {
		if bytes.Equal(bytes.TrimSpace(from), bytes.TrimSpace(to)) {
			return nil
		}
		return []string{fmt.Sprintf("%s → %s", orAbsent(string(from)), orAbsent(string(to)))}
	}
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var out []string
	for _, k := range keys {
		x, y := a[k], b[k]
		if x == y {
			continue
		}
		name := k
		if name == "" {
			name = "(value)"
		}
		out = append(out, fmt.Sprintf("%s: %s → %s", name, orAbsent(x), orAbsent(y)))
	}
	return out
}

func orAbsent(s string) string {
	if s == "" {
		return "(absent)"
	}
	return s
}

// flattenJSON maps each leaf of a JSON document to its path ("a.b[2]")
// and its value as compact JSON.
func flattenJSON(doc json.RawMessage) (map[string]string, error) {
	out := map[string]string{}
	if len(bytes.TrimSpace(doc)) == 0 {
		return out, nil
	}
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, errors.New("trailing data")
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case nil:
		case map[string]any:
			for k, x := range v {
				p := k
				if path != "" {
					p = path + "." + k
				}
				walk(p, x)
			}
		case []any:
			for i, x := range v {
				walk(path+"["+strconv.Itoa(i)+"]", x)
			}
		default:
			b, _ := json.Marshal(v)
			out[path] = string(b)
		}
	}
	walk("", v)
	return out, nil
}
