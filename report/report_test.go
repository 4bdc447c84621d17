package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/audit"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// rec returns a record of finding f in account acct for control ctl,
// received at t0+at and completed took later.
func rec(id, acct, ctl, f, outcome string, at, took time.Duration) audit.Record {
	recv := t0.Add(at)
	return audit.Record{
		ID: id, Time: recv.Add(took), Outcome: outcome,
		Finding:  audit.Finding{ID: f, ControlID: ctl},
		Resource: audit.Resource{ID: "arn:aws:s3:::" + f, Account: acct},
		Timings:  audit.Timings{Received: recv, Completed: recv.Add(took)},
	}
}

func withReason(r audit.Record, reason string) audit.Record {
	r.FailureReason = reason
	return r
}

// fixture: account 111 control c1 has five fixes of 1..5 minutes, one of
// them (f3) after an earlier review an hour before; a review of f6 still
// open; a failed fix of f7 then a compliant record (closed); an
// applied-unverified f8 (open). Account 222 has a failed fix of f9.
func fixture() []audit.Record {
	m := time.Minute
	return []audit.Record{
		rec("r01", "111", "c1", "f1", "applied", 0, 1*m),
		rec("r02", "111", "c1", "f2", "applied", 0, 2*m),
		withReason(rec("r03", "111", "c1", "f3", "review", 0, time.Second), "restricted environment"),
		rec("r04", "111", "c1", "f3", "applied", time.Hour, 3*m),
		rec("r05", "111", "c1", "f4", "applied", 0, 4*m),
		rec("r06", "111", "c1", "f5", "applied", 0, 5*m),
		withReason(rec("r07", "111", "c1", "f6", "review", 2*time.Hour, time.Second), "owner tag missing"),
		withReason(rec("r08", "111", "c2", "f7", "failed", 0, time.Second), "AccessDenied"),
		rec("r09", "111", "c2", "f7", "compliant", time.Hour, time.Second),
		rec("r10", "111", "c2", "f8", "applied-unverified", 3*time.Hour, time.Second),
		withReason(rec("r11", "222", "c1", "f9", "failed", 30*time.Minute, time.Second), "throttled"),
		rec("r00", "111", "c1", "f0", "applied", -48*time.Hour, time.Minute), // before Since in some tests
	}
}

func TestBuildGroups(t *testing.T) {
	rep := Build(fixture(), Options{Since: t0.Add(-time.Hour), Now: t0.Add(5 * time.Hour)})
	type row struct {
		Account, Control string
		Outcomes         map[string][]string
		Fixes            int
		Median, P90      time.Duration
		MedianIDs        []string
		P90IDs           []string
	}
	var got []row
	for _, g := range rep.Groups {
		r := row{Account: g.Account, Control: g.Control, Outcomes: map[string][]string{}, Fixes: len(g.Fixes)}
		for _, c := range g.Outcomes {
			r.Outcomes[c.Outcome] = c.IDs
		}
		if g.Median != nil {
			r.Median, r.MedianIDs = g.Median.Duration, []string{g.Median.FirstID, g.Median.AppliedID}
			r.P90, r.P90IDs = g.P90.Duration, []string{g.P90.FirstID, g.P90.AppliedID}
		}
		got = append(got, r)
	}
	want := []row{
		{
			Account: "111", Control: "c1",
			Outcomes: map[string][]string{"applied": {"r01", "r02", "r05", "r06", "r04"}, "review": {"r03", "r07"}},
			Fixes:    5,
			// Durations 1, 2, 4, 5 minutes and f3's 63 minutes from its
			// review: the median is the 3rd (4 min), p90 the 5th.
			Median: 4 * time.Minute, MedianIDs: []string{"r05", "r05"},
			P90: 63 * time.Minute, P90IDs: []string{"r03", "r04"},
		},
		{
			Account: "111", Control: "c2",
			Outcomes: map[string][]string{"compliant": {"r09"}, "applied-unverified": {"r10"}, "failed": {"r08"}},
		},
		{
			Account: "222", Control: "c1",
			Outcomes: map[string][]string{"failed": {"r11"}},
		},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("groups (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"applied", "review"}, outcomeNames(rep.Groups[0].Outcomes)); d != "" {
		t.Errorf("outcome order (-want +got):\n%s", d)
	}
}

func outcomeNames(cs []Count) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Outcome)
	}
	return out
}

func TestNearestRank(t *testing.T) {
	for _, tc := range []struct{ n, p, want int }{
		{1, 50, 0}, {1, 90, 0}, {2, 50, 0}, {2, 90, 1}, {4, 50, 1}, {5, 50, 2}, {10, 90, 8}, {11, 90, 9}, {100, 90, 89},
	} {
		if got := nearestRank(tc.n, tc.p); got != tc.want {
			t.Errorf("nearestRank(%d, %d) = %d, want %d", tc.n, tc.p, got, tc.want)
		}
	}
}

func TestBuildOpenReviews(t *testing.T) {
	now := t0.Add(5 * time.Hour)
	rep := Build(fixture(), Options{Since: t0.Add(-time.Hour), Now: now})
	type open struct {
		Finding, Outcome, Reason string
		Age                      time.Duration
		IDs                      []string
	}
	var got []open
	for _, o := range rep.OpenReviews {
		got = append(got, open{o.FindingID, o.Outcome, o.Reason, o.Age, o.IDs})
	}
	// f3's review is superseded by its later fix, f7's failure by a
	// compliant record; f6, f8 and f9 stay open, oldest first.
	want := []open{
		{"f9", "failed", "throttled", 5*time.Hour - 30*time.Minute - time.Second, []string{"r11"}},
		{"f6", "review", "owner tag missing", 3*time.Hour - time.Second, []string{"r07"}},
		{"f8", "applied-unverified", "", 2*time.Hour - time.Second, []string{"r10"}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("open reviews (-want +got):\n%s", d)
	}
	var failed []string
	for _, f := range rep.Failures {
		failed = append(failed, f.ID+" "+f.Reason)
	}
	if d := cmp.Diff([]string{"r11 throttled", "r08 AccessDenied"}, failed); d != "" {
		t.Errorf("failures, newest first (-want +got):\n%s", d)
	}
}

// TestBuildReviewAfterFixReopens: a review after a finding's fix opens it
// again, and the next fix is timed from that review, not the first.
func TestBuildReviewAfterFixReopens(t *testing.T) {
	rs := []audit.Record{
		rec("a", "1", "c", "f", "applied", 0, time.Minute),
		rec("b", "1", "c", "f", "review", time.Hour, time.Second),
	}
	rep := Build(rs, Options{Now: t0.Add(2 * time.Hour)})
	if len(rep.OpenReviews) != 1 || rep.OpenReviews[0].IDs[0] != "b" {
		t.Fatalf("open reviews = %+v, want b open", rep.OpenReviews)
	}
	rs = append(rs, rec("c", "1", "c", "f", "applied", 90*time.Minute, time.Minute))
	rep = Build(rs, Options{Now: t0.Add(2 * time.Hour)})
	if len(rep.OpenReviews) != 0 {
		t.Errorf("open reviews = %+v, want none after the second fix", rep.OpenReviews)
	}
	var fixes []Fix
	fixes = append(fixes, rep.Groups[0].Fixes...)
	want := []Fix{
		{FindingID: "f", FirstID: "a", AppliedID: "a", Duration: time.Minute},
		{FindingID: "f", FirstID: "b", AppliedID: "c", Duration: 31 * time.Minute},
	}
	if d := cmp.Diff(want, fixes); d != "" {
		t.Errorf("fixes (-want +got):\n%s", d)
	}
}

func TestBuildFilters(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want []string
	}{
		{"all", Options{}, []string{"r00", "r03", "r08", "r01", "r02", "r05", "r06", "r11", "r09", "r04", "r07", "r10"}},
		{"since", Options{Since: t0.Add(time.Hour)}, []string{"r09", "r04", "r07", "r10"}},
		{"account", Options{Account: "222"}, []string{"r11"}},
		{"both", Options{Account: "111", Since: t0.Add(2 * time.Hour)}, []string{"r07", "r10"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := Build(fixture(), tc.o)
			if d := cmp.Diff(tc.want, rep.RecordIDs); d != "" {
				t.Errorf("records (-want +got):\n%s", d)
			}
		})
	}
}

const hostile = "evil|</td><script>alert(1)</script>`code`\n| injected | row |"

func hostileRecords() []audit.Record {
	r := rec("id|1", "111", hostile, "f1", "failed", 0, time.Second)
	r.Finding.ControlName = "name<img src=x onerror=alert(2)>"
	r.FailureReason = "line one\nline two | cell"
	return []audit.Record{r}
}

// TestMarkdownEscapes: a hostile control name, reason and id stay inside
// their table cells: no row gains a column, no line starts anew, no
// backtick or tag survives unescaped.
func TestMarkdownEscapes(t *testing.T) {
	var b bytes.Buffer
	if err := Build(hostileRecords(), Options{Now: t0}).Markdown(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "injected | row") || strings.Contains(out, "\n| injected") {
		t.Errorf("the hostile newline and pipes made a row:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") {
			continue
		}
		if n := unescapedPipes(line); n != 7 && n != 8 && n != 9 {
			t.Errorf("row has %d cell borders: %s", n, line)
		}
		for i := 0; i < len(line); i++ {
			if strings.IndexByte("`<>", line[i]) >= 0 && (i == 0 || line[i-1] != '\\') {
				t.Errorf("row has an unescaped %c: %s", line[i], line)
			}
		}
	}
	for _, want := range []string{`evil\|\<\/td\>`, `line one line two \| cell`, `id\|1`} {
		if !strings.Contains(out, strings.ReplaceAll(want, `\/`, `/`)) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
}

// unescapedPipes counts the | not preceded by a backslash.
func unescapedPipes(line string) int {
	n := 0
	for i := 0; i < len(line); i++ {
		if line[i] == '|' && (i == 0 || line[i-1] != '\\') {
			n++
		}
	}
	return n
}

func TestMD(t *testing.T) {
	for in, want := range map[string]string{
		"plain text 1.2-3":     "plain text 1.2-3",
		"a|b":                  `a\|b`,
		"`x`":                  "\\`x\\`",
		"a\nb\r\nc":            "a b  c",
		"[l](http://x)":        `\[l\](http://x)`,
		"<b>*_~&</b>":          `\<b\>\*\_\~\&\</b\>`,
		`back\slash`:           `back\\slash`,
		"bell\x07 and del\x7f": "bell and del",
	} {
		if got := md(in); got != want {
			t.Errorf("md(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestHTMLEscapes: the hostile strings reach the page escaped, and the
// page loads nothing from elsewhere.
func TestHTMLEscapes(t *testing.T) {
	var b bytes.Buffer
	if err := Build(hostileRecords(), Options{Now: t0}).HTML(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, bad := range []string{"<script", "<img", "</td><script"} {
		if strings.Contains(out, bad) {
			t.Errorf("page contains %q unescaped", bad)
		}
	}
	for _, want := range []string{"evil|&lt;/td&gt;&lt;script&gt;", "name&lt;img src=x", "<svg", "<style>", "<details>"} {
		if !strings.Contains(out, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, ext := range []string{"src=\"http", "href=\"http", "<link", "@import", "url("} {
		if strings.Contains(out, ext) {
			t.Errorf("page refers to an external asset (%q)", ext)
		}
	}
}

// TestBuildRollbackRecords: rollback records are counted apart and are
// neither fixes, open reviews nor failed fixes.
func TestBuildRollbackRecords(t *testing.T) {
	rb := func(id, outcome string) audit.Record {
		r := rec(id, "1", "c", "f", outcome, 2*time.Hour, time.Second)
		r.Decision, r.RollbackOf = "rollback", "a"
		return r
	}
	rs := []audit.Record{
		rec("a", "1", "c", "f", "applied", 0, time.Minute),
		rb("b", "review"), rb("c", "failed"), rb("d", "rolled-back"),
	}
	rep := Build(rs, Options{Now: t0.Add(3 * time.Hour)})
	got := map[string][]string{}
	for _, c := range rep.Groups[0].Outcomes {
		got[c.Outcome] = c.IDs
	}
	want := map[string][]string{"applied": {"a"}, "rollback-review": {"b"}, "rollback-failed": {"c"}, "rolled-back": {"d"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("outcomes (-want +got):\n%s", d)
	}
	if len(rep.OpenReviews) != 0 || len(rep.Failures) != 0 || len(rep.Groups[0].Fixes) != 1 {
		t.Errorf("open reviews %+v, failures %+v, fixes %+v; want none, none and a's", rep.OpenReviews, rep.Failures, rep.Groups[0].Fixes)
	}
}
