// Package audittest is a conformance suite for audit.Sink
// implementations, in the style of testing/slogtest: a sink author runs
//
//	func TestMySink(t *testing.T) {
//		audittest.Run(t, audittest.Harness{
//			New:  func(t *testing.T) audit.Sink { ... },
//			Read: func(t *testing.T, s audit.Sink) []audit.Record { ... },
//		})
//	}
//
// and gets sub-tests for round-tripping every field, concurrent writes,
// cancelled contexts and the absence of secrets.
package audittest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/remedy-sec/remedy/audit"
)

// Harness connects the suite to a sink implementation.
type Harness struct {
	// New returns a fresh, empty sink for one sub-test.
	New func(t *testing.T) audit.Sink
	// Read returns every record the sink has stored, in any order.
	Read func(t *testing.T, s audit.Sink) []audit.Record
}

// Record returns a record with every field set, for tests of sinks.
func Record(id string) *audit.Record {
	t0 := time.Date(2026, 11, 2, 10, 11, 12, 345000000, time.UTC)
	return &audit.Record{
		Schema: audit.SchemaVersion,
		ID:     id,
		Time:   t0,
		Finding: audit.Finding{
			ID: "5b0e6c9a-1f0e-4d6e-9a53-2f1c0d4b7e11", Source: "wiz", TriggerSource: "ISSUES",
			TriggerType: "CREATED", Status: "OPEN", Severity: "HIGH", ControlID: "wc-id-1234",
			ControlName: "S3 Bucket allows public access", RuleID: "rule-1", Environment: "production",
			Owner: "payments-team", Exception: "", Revision: "CREATED:2026-11-02T10:11:12.345Z",
		},
		Resource: audit.Resource{
			ID: "arn:aws:s3:::payments-exports", Type: "bucket", Name: "payments-exports",
			Account: "111111111111", Region: "us-east-1",
		},
		Decision:     "remediate",
		Reasons:      []audit.Reason{{Check: "severity", LeadsTo: "skip", Message: "severity is LOW"}},
		Action:       "s3-block-public-access",
		Outcome:      "applied",
		DryRun:       false,
		ReviewRouted: true,
		Evidence: audit.Evidence{
			Before:     json.RawMessage(`{"BlockPublicAcls":false}`),
			After:      json.RawMessage(`{"BlockPublicAcls":true}`),
			Changes:    []string{"set BlockPublicAcls from false to true"},
			Rollback:   json.RawMessage(`{"BlockPublicAcls":false}`),
			RequestIDs: []string{"REQ1", "REQ2"},
			Verified:   true,
		},
		Correlation: audit.Correlation{
			CorrelationID: "6a1f", MessageID: "m-1", ReceiveCount: 2,
			SessionName: "remedy-s3-block-public-access",
		},
		Timings:       audit.Timings{Received: t0, Completed: t0.Add(42 * time.Millisecond), DurationMS: 42},
		PolicyVersion: "example@abc123",
		RollbackOf:    "earlier-record-1",
		Approval: &audit.Approval{
			RequestID: "apr-1", Approver: "alice@example.com", PlanHash: "sha256:00", Expires: t0.Add(time.Hour),
			Status: "drifted", NextRequestID: "apr-2", NextPlanHash: "sha256:01",
		},
	}
}

// Run runs the conformance suite.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil || h.Read == nil {
		t.Fatal("audittest: Harness.New and Harness.Read are required")
	}
	t.Run("RoundTrip", func(t *testing.T) {
		s := h.New(t)
		want := Record("rt-1")
		if err := s.Write(context.Background(), want); err != nil {
			t.Fatalf("Write: %v", err)
		}
		got := h.Read(t, s)
		if len(got) != 1 {
			t.Fatalf("Read returned %d records, want 1", len(got))
		}
		if diff := cmp.Diff(*want, got[0], cmpopts.EquateEmpty(), jsonEqual()); diff != "" {
			t.Errorf("stored record differs (-written +read):\n%s", diff)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		s := h.New(t)
		const n = 64
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				if err := s.Write(context.Background(), Record(fmt.Sprintf("c-%02d", i))); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("concurrent Write: %v", err)
		}
		seen := map[string]int{}
		for _, r := range h.Read(t, s) {
			seen[r.ID]++
		}
		for i := range n {
			if id := fmt.Sprintf("c-%02d", i); seen[id] != 1 {
				t.Errorf("record %s stored %d times, want once", id, seen[id])
			}
		}
	})
	t.Run("CancelledContext", func(t *testing.T) {
		s := h.New(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := s.Write(ctx, Record("cancelled"))
		stored := len(h.Read(t, s))
		if err == nil && stored != 1 {
			t.Errorf("Write with a cancelled context returned nil but stored %d records: a nil error must mean stored", stored)
		}
	})
	t.Run("NoSecrets", func(t *testing.T) {
		s := h.New(t)
		if err := s.Write(context.Background(), Record("ns-1")); err != nil {
			t.Fatalf("Write: %v", err)
		}
		b, err := json.Marshal(h.Read(t, s))
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"SecretAccessKey", "SessionToken", "ExternalId", "external_id"} {
			if strings.Contains(string(b), bad) {
				t.Errorf("stored records contain %q; sinks must not add credentials or external ids", bad)
			}
		}
	})
}

// jsonEqual compares raw JSON by value, so a sink may re-indent it.
func jsonEqual() cmp.Option {
	return cmp.Comparer(func(a, b json.RawMessage) bool {
		if len(a) == 0 || len(b) == 0 {
			return len(a) == len(b)
		}
		var x, y any
		if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
			return string(a) == string(b)
		}
		return cmp.Equal(x, y)
	})
}
