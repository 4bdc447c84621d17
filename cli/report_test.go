package cli

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/adapters/dynamo"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

// auditRecord is a record of finding f in account acct for control ctl,
// received at recv and completed took later.
func auditRecord(id, acct, ctl, f, outcome string, recv time.Time, took time.Duration) *audit.Record {
	return &audit.Record{
		Schema: audit.SchemaVersion, ID: id, Time: recv.Add(took), Outcome: outcome,
		Finding:  audit.Finding{ID: f, ControlID: ctl},
		Resource: audit.Resource{ID: "arn:aws:s3:::" + f, Account: acct, Region: "eu-west-1"},
		Timings:  audit.Timings{Received: recv, Completed: recv.Add(took)},
	}
}

// TestReportFromAuditTable writes records to an audit table on moto
// through the audit sink, runs `remedy report` in both formats, and
// checks the counts, the record ids behind them, the open reviews, the
// failures, the escaping, and the --since and --account filters.
func TestReportFromAuditTable(t *testing.T) {
	srv := mototest.Require(t, moto)
	ctx := mototest.Context(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_REGION", "eu-west-1")
	db := dynamodb.NewFromConfig(srv.Config("eu-west-1"))
	const table = "report-audit"
	if err := dynamo.CreateAuditTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	sink := dynamo.NewAuditSink(db, table)
	now := time.Now().UTC()
	day := 24 * time.Hour
	hostile := "ctl|</td><script>x</script>`"
	failed := auditRecord("rec-fail", "111111111111", "s3-public", "f-fail", "failed", now.Add(-2*day), time.Second)
	failed.FailureReason = "AccessDenied: not authorized\nto PutPublicAccessBlock"
	review := auditRecord("rec-review", "111111111111", "s3-public", "f-rev", "review", now.Add(-3*day), time.Second)
	review.FailureReason = "production bucket"
	hostileRec := auditRecord("rec-hostile", "222222222222", hostile, "f-h", "applied", now.Add(-day), 3*time.Second)
	hostileRec.Finding.ControlName = "name <img src=x>"
	for _, r := range []*audit.Record{
		auditRecord("rec-old", "111111111111", "s3-public", "f-old", "applied", now.Add(-40*day), time.Second),
		auditRecord("rec-a1", "111111111111", "s3-public", "f-a1", "applied", now.Add(-5*day), 2*time.Second),
		// f-fixed: a review, fixed an hour later: superseded, timed from
		// the review.
		auditRecord("rec-fixed-review", "111111111111", "s3-public", "f-fixed", "review", now.Add(-4*day), time.Second),
		auditRecord("rec-fixed", "111111111111", "s3-public", "f-fixed", "applied", now.Add(-4*day+time.Hour), 4*time.Second),
		review, failed, hostileRec,
		auditRecord("rec-comp", "222222222222", "ebs-snapshot", "f-c", "compliant", now.Add(-day), time.Second),
	} {
		if err := sink.Write(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	code, md, errOut := runCLI(t, "", "report", "--endpoint", srv.URL, "--audit-table", table, "--since", "30d")
	if code != exitOK {
		t.Fatalf("report: exit %d\n%s", code, errOut)
	}
	for _, want := range []string{
		"- Records: 7 [R1]",
		"| 111111111111 | s3-public | applied 2 [R2], review 2 [R3], failed 1 [R4] | 2 | 2s [R5] | 1h0m4s [R6] |",
		"- R2 (111111111111 / s3-public / applied): rec-a1, rec-fixed\n",
		"- R6 (111111111111 / s3-public / p90): rec-fixed-review, rec-fixed\n",
		"| ctl\\|\\</td\\>\\<script\\>x\\</script\\>\\` name \\<img src=x\\> | applied 1",
		"AccessDenied: not authorized to PutPublicAccessBlock | rec-fail |",
		"## Open reviews (2)",
		"| 111111111111 | s3-public | arn:aws:s3:::f-rev | f-rev | review | production bucket |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "rec-old") || strings.Contains(md, `rec\-old`) {
		t.Errorf("markdown counts a record from before --since:\n%s", md)
	}
	// Open reviews are oldest first: f-rev (completed a second under 3
	// days ago, so 2d 23h) then f-fail (1d 23h).
	if got := regexp.MustCompile(`(?m)^\| (\d+)d \d+h \|.*\| (f-\w+) \|`).FindAllStringSubmatch(md, -1); len(got) != 2 ||
		got[0][1] != "2" || got[0][2] != "f-rev" || got[1][1] != "1" || got[1][2] != "f-fail" {
		t.Errorf("open reviews = %q, want f-rev 2 days old then f-fail 1 day old:\n%s", got, md)
	}

	code, html, errOut := runCLI(t, "", "report", "--endpoint", srv.URL, "--audit-table", table, "--since", "30d", "--format", "html")
	if code != exitOK {
		t.Fatalf("report --format html: exit %d\n%s", code, errOut)
	}
	for _, want := range []string{
		"<!DOCTYPE html>", "<style>", "<svg",
		"<title>111111111111: applied 2</title>", "<title>222222222222: compliant 1</title>",
		"<li>rec-fixed-review</li>", "ctl|&lt;/td&gt;&lt;script&gt;x&lt;/script&gt;`", "name &lt;img src=x&gt;",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("html lacks %q", want)
		}
	}
	for _, bad := range []string{"<script", "<img", "rec-old", "<link", "src=\"http"} {
		if strings.Contains(html, bad) {
			t.Errorf("html contains %q", bad)
		}
	}

	// --account keeps one account; --since as a date cuts the older ones.
	since := now.Add(-2*day - time.Hour).Format(time.RFC3339)
	code, md, errOut = runCLI(t, "", "report", "--endpoint", srv.URL, "--audit-table", table, "--since", since, "--account", "111111111111")
	if code != exitOK {
		t.Fatalf("report --account: exit %d\n%s", code, errOut)
	}
	if d := cmp.Diff([]string{"rec-fail"}, appendixIDs(md, "R1")); d != "" {
		t.Errorf("--account 111111111111 --since %s: records (-want +got):\n%s\n%s", since, d, md)
	}
	code, md, errOut = runCLI(t, "", "report", "--endpoint", srv.URL, "--audit-table", table, "--since", "30d", "--account", "222222222222")
	if code != exitOK {
		t.Fatalf("report --account: exit %d\n%s", code, errOut)
	}
	ids := appendixIDs(md, "R1")
	slices.Sort(ids)
	if d := cmp.Diff([]string{"rec-comp", "rec-hostile"}, ids); d != "" {
		t.Errorf("--account 222222222222: records (-want +got):\n%s\n%s", d, md)
	}
	if strings.Contains(md, "111111111111") {
		t.Errorf("--account 222222222222 shows the other account:\n%s", md)
	}
}

// appendixIDs returns the record ids of appendix entry ref.
func appendixIDs(md, ref string) []string {
	m := regexp.MustCompile(`(?m)^- ` + ref + ` \([^)]*\): (.*)$`).FindStringSubmatch(md)
	if m == nil {
		return nil
	}
	return strings.Split(m[1], ", ")
}

func TestReportUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no table", []string{"report", "--since", "30d"}, "--audit-table is required"},
		{"no since", []string{"report", "--audit-table", "t"}, "--since is required"},
		{"bad since", []string{"report", "--audit-table", "t", "--since", "last week"}, "want a date"},
		{"bad format", []string{"report", "--audit-table", "t", "--since", "1d", "--format", "pdf"}, "want markdown or html"},
		{"argument", []string{"report", "--audit-table", "t", "--since", "1d", "extra"}, "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, "", tc.args...)
			if code != exitUsage || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, errOut, exitUsage, tc.want)
			}
		})
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2025-03-01":           time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC),
		"2025-03-01T08:30:00Z": time.Date(2025, 3, 1, 8, 30, 0, 0, time.UTC),
		"7d":                   time.Date(2025, 3, 3, 12, 0, 0, 0, time.UTC),
		"36h":                  time.Date(2025, 3, 9, 0, 0, 0, 0, time.UTC),
	} {
		got, err := parseSince(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-3d", "-1h", "yesterday", "2025-13-01"} {
		if _, err := parseSince(bad, now); err == nil {
			t.Errorf("parseSince(%q) succeeded, want an error", bad)
		}
	}
}

// TestScanAuditSubSecondBoundary: a record a fraction of a second after
// --since is kept although its "time" attribute sorts, as text, before
// the since instant's; one a fraction before it is dropped.
func TestScanAuditSubSecondBoundary(t *testing.T) {
	srv := mototest.Require(t, moto)
	ctx := context.Background()
	db := dynamodb.NewFromConfig(srv.Config("eu-west-1"))
	const table = "report-boundary"
	if err := dynamo.CreateAuditTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	since := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	sink := dynamo.NewAuditSink(db, table)
	for _, r := range []*audit.Record{
		auditRecord("after", "1", "c", "f1", "applied", since.Add(500*time.Millisecond), 0),
		auditRecord("before", "1", "c", "f2", "applied", since.Add(-500*time.Millisecond), 0),
		auditRecord("at", "1", "c", "f3", "applied", since, 0),
	} {
		if err := sink.Write(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := scanAudit(ctx, db, table, since, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, r.ID)
	}
	slices.Sort(got)
	if d := cmp.Diff([]string{"after", "at"}, got); d != "" {
		t.Errorf("records (-want +got):\n%s", d)
	}
}
