package audit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/remedy-sec/remedy/audit"
)

// A JSONLines sink writes one line of JSON per record, which
// ReadJSONLines reads back, as a report over a day's log would.
func ExampleJSONLines() {
	var log bytes.Buffer // os.Stdout on Lambda, where it lands in CloudWatch Logs
	sink := audit.NewJSONLines(&log)

	at := time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC)
	err := sink.Write(context.Background(), &audit.Record{
		Schema:   audit.SchemaVersion,
		ID:       "rec-1",
		Time:     at,
		Finding:  audit.Finding{ID: "wiz-issue-42", Source: "wiz", Severity: "HIGH"},
		Resource: audit.Resource{ID: "arn:aws:s3:::acme-logs", Type: "bucket", Account: "111111111111"},
		Decision: "remediate",
		Action:   "s3-block-public-access",
		Outcome:  "applied",
		Timings:  audit.Timings{Received: at, Completed: at.Add(1500 * time.Millisecond), DurationMS: 1500},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(log.String())

	records, err := audit.ReadJSONLines(&log)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range records {
		fmt.Printf("%s: %s %s on %s\n", r.ID, r.Outcome, r.Action, r.Resource.ID)
	}
	// Output:
	// {"schema":"remedy.audit/v1","id":"rec-1","time":"2025-03-14T09:30:00Z","finding":{"id":"wiz-issue-42","source":"wiz","severity":"HIGH"},"resource":{"id":"arn:aws:s3:::acme-logs","type":"bucket","account":"111111111111"},"decision":"remediate","action":"s3-block-public-access","outcome":"applied","correlation":{},"timings":{"received":"2025-03-14T09:30:00Z","completed":"2025-03-14T09:30:01.5Z","duration_ms":1500}}
	// rec-1: applied s3-block-public-access on arn:aws:s3:::acme-logs
}

// A SinkFunc turns a function into a Sink, here one that forwards only the
// records a person must look at.
func ExampleSinkFunc() {
	page := audit.SinkFunc(func(_ context.Context, r *audit.Record) error {
		if r.Outcome == "review" || r.Outcome == "failed" {
			fmt.Printf("page on-call: %s %s (%s)\n", r.Outcome, r.Resource.ID, r.FailureReason)
		}
		return nil
	})
	ctx := context.Background()
	_ = page.Write(ctx, &audit.Record{ID: "rec-1", Outcome: "applied", Resource: audit.Resource{ID: "sg-0abc"}})
	_ = page.Write(ctx, &audit.Record{ID: "rec-2", Outcome: "failed", Resource: audit.Resource{ID: "sg-0def"},
		FailureReason: "AccessDenied: ec2:RevokeSecurityGroupIngress"})
	// Output:
	// page on-call: failed sg-0def (AccessDenied: ec2:RevokeSecurityGroupIngress)
}

// Multi writes every record to each sink in turn. When one fails, the
// others still wrote, and the joined error keeps the message
// unacknowledged, so it is retried rather than its evidence lost.
func ExampleMulti() {
	var log bytes.Buffer
	durable := audit.SinkFunc(func(_ context.Context, r *audit.Record) error {
		// Stands in for a DynamoDB sink that is being throttled.
		return fmt.Errorf("store record %s: %w", r.ID, errors.New("ProvisionedThroughputExceededException"))
	})
	sink := audit.Multi(audit.NewJSONLines(&log), durable)

	err := sink.Write(context.Background(), &audit.Record{Schema: audit.SchemaVersion, ID: "rec-1", Decision: "skip", Outcome: "skipped"})
	if err != nil {
		fmt.Println("not acknowledged:", err)
	}
	records, _ := audit.ReadJSONLines(&log)
	fmt.Println("records in the log:", len(records))
	// Output:
	// not acknowledged: store record rec-1: ProvisionedThroughputExceededException
	// records in the log: 1
}
