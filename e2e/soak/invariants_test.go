package soak

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/eligibility"
	"github.com/remedy-sec/remedy/internal/faultproxy"
	"github.com/remedy-sec/remedy/internal/scenario"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediators/ebssnapshot"
	"github.com/remedy-sec/remedy/remediators/kmsrotation"
	"github.com/remedy-sec/remedy/remediators/s3encryption"
	"github.com/remedy-sec/remedy/remediators/s3publicaccess"
	"github.com/remedy-sec/remedy/remediators/sgingress"
	"github.com/remedy-sec/remedy/wizpayload"
)

// The invariants, as the failure names them.
const (
	invTerminal    = "every finding has exactly one terminal audit record"
	invOutcome     = "every finding ends in the outcome its case calls for"
	invRejected    = "every rejected message has exactly one rejected record"
	invRecorded    = "every change Remedy made is in a record"
	invOnce        = "no resource was written twice for one finding"
	invEligible    = "no resource outside the eligible set was written"
	invDLQ         = "the dead-letter queue holds exactly the poison messages"
	invDeadRecord  = "each poison message has one dead-lettered record with the reason of its last delivery"
	invDrained     = "the findings queue drained"
	invLive        = "live resources are fixed exactly where the policy allowed"
	invIdempotency = "the idempotency table holds one done marker per finding and no claim or kept record"
	invReview      = "every review, failure and dead letter reached the review route"
)

// evidence is what the run left behind, read from moto and the proxy.
type evidence struct {
	records []audit.Record
	claims  []claim
	// dlq holds the finding id of each dead-letter queue message ("" when
	// its body names none).
	dlq                     []string
	queueVisible, queueBusy int
	writes                  []faultproxy.Write
	// fixed says, per resource, whether it is compliant now.
	fixed map[string]bool
	// reviews are the finding ids of the review route's messages.
	reviews []string
	// keyOf is each finding's idempotency key, as the engine computes it.
	keyOf map[string]string
	// retried is, per finding, the last delivery the workers logged as
	// given back after a transient failure; kills are when the victim was
	// killed.
	retried map[string]retry
	kills   []time.Time
	// unaudited lists the poison findings whose last delivery died with a
	// killed worker (see check), filled by check.
	unaudited []string
	// at is when the evidence was read (for claim expiry).
	at time.Time
}

// retry is a delivery given back after a transient failure, from the
// worker's log.
type retry struct {
	receiveCount int
	at           time.Time
	backoff      time.Duration
}

// claim is an item of the idempotency table.
type claim struct {
	key, status string
	expires     time.Time
	kept        bool
	// keptFor and keptNote are the finding and the earlier attempt of a
	// kept record.
	keptFor, keptNote string
}

// violation is a broken invariant with examples.
type violation struct {
	invariant string
	count     int
	examples  []string
}

func (v violation) String() string {
	return fmt.Sprintf("%s: %d violation(s), e.g.\n\t%s", v.invariant, v.count, strings.Join(v.examples, "\n\t"))
}

// violations collects violations per invariant, keeping a few examples.
type violations map[string]*violation

func (vs violations) add(inv, format string, args ...any) {
	v := vs[inv]
	if v == nil {
		v = &violation{invariant: inv}
		vs[inv] = v
	}
	v.count++
	if len(v.examples) < 5 {
		v.examples = append(v.examples, fmt.Sprintf(format, args...))
	}
}

func (vs violations) list() []violation {
	var out []violation
	for _, inv := range []string{invTerminal, invOutcome, invRejected, invRecorded, invOnce, invEligible, invDLQ, invDeadRecord, invDrained, invLive, invIdempotency, invReview} {
		if v := vs[inv]; v != nil {
			out = append(out, *v)
		}
	}
	return out
}

// allInvariants is how many invariants check checks.
const allInvariants = 12

// check holds the run's evidence against the plan.
func check(p *plan, ev *evidence) []violation {
	vs := violations{}
	byID := map[string]*item{}
	for _, it := range p.items {
		byID[it.id] = it
	}
	terminal := map[string][]audit.Record{}
	dead := map[string][]audit.Record{}
	var rejected []audit.Record
	for _, r := range ev.records {
		switch {
		case r.Outcome == string(remediate.OutcomeDeadLettered):
			dead[r.Finding.ID] = append(dead[r.Finding.ID], r)
		case r.Outcome == string(remediate.OutcomeRejected):
			rejected = append(rejected, r)
		default:
			terminal[r.Finding.ID] = append(terminal[r.Finding.ID], r)
			if byID[r.Finding.ID] == nil {
				vs.add(invTerminal, "record %s (%s) for %q, which is no finding of the soak", r.ID, r.Outcome, r.Finding.ID)
			}
		}
	}

	// Terminal records and outcomes.
	for _, it := range p.items {
		rs := terminal[it.id]
		switch {
		case it.cat == caseReject:
			continue
		case it.cat == casePoison:
			if len(rs) != 0 {
				vs.add(invTerminal, "poison finding %s has terminal records %s, want none (it must reach the dead-letter queue)", it.id, outcomes(rs))
			}
			continue
		case len(rs) != 1:
			vs.add(invTerminal, "finding %s (%s, %s) has %d terminal records: %s", it.id, it.cat, it.action, len(rs), outcomes(rs))
			if len(rs) == 0 {
				continue
			}
		}
		for _, r := range rs {
			if !outcomeFits(it, r) {
				vs.add(invOutcome, "finding %s (%s, %s in %s): %s", it.id, it.cat, it.action, it.account, describe(r))
			}
		}
	}
	if n := p.rejectMessages(); len(rejected) != n {
		vs.add(invRejected, "%d rejected records for %d messages with a malformed payload", len(rejected), n)
	}
	seen := map[string]bool{}
	for _, r := range rejected {
		if seen[r.Correlation.MessageID] {
			vs.add(invRejected, "message %s has more than one rejected record", r.Correlation.MessageID)
		}
		seen[r.Correlation.MessageID] = true
	}

	// Writes, from the proxy's log.
	took := map[string][]faultproxy.Write{}
	for _, w := range ev.writes {
		if w.Took() {
			took[w.Resource] = append(took[w.Resource], w)
		}
	}
	for _, res := range slices.Sorted(maps.Keys(took)) {
		ws := took[res]
		it := p.byResource[res]
		if it == nil || it.cat != caseRemediate {
			what := res
			if it != nil {
				what = fmt.Sprintf("%s (finding %s, %s)", res, it.id, it.cat)
			}
			vs.add(invEligible, "%s written by %s", what, writeText(ws))
			continue
		}
		invocations := map[string]bool{}
		for _, w := range ws {
			invocations[w.Invocation] = true
		}
		if len(invocations) > 1 {
			vs.add(invOnce, "%s (finding %s) written by %d calls: %s", res, it.id, len(invocations), writeText(ws))
		}
		rs := terminal[it.id]
		if !slices.ContainsFunc(rs, recordsChange) {
			vs.add(invRecorded, "%s (finding %s) written by %s; its records: %s", res, it.id, writeText(ws), outcomes(rs))
		}
	}

	// The dead-letter queue and its records.
	var wantDLQ []string
	for _, it := range p.items {
		if it.cat == casePoison {
			wantDLQ = append(wantDLQ, it.id)
			ds := dead[it.id]
			switch {
			case len(ds) == 0 && diedHolding(ev, it.id):
				// Its last delivery was in the worker when it was killed:
				// SQS counted it, and no consumer can audit a delivery it
				// died holding. Reported, not a violation.
				ev.unaudited = append(ev.unaudited, it.id)
			case len(ds) != 1:
				vs.add(invDeadRecord, "poison finding %s has %d dead-lettered records, want 1%s", it.id, len(ds), lastRetry(ev, it.id))
			}
			for _, d := range ds {
				// The reason is the last delivery's failure: the poison's
				// own fault, or another transient one that delivery met —
				// but not a claim that nothing holds any more, which hides
				// the cause from whoever reads the dead-letter queue.
				if d.FailureReason == "" || !strings.Contains(d.FailureReason, it.code) && strings.Contains(d.FailureReason, remediate.ErrInProgress.Error()) {
					vs.add(invDeadRecord, "poison finding %s: dead-lettered record says %q, not its fault %s", it.id, d.FailureReason, it.code)
				}
			}
		}
	}
	for id, ds := range dead {
		if it := byID[id]; it == nil || it.cat != casePoison {
			vs.add(invDeadRecord, "finding %q is no poison but has %d dead-lettered record(s), last: %s", id, len(ds), ds[len(ds)-1].FailureReason)
		}
	}
	got := slices.Sorted(slices.Values(ev.dlq))
	slices.Sort(wantDLQ)
	for _, id := range diff(wantDLQ, got) {
		vs.add(invDLQ, "poison finding %s is not in the dead-letter queue", id)
	}
	for _, id := range diff(got, wantDLQ) {
		it := byID[id]
		if it == nil {
			vs.add(invDLQ, "a message (finding %q) is in the dead-letter queue and is no poison", id)
			continue
		}
		vs.add(invDLQ, "finding %s (%s, %s) is in the dead-letter queue; its records: %s %s", id, it.cat, it.action, outcomes(terminal[id]), outcomes(dead[id]))
	}
	if ev.queueVisible != 0 || ev.queueBusy != 0 {
		vs.add(invDrained, "the findings queue holds %d visible and %d in-flight messages", ev.queueVisible, ev.queueBusy)
	}

	// Live resources.
	for _, it := range p.items {
		if it.resource == "" {
			continue
		}
		fixed, ok := ev.fixed[it.resource]
		if want := it.cat == caseRemediate || it.cat == caseCompliant; !ok || fixed != want {
			vs.add(invLive, "%s %s of finding %s (%s, in %s): compliant %v (read: %v), want %v", it.action, it.resource, it.id, it.cat, it.account, fixed, ok, want)
		}
	}

	// The idempotency table.
	byKey := map[string]claim{}
	ours := map[string]bool{}
	for _, k := range ev.keyOf {
		ours[k] = true
	}
	done, doneOther := 0, 0
	for _, c := range ev.claims {
		byKey[c.key] = c
		switch {
		case c.kept && len(terminal[c.keptFor]) > 0:
			vs.add(invIdempotency, "finding %s was audited (%s) but its key still keeps a record (status %s, %q): Complete failed or never ran, and a later delivery would record it again", c.keptFor, outcomes(terminal[c.keptFor]), c.status, c.keptNote)
		case c.kept:
			vs.add(invIdempotency, "finding %s: its key still keeps a record (status %s, %q): evidence nobody audited", c.keptFor, c.status, c.keptNote)
		case c.status == "done":
			done++
			if !ours[c.key] {
				doneOther++
			}
		case c.expires.After(ev.at):
			vs.add(invIdempotency, "key %s is still claimed until %s", c.key, c.expires.Format(time.RFC3339))
		}
	}
	if len(ev.keyOf) == 0 {
		if want := p.terminal(); done != want {
			vs.add(invIdempotency, "%d done markers, want %d (one per finding and per rejected message)", done, want)
		}
	} else {
		for _, it := range p.items {
			if it.cat == caseReject || it.cat == casePoison {
				continue
			}
			if c := byKey[ev.keyOf[it.id]]; c.status != "done" {
				vs.add(invIdempotency, "finding %s (%s): no done marker (status %q, claim until %s): a later delivery would be processed again", it.id, it.cat, c.status, c.expires.Format(time.RFC3339))
			}
		}
		if want := p.rejectMessages(); doneOther != want {
			vs.add(invIdempotency, "%d done markers for rejected messages, want %d", doneOther, want)
		}
	}

	// The review route.
	reviewed := map[string]bool{}
	for _, id := range ev.reviews {
		reviewed[id] = true
	}
	for _, r := range ev.records {
		if r.Outcome != string(remediate.OutcomeReview) && r.Outcome != string(remediate.OutcomeFailed) && r.Outcome != string(remediate.OutcomeDeadLettered) {
			continue
		}
		if r.Outcome != string(remediate.OutcomeDeadLettered) && !r.ReviewRouted {
			vs.add(invReview, "finding %s: %s record not routed to review", r.Finding.ID, r.Outcome)
		}
		if !reviewed[r.Finding.ID] {
			vs.add(invReview, "finding %s: %s, but no review message names it", r.Finding.ID, r.Outcome)
		}
	}
	return vs.list()
}

// diedHolding reports whether finding's last delivery (maxReceive) was
// due when a worker was killed: its previous one was given back with a
// back-off that ended at most a visibility timeout before a kill.
func diedHolding(ev *evidence, finding string) bool {
	r, ok := ev.retried[finding]
	if !ok || r.receiveCount != maxReceive-1 {
		return false
	}
	due := r.at.Add(r.backoff)
	for _, k := range ev.kills {
		if !k.Before(due.Add(-time.Second)) && !k.After(due.Add(visibility)) {
			return true
		}
	}
	return false
}

func lastRetry(ev *evidence, finding string) string {
	r, ok := ev.retried[finding]
	if !ok {
		return ""
	}
	return fmt.Sprintf(" (delivery %d given back at %s for %s; kills at %v)", r.receiveCount, r.at.Format("15:04:05.000"), r.backoff, ev.kills)
}

// outcomeFits reports whether r is an outcome item's case allows.
func outcomeFits(it *item, r audit.Record) bool {
	switch it.cat {
	case caseRemediate:
		// Applied, or changed but not confirmed (the read-back failed
		// both attempts), which goes to a person.
		return r.Outcome == string(remediate.OutcomeApplied) && r.Action == it.action ||
			r.Outcome == string(remediate.OutcomeFailed) && strings.HasPrefix(r.FailureReason, "verify:") && r.ReviewRouted
	case caseCompliant:
		return r.Outcome == string(remediate.OutcomeCompliant) && r.Evidence.EarlierAttempt == ""
	case caseReview:
		return r.Outcome == string(remediate.OutcomeReview)
	case caseSkip:
		return r.Outcome == string(remediate.OutcomeSkipped)
	}
	return false
}

// recordsChange reports whether r documents a change Remedy made: it was
// applied, or made and not confirmed, or an earlier attempt's change is
// carried as evidence.
func recordsChange(r audit.Record) bool {
	return r.Outcome == string(remediate.OutcomeApplied) ||
		r.Outcome == string(remediate.OutcomeFailed) && strings.HasPrefix(r.FailureReason, "verify:") ||
		r.Evidence.EarlierAttempt != ""
}

func describe(r audit.Record) string {
	s := r.Outcome
	if r.FailureReason != "" {
		s += ": " + r.FailureReason
	}
	if r.Evidence.EarlierAttempt != "" {
		s += " (earlier attempt: " + r.Evidence.EarlierAttempt + ")"
	}
	return fmt.Sprintf("%s (message %s, receive %d)", s, r.Correlation.MessageID, r.Correlation.ReceiveCount)
}

func outcomes(rs []audit.Record) string {
	if len(rs) == 0 {
		return "none"
	}
	var out []string
	for _, r := range rs {
		out = append(out, describe(r))
	}
	return "[" + strings.Join(out, "; ") + "]"
}

func writeText(ws []faultproxy.Write) string {
	var out []string
	for _, w := range ws {
		s := fmt.Sprintf("%s #%d (invocation %s attempt %d, status %d", w.Operation, w.Seq, w.Invocation, w.Attempt, w.Status)
		if w.Fault != "" {
			s += ", answer lost: " + w.Fault
		}
		out = append(out, s+")")
	}
	return strings.Join(out, ", ")
}

// diff returns the elements of a (sorted) missing from b (sorted),
// counting repeats.
func diff(a, b []string) []string {
	var out []string
	i := 0
	for _, x := range a {
		for i < len(b) && b[i] < x {
			i++
		}
		if i < len(b) && b[i] == x {
			i++
			continue
		}
		out = append(out, x)
	}
	return out
}

// gather reads the evidence: the audit and idempotency tables, the
// queues, the live resources (through moto directly) and the proxy's
// write log.
func gather(ctx context.Context, w *scenario.World, p *plan, px *faultproxy.Proxy, logs string, kills []time.Time) (*evidence, error) {
	ev := &evidence{writes: px.Writes(), fixed: map[string]bool{}, at: time.Now(), kills: kills}
	var err error
	if ev.retried, err = retries(logs); err != nil {
		return nil, err
	}
	if ev.keyOf, err = keys(ctx, w, p); err != nil {
		return nil, err
	}
	if ev.records, err = w.AuditRecords(ctx); err != nil {
		return nil, err
	}
	if ev.claims, err = claims(ctx, w); err != nil {
		return nil, err
	}
	if ev.queueVisible, ev.queueBusy, err = w.Depth(ctx, w.QueueURL); err != nil {
		return nil, err
	}
	if ev.dlq, err = deadLetters(ctx, w); err != nil {
		return nil, err
	}
	msgs, err := w.ReviewMessages(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		ev.reviews = append(ev.reviews, m.Finding.ID)
	}

	var mu sync.Mutex
	work := make(chan *item)
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for it := range work {
				ok, err := isFixed(ctx, w, it)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				ev.fixed[it.resource] = ok
				mu.Unlock()
			}
		})
	}
feed:
	for _, it := range p.items {
		if it.resource == "" {
			continue
		}
		select {
		case work <- it:
		case err = <-errs:
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return ev, err
}

// findingIn finds the finding id in an engine error, such as "remediate:
// plan for finding soak-ab12-00042: …".
var findingIn = regexp.MustCompile(`for finding (\S+?):`)

// retries reads the workers' logs in dir for the deliveries given back
// after a transient failure, and returns the last one of each finding
// named in its error.
func retries(dir string) (map[string]retry, error) {
	files, err := filepath.Glob(filepath.Join(dir, "worker-*.stderr"))
	if err != nil {
		return nil, err
	}
	out := map[string]retry{}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			var l struct {
				Time         time.Time
				Msg          string
				ReceiveCount int   `json:"receive_count"`
				Backoff      int64 `json:"backoff"`
				Error        string
			}
			if !bytes.Contains(sc.Bytes(), []byte("message retried after a back-off")) || json.Unmarshal(sc.Bytes(), &l) != nil {
				continue
			}
			m := findingIn.FindStringSubmatch(l.Error)
			if m == nil {
				continue
			}
			if prev, ok := out[m[1]]; !ok || l.ReceiveCount > prev.receiveCount {
				out[m[1]] = retry{receiveCount: l.ReceiveCount, at: l.Time, backoff: time.Duration(l.Backoff)}
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
	}
	return out, nil
}

// keys computes each finding's idempotency key as the engine does, from
// its payload and the policy's decision, so that the idempotency table's
// items can be told apart. Rejected payloads are keyed by the SNS
// envelope's bytes, which only the queue saw, so they are left out.
func keys(ctx context.Context, w *scenario.World, p *plan) (map[string]string, error) {
	policy, err := eligibility.Load(w.PolicyFile)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, it := range p.items {
		if it.cat == caseReject {
			continue
		}
		f, err := wizpayload.New().Parse(it.body)
		if err != nil {
			return nil, fmt.Errorf("finding %s: %w", it.id, err)
		}
		if err := policy.Enrich(ctx, f); err != nil {
			return nil, fmt.Errorf("finding %s: %w", it.id, err)
		}
		d, err := policy.Decide(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("finding %s: %w", it.id, err)
		}
		out[it.id] = remediate.IdempotencyKey(f, d.Action)
	}
	return out, nil
}

// isFixed reads whether item's resource is compliant now.
func isFixed(ctx context.Context, w *scenario.World, it *item) (bool, error) {
	switch it.action {
	case s3publicaccess.Action:
		return w.BucketBlocksPublicAccess(ctx, it.account, it.resource)
	case s3encryption.Action:
		return w.BucketEncrypted(ctx, it.account, it.resource)
	case sgingress.Action:
		ports, err := w.PublicIngressPorts(ctx, it.account, it.resource)
		return !slices.Contains(ports, 22), err
	case kmsrotation.Action:
		return w.KeyRotationEnabled(ctx, it.account, it.arn)
	case ebssnapshot.Action:
		public, err := w.SnapshotPublic(ctx, it.account, it.resource)
		return !public, err
	}
	return false, fmt.Errorf("finding %s: no read-back for action %q", it.id, it.action)
}

// claims scans the idempotency table.
func claims(ctx context.Context, w *scenario.World) ([]claim, error) {
	db := dynamodb.NewFromConfig(w.Platform)
	var out []claim
	pages := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(w.IdempotencyTable), ConsistentRead: aws.Bool(true)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", w.IdempotencyTable, err)
		}
		for _, item := range page.Items {
			c := claim{key: text(item["pk"]), status: text(item["status"])}
			if n, ok := item["expires_at"].(*dbtypes.AttributeValueMemberN); ok {
				ms, _ := strconv.ParseInt(n.Value, 10, 64)
				c.expires = time.UnixMilli(ms)
			}
			if kept, ok := item["kept_record"].(*dbtypes.AttributeValueMemberS); ok {
				c.kept = true
				var r audit.Record
				if json.Unmarshal([]byte(kept.Value), &r) == nil {
					c.keptFor, c.keptNote = r.Finding.ID, r.Evidence.EarlierAttempt
				}
			}
			out = append(out, c)
		}
	}
	return out, nil
}

func text(v dbtypes.AttributeValue) string {
	if s, ok := v.(*dbtypes.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// deadLetters receives every message of the dead-letter queue (leaving
// them there, invisible for a while) and returns the finding id each
// carries.
func deadLetters(ctx context.Context, w *scenario.World) ([]string, error) {
	q := sqs.NewFromConfig(w.Platform)
	var out []string
	for {
		r, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(w.DLQURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 600,
		})
		if err != nil {
			return out, fmt.Errorf("receive from the dead-letter queue: %w", err)
		}
		if len(r.Messages) == 0 {
			return out, nil
		}
		for _, m := range r.Messages {
			out = append(out, findingOf([]byte(aws.ToString(m.Body))))
		}
	}
}

// findingOf returns the Wiz issue id in an SNS notification's message,
// or "".
func findingOf(body []byte) string {
	var env struct{ Message string }
	if json.Unmarshal(body, &env) != nil {
		return ""
	}
	var wiz struct {
		Issue struct{ ID string }
	}
	if json.Unmarshal([]byte(env.Message), &wiz) != nil {
		return ""
	}
	return wiz.Issue.ID
}
