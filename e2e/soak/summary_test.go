package soak

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/remedy-sec/remedy/remediate"
)

// summaryInput is what the summary reports.
type summaryInput struct {
	cfg          config
	plan         *plan
	ev           *evidence
	elapsed      time.Duration
	workers      []*worker
	kills        []string
	faults       map[string][kinds]int
	calls        map[string]int
	upstream     map[string]time.Duration // moto's time per operation
	retries      int                      // SDK retries (attempts after the first) seen by the proxy
	poisonFaults int
	violations   []violation
}

// summary renders the run as a table.
func summary(in summaryInput) string {
	var b strings.Builder
	row := func(k, format string, args ...any) { fmt.Fprintf(&b, "%-18s %s\n", k, fmt.Sprintf(format, args...)) }
	p, ev := in.plan, in.ev
	fmt.Fprintf(&b, "\nRemedy soak: %d findings, seed %d, 2 workers × %d (examples/worker, apply mode, DynamoDB stores), moto behind the fault proxy\n", len(p.items), in.cfg.seed, concurrency)
	b.WriteString(strings.Repeat("─", 100) + "\n")
	dups := len(p.messages) - len(p.items)
	row("findings", "%d over 3 accounts and 5 fixes; %d messages (%d duplicated, %d poison, %d malformed)", len(p.items), len(p.messages), dups, p.count(casePoison), p.count(caseReject))
	row("cases", "remediate %d · compliant %d · review %d · skip %d · reject %d · poison %d",
		p.count(caseRemediate), p.count(caseCompliant), p.count(caseReview), p.count(caseSkip), p.count(caseReject), p.count(casePoison))
	row("run time", "%s from the first publish to the drained queue", in.elapsed.Round(time.Second))
	secs := in.elapsed.Seconds()
	row("throughput", "%.1f findings/s (%.1f messages/s)", float64(len(p.items))/secs, float64(len(p.messages))/secs)

	byOutcome := map[string]int{}
	var slowest float64
	for _, r := range ev.records {
		byOutcome[r.Outcome]++
		if r.Outcome != string(remediate.OutcomeDeadLettered) {
			slowest = max(slowest, r.Timings.DurationMS)
		}
	}
	var outs []string
	for _, o := range []remediate.Outcome{remediate.OutcomeApplied, remediate.OutcomeFailed, remediate.OutcomeCompliant, remediate.OutcomeReview, remediate.OutcomeSkipped, remediate.OutcomeRejected, remediate.OutcomeDeadLettered} {
		outs = append(outs, fmt.Sprintf("%s %d", o, byOutcome[string(o)]))
		delete(byOutcome, string(o))
	}
	for _, o := range slices.Sorted(maps.Keys(byOutcome)) {
		outs = append(outs, fmt.Sprintf("%s %d", o, byOutcome[o]))
	}
	row("outcomes", "%s", strings.Join(outs, " · "))
	var acked, retried, deadLog int64
	for _, w := range in.workers {
		acked += w.duplicates.Load()
		retried += w.retries.Load()
		deadLog += w.deadLetters.Load()
	}
	row("retries", "%d messages given back after a transient failure; %d SDK retries; %d duplicate deliveries acknowledged", retried, in.retries, acked)

	total, calls := 0, 0
	for _, n := range in.calls {
		calls += n
	}
	byKind := [kinds]int{}
	var bySvc []string
	for _, s := range services {
		n := 0
		for k := range kinds {
			n += in.faults[s][k]
			byKind[k] += in.faults[s][k]
		}
		total += n
		bySvc = append(bySvc, fmt.Sprintf("%s %d", s, n))
	}
	row("faults", "%d injected into %d calls (%.1f %%), plus %d on poison resources", total, calls, 100*float64(total)/float64(max(calls, 1)), in.poisonFaults)
	row("  by service", "%s", strings.Join(bySvc, " · "))
	var kindText []string
	for k := range kinds {
		kindText = append(kindText, fmt.Sprintf("%s %d", k, byKind[k]))
	}
	row("  by kind", "%s", strings.Join(kindText, " · "))

	// A receive's time is mostly its long poll's wait: left out.
	upstream := maps.Clone(in.upstream)
	delete(upstream, "ReceiveMessage")
	var spent time.Duration
	for _, d := range upstream {
		spent += d
	}
	ops := slices.SortedFunc(maps.Keys(upstream), func(a, b string) int { return int(upstream[b] - upstream[a]) })
	var top []string
	for _, op := range ops[:min(5, len(ops))] {
		top = append(top, fmt.Sprintf("%s %.0f s (%.0f ms each)", op, upstream[op].Seconds(), float64(upstream[op].Milliseconds())/float64(max(in.calls[op], 1))))
	}
	row("moto's time", "%.0f s answering (receives aside), most in %s", spent.Seconds(), strings.Join(top, " · "))

	resources := map[string]bool{}
	tookN, lostN := 0, 0
	for _, w := range ev.writes {
		if w.Took() {
			resources[w.Resource] = true
			tookN++
			if w.Fault != "" {
				lostN++
			}
		}
	}
	row("writes", "%d resources changed by %d calls that took effect (%d of them with the answer lost); %d write calls in all", len(resources), tookN, lostN, len(ev.writes))
	how := "at random moments"
	if in.cfg.killAtWrite {
		how = "each right after one of its fixes took effect"
	}
	row("kills", "%d × SIGKILL of worker b %s, restarted each time", len(in.kills), how)
	for _, k := range in.kills {
		row("", "%s", k)
	}
	row("dead letters", "%d messages in the DLQ (%d poison); %d dead-lettered records", len(ev.dlq), p.count(casePoison), deadLog)
	if len(ev.unaudited) > 0 {
		row("", "%d poison message(s) dead-lettered unaudited: the worker was killed holding the last delivery (%s)", len(ev.unaudited), strings.Join(ev.unaudited, ", "))
	}
	var rss []string
	for _, w := range in.workers {
		kib, procs, _ := w.stats()
		rss = append(rss, fmt.Sprintf("worker %s %.0f MiB (%d process%s)", w.name, float64(kib)/1024, procs, map[bool]string{true: "es", false: ""}[procs > 1]))
	}
	row("peak RSS", "%s", strings.Join(rss, " · "))
	row("slowest finding", "%.1f s (claims last %s)", slowest/1000, claimTTL)
	if len(in.violations) == 0 {
		row("invariants", "all %d hold", allInvariants)
	} else {
		row("invariants", "%d of %d violated:", len(in.violations), allInvariants)
		for _, v := range in.violations {
			row("", "✗ %s (%d)", v.invariant, v.count)
		}
	}
	b.WriteString(strings.Repeat("─", 100) + "\n")
	return b.String()
}
