package report_test

import (
	"fmt"
	"time"

	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/report"
)

func ExampleBuild() {
	t := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	records := []audit.Record{
		{ID: "r1", Time: t.Add(time.Minute), Outcome: "review",
			Finding:  audit.Finding{ID: "f1", ControlID: "s3-public"},
			Resource: audit.Resource{Account: "111111111111"},
			Timings:  audit.Timings{Received: t, Completed: t.Add(time.Minute)}},
		{ID: "r2", Time: t.Add(2 * time.Hour), Outcome: "applied",
			Finding:  audit.Finding{ID: "f1", ControlID: "s3-public"},
			Resource: audit.Resource{Account: "111111111111"},
			Timings:  audit.Timings{Received: t.Add(2*time.Hour - time.Minute), Completed: t.Add(2 * time.Hour)}},
	}
	rep := report.Build(records, report.Options{Now: t.Add(3 * time.Hour)})
	g := rep.Groups[0]
	fmt.Println(g.Account, g.Control, g.Total(), "records")
	fmt.Println("median to fix:", g.Median.Duration, "from", g.Median.FirstID, "to", g.Median.AppliedID)
	fmt.Println("open reviews:", len(rep.OpenReviews))
	// Output:
	// 111111111111 s3-public 2 records
	// median to fix: 2h0m0s from r1 to r2
	// open reviews: 0
}
