package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/remedy-sec/remedy/audit"
)

// TestDemoShowsEveryOutcome runs the demo as `go run` would and checks
// that each sample got a decision and that every outcome appears.
func TestDemoShowsEveryOutcome(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out, true); err != nil {
		t.Fatalf("run: %v", err)
	}
	text := out.String()
	msgs, err := samples()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if n := strings.Count(text, "\n"+m.ID+" "); n != 2 {
			t.Errorf("sample %s appears in %d tables, want 2 (dry run and apply)", m.ID, n)
		}
	}
	if strings.Contains(text, "retry") {
		t.Errorf("a sample ended in a transient error:\n%s", text)
	}
	var recs []audit.Record
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, `{"schema"`) {
			rs, err := audit.ReadJSONLines(strings.NewReader(line))
			if err != nil {
				t.Fatalf("audit line: %v", err)
			}
			recs = append(recs, rs...)
		}
	}
	if len(recs) != 2*len(msgs) {
		t.Errorf("%d audit records, want one per sample per pass (%d)", len(recs), 2*len(msgs))
	}
	seen := map[string]bool{}
	for _, r := range recs {
		seen[r.Outcome] = true
	}
	for _, o := range []string{"rejected", "skipped", "review", "compliant", "planned", "applied", "failed"} {
		if !seen[o] {
			t.Errorf("no sample ended %s", o)
		}
	}
}
