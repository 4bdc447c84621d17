package report

import (
	"cmp"
	"slices"
	"time"

	"github.com/remedy-sec/remedy/audit"
)

// Options configure Build.
type Options struct {
	// Since keeps the records whose Time is at or after it; zero keeps
	// all.
	Since time.Time
	// Account, if set, keeps only the records of that account
	// (Resource.Account).
	Account string
	// Now is when open reviews' ages are measured to and the report's
	// generation time. Zero means time.Now().
	Now time.Time
}

// Report is the aggregation of audit records that Markdown and HTML print.
// Every number in it is the length of a list of record ids, or a duration
// measured on named records, so that each can be traced back to the
// audit trail.
type Report struct {
	Since     time.Time
	Account   string
	Generated time.Time
	// RecordIDs are the ids of all records the report counts, in time
	// order.
	RecordIDs []string
	// Groups hold one entry per account and control, by account, then
	// control.
	Groups []Group
	// Accounts hold the outcome counts per account, for the chart.
	Accounts []AccountTotals
	// OpenReviews are the findings still waiting for a person, oldest
	// first.
	OpenReviews []OpenReview
	// Failures are the failed records, newest first.
	Failures []Failure
}

// Count is the number of records with one outcome: len(IDs).
type Count struct {
	Outcome string
	// IDs are the ids of the records counted, in time order.
	IDs []string
}

// N returns the count.
func (c Count) N() int { return len(c.IDs) }

// Group is the summary of one account and control.
type Group struct {
	Account string
	// Control is the finding's control id (Finding.ControlID, else
	// RuleID), ControlName its name as the last record gave it.
	Control, ControlName string
	// Outcomes count the records by outcome, in outcome order (see
	// Outcomes).
	Outcomes []Count
	// Fixes are the applied records' times to fix, shortest first.
	Fixes []Fix
	// Median and P90 are the nearest-rank median and 90th percentile of
	// Fixes: each is one fix's duration, so each names its records. Nil
	// without fixes.
	Median, P90 *Fix
}

// Total returns the number of records of the group.
func (g Group) Total() int {
	n := 0
	for _, c := range g.Outcomes {
		n += c.N()
	}
	return n
}

// Fix is the time a finding took to be fixed: from the earliest
// Timings.Received of the finding's records in the report (FirstID) to
// the Timings.Completed of its applied record (AppliedID). FirstID equals
// AppliedID when the applied record is the finding's first in the
// report; then the duration is that record's processing time.
type Fix struct {
	FindingID string
	FirstID   string
	AppliedID string
	Duration  time.Duration
}

// AccountTotals are the outcome counts of one account.
type AccountTotals struct {
	Account  string
	Outcomes []Count
}

// Total returns the number of records of the account.
func (a AccountTotals) Total() int {
	n := 0
	for _, c := range a.Outcomes {
		n += c.N()
	}
	return n
}

// OpenReview is a finding whose latest records ended in review, failed or
// applied-unverified, with no applied or compliant record after them.
type OpenReview struct {
	FindingID string
	Account   string
	Control   string
	Resource  string
	// Outcome and Reason are those of the latest open record.
	Outcome string
	Reason  string
	// Since is the time of the first open record after the finding's
	// last applied or compliant record; Age is Now minus Since.
	Since time.Time
	Age   time.Duration
	// IDs are the open records, in time order.
	IDs []string
}

// Failure is one failed record.
type Failure struct {
	ID       string
	Time     time.Time
	Account  string
	Control  string
	Resource string
	Action   string
	Reason   string
}

// Outcomes is the order outcomes are listed in; an outcome not in it
// (from a newer engine) follows, by name.
var Outcomes = []string{
	"applied", "compliant", "applied-unverified", "planned", "review", "failed", "skipped", "rejected", "dead-lettered",
	"rolled-back", "rollback-planned", "rollback-review", "rollback-failed",
}

// unknown stands for an empty account or control.
const unknown = "(unknown)"

// Build aggregates records as o says. The records may come in any order;
// Build does not modify them.
func Build(records []audit.Record, o Options) *Report {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	rep := &Report{Since: o.Since, Account: o.Account, Generated: o.Now}
	var rs []*audit.Record
	for i := range records {
		r := &records[i]
		if !o.Since.IsZero() && r.Time.Before(o.Since) {
			continue
		}
		if o.Account != "" && r.Resource.Account != o.Account {
			continue
		}
		rs = append(rs, r)
	}
	slices.SortStableFunc(rs, func(a, b *audit.Record) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.ID, b.ID))
	})

	type groupKey struct{ account, control string }
	groups := map[groupKey]*Group{}
	accounts := map[string]*AccountTotals{}
	byFinding := map[string][]*audit.Record{}
	var findingOrder []string
	for _, r := range rs {
		rep.RecordIDs = append(rep.RecordIDs, r.ID)
		k := groupKey{orUnknown(r.Resource.Account), control(r)}
		g := groups[k]
		if g == nil {
			g = &Group{Account: k.account, Control: k.control}
			groups[k] = g
		}
		if r.Finding.ControlName != "" {
			g.ControlName = r.Finding.ControlName
		}
		outcome := countedOutcome(r)
		g.Outcomes = addCount(g.Outcomes, outcome, r.ID)
		a := accounts[k.account]
		if a == nil {
			a = &AccountTotals{Account: k.account}
			accounts[k.account] = a
		}
		a.Outcomes = addCount(a.Outcomes, outcome, r.ID)
		if isRollback(r) {
			continue // not a fix of the finding: counted only
		}
		fk := findingKey(r)
		if _, ok := byFinding[fk]; !ok {
			findingOrder = append(findingOrder, fk)
		}
		byFinding[fk] = append(byFinding[fk], r)
		if r.Outcome == "failed" {
			rep.Failures = append(rep.Failures, Failure{
				ID: r.ID, Time: r.Time, Account: k.account, Control: k.control,
				Resource: r.Resource.ID, Action: r.Action, Reason: failureReason(r),
			})
		}
	}

	for _, fk := range findingOrder {
		// start is the earliest-received record since the finding's last
		// applied or compliant record: where its time to fix begins.
		var start *audit.Record
		var open []*audit.Record
		for _, r := range byFinding[fk] {
			if start == nil || r.Timings.Received.Before(start.Timings.Received) {
				start = r
			}
			switch r.Outcome {
			case "applied":
				fix := Fix{FindingID: r.Finding.ID, FirstID: start.ID, AppliedID: r.ID, Duration: r.Timings.Completed.Sub(start.Timings.Received)}
				if start.Timings.Received.IsZero() {
					fix.FirstID, fix.Duration = r.ID, r.Timings.Completed.Sub(r.Timings.Received)
				}
				g := groups[groupKey{orUnknown(r.Resource.Account), control(r)}]
				g.Fixes = append(g.Fixes, fix)
				start, open = nil, nil
			case "compliant":
				start, open = nil, nil
			case "review", "failed", "applied-unverified":
				open = append(open, r)
			}
		}
		if len(open) == 0 {
			continue
		}
		last := open[len(open)-1]
		ov := OpenReview{
			FindingID: last.Finding.ID, Account: orUnknown(last.Resource.Account), Control: control(last),
			Resource: last.Resource.ID, Outcome: last.Outcome, Reason: failureReason(last),
			Since: open[0].Time, Age: o.Now.Sub(open[0].Time),
		}
		for _, r := range open {
			ov.IDs = append(ov.IDs, r.ID)
		}
		rep.OpenReviews = append(rep.OpenReviews, ov)
	}
	slices.SortStableFunc(rep.OpenReviews, func(a, b OpenReview) int { return a.Since.Compare(b.Since) })
	slices.Reverse(rep.Failures)

	for _, g := range groups {
		sortCounts(g.Outcomes)
		slices.SortStableFunc(g.Fixes, func(a, b Fix) int { return cmp.Compare(a.Duration, b.Duration) })
		if n := len(g.Fixes); n > 0 {
			g.Median = &g.Fixes[nearestRank(n, 50)]
			g.P90 = &g.Fixes[nearestRank(n, 90)]
		}
		rep.Groups = append(rep.Groups, *g)
	}
	slices.SortFunc(rep.Groups, func(a, b Group) int {
		return cmp.Or(cmp.Compare(a.Account, b.Account), cmp.Compare(a.Control, b.Control))
	})
	for _, a := range accounts {
		sortCounts(a.Outcomes)
		rep.Accounts = append(rep.Accounts, *a)
	}
	slices.SortFunc(rep.Accounts, func(a, b AccountTotals) int { return cmp.Compare(a.Account, b.Account) })
	// The Median and P90 pointers point into the map's groups' slices,
	// which the copies share; nothing appends to them after this.
	return rep
}

// nearestRank returns the index of the p-th percentile of n sorted
// values by the nearest-rank method: the ceil(p/100·n)-th value.
func nearestRank(n, p int) int {
	rank := (p*n + 99) / 100
	return max(rank, 1) - 1
}

func addCount(cs []Count, outcome, id string) []Count {
	outcome = orUnknown(outcome)
	for i := range cs {
		if cs[i].Outcome == outcome {
			cs[i].IDs = append(cs[i].IDs, id)
			return cs
		}
	}
	return append(cs, Count{Outcome: outcome, IDs: []string{id}})
}

func sortCounts(cs []Count) {
	slices.SortFunc(cs, func(a, b Count) int {
		return cmp.Or(cmp.Compare(outcomeRank(a.Outcome), outcomeRank(b.Outcome)), cmp.Compare(a.Outcome, b.Outcome))
	})
}

func outcomeRank(o string) int {
	if i := slices.Index(Outcomes, o); i >= 0 {
		return i
	}
	return len(Outcomes)
}

// isRollback reports whether r is the record of a rollback (remedy
// rollback) rather than of a finding's processing.
func isRollback(r *audit.Record) bool {
	return r.RollbackOf != "" || r.Decision == "rollback"
}

// countedOutcome is the outcome r is counted under: a rollback record's
// planned, review or failed is told apart from a fix's as
// rollback-planned, rollback-review or rollback-failed.
func countedOutcome(r *audit.Record) string {
	if isRollback(r) && r.Outcome != "rolled-back" && r.Outcome != "" {
		return "rollback-" + r.Outcome
	}
	return r.Outcome
}

func control(r *audit.Record) string {
	return orUnknown(cmp.Or(r.Finding.ControlID, r.Finding.RuleID))
}

// findingKey joins the records of one finding: its id, else its account,
// resource and control.
func findingKey(r *audit.Record) string {
	if r.Finding.ID != "" {
		return "id\x00" + r.Finding.ID
	}
	return "res\x00" + r.Resource.Account + "\x00" + r.Resource.ID + "\x00" + control(r)
}

// failureReason is the record's FailureReason, else its first reason's
// message.
func failureReason(r *audit.Record) string {
	if r.FailureReason != "" {
		return r.FailureReason
	}
	for _, rs := range r.Reasons {
		if rs.Message != "" {
			return rs.Check + ": " + rs.Message
		}
	}
	return ""
}

func orUnknown(s string) string {
	if s == "" {
		return unknown
	}
	return s
}
