package e2e

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/internal/faultproxy"
	"github.com/remedy-sec/remedy/internal/scenario"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

// TestWorker runs the same scenario through examples/worker, a separate
// process reading the queue: the flaky finding fails its first delivery
// and is applied on the retry; a poison finding fails every delivery, is
// audited as dead-lettered on its last one (and sent to review) and ends
// in the dead-letter queue, from where `remedy replay` sends it back once
// the fault is gone, and the worker applies it. The worker exits 0 on
// SIGTERM.
func TestWorker(t *testing.T) {
	bin := buildWorker(t)
	// Built before the world's context starts: on a loaded machine, with
	// packages changed, a build can take a minute.
	remedy := buildRemedy(t)
	x := newWorld(t, "worker", scenario.Options{MaxReceiveCount: 2})
	ctx := mototest.Context(t)
	poison := x.Name + "-poison"
	if err := x.CreatePublicBucket(ctx, prod, poison); err != nil {
		t.Fatal(err)
	}
	x.bodies = append(x.bodies, x.Payload(scenario.Finding{ID: poison, Account: prod, Bucket: poison, Owner: "payments-team@example.com"}))
	// AWS_MAX_ATTEMPTS=2: the first delivery's two attempts fail.
	x.proxy.Add(faultproxy.Rule{Match: faultproxy.PathContains("/" + x.flakyBucket), Status: 503, Code: "SlowDown", Times: 2})
	x.proxy.Add(faultproxy.Rule{Match: faultproxy.PathContains("/" + poison), Status: 500, Code: "InternalError"})

	if _, err := x.Publish(ctx, x.bodies...); err != nil {
		t.Fatal(err)
	}
	env := append(x.Env(x.proxy.URL), "REMEDY_RETRY_BASE=1s", "REMEDY_CONCURRENCY=4")
	w := startProcess(t, bin, env)

	// Drained: nothing left in the queue, the poison message in the DLQ.
	if err := x.WaitDepth(ctx, x.DLQURL, func(v, _ int) bool { return v == 1 }); err != nil {
		t.Fatal(err)
	}
	if err := x.WaitDepth(ctx, x.QueueURL, func(v, f int) bool { return v == 0 && f == 0 }); err != nil {
		t.Fatal(err)
	}
	recs := x.checkOutcomes(t, ctx, []string{poison})
	for _, r := range recs {
		switch r.Finding.ID {
		case x.flaky:
			if r.Correlation.ReceiveCount != 2 {
				t.Errorf("flaky finding applied on receive %d, want 2", r.Correlation.ReceiveCount)
			}
		case poison:
			if r.Correlation.ReceiveCount != 2 || !strings.Contains(r.FailureReason, "InternalError") {
				t.Errorf("dead-lettered record: receive %d, reason %q; want 2 and the injected InternalError", r.Correlation.ReceiveCount, r.FailureReason)
			}
		}
	}
	x.checkResources(t, ctx)
	x.checkReviews(t, ctx, poison)
	x.checkAssumed(t, map[string]int{roleOf(prod): 1, roleOf(staging): 2})

	// The operator looks at the dead-letter queue, sees why, fixes the
	// cause (the fault goes away) and replays the message.
	replay := func(extra ...string) string {
		t.Helper()
		args := append([]string{"replay", "--dlq", x.DLQURL, "--to", x.QueueURL, "--endpoint", x.Moto.URL,
			"--audit-table", x.AuditTable, "--audit-index", scenario.AuditMessageIndex}, extra...)
		cmd := exec.CommandContext(ctx, remedy, args...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_REGION="+x.Region)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("remedy %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	out := replay("--dry-run")
	if !strings.Contains(out, "would-replay") || !strings.Contains(out, poison) || !strings.Contains(out, "InternalError") {
		t.Errorf("remedy replay --dry-run does not show the poison message with its failure:\n%s", out)
	}
	x.proxy.Reset()
	out = replay()
	if !strings.Contains(out, "replayed 1/1") {
		t.Errorf("remedy replay:\n%s", out)
	}
	if err := x.WaitDepth(ctx, x.DLQURL, func(v, f int) bool { return v == 0 && f == 0 }); err != nil {
		t.Fatal(err)
	}
	x.want[poison] = "applied"
	for {
		recs, err := x.AuditRecords(ctx)
		if err != nil {
			t.Fatalf("waiting for the replayed message's applied record: %v", err)
		}
		if slices.ContainsFunc(recs, func(r audit.Record) bool { return r.Finding.ID == poison && r.Outcome == "applied" }) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the replayed message was not applied: %v\n%s", ctx.Err(), tail(w.out.String(), 4000))
		case <-time.After(200 * time.Millisecond):
		}
	}
	x.checkOutcomes(t, ctx, []string{poison})
	if ok, err := x.BucketBlocksPublicAccess(ctx, prod, poison); err != nil || !ok {
		t.Errorf("replayed poison bucket blocks public access: %v, %v; want true", ok, err)
	}

	start := time.Now()
	if err := w.stop(t, time.Minute); err != nil {
		t.Fatalf("worker after SIGTERM: %v", err)
	}
	t.Logf("worker stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(w.out.String(), `"msg":"worker stopped"`) {
		t.Errorf("the worker did not log its shutdown")
	}
	// One terminal record per message, plus the poison message's
	// dead-lettered one.
	if lines := strings.Count(w.out.String(), `{"schema":"remedy.audit/v1"`); lines != len(x.bodies)+1 {
		t.Errorf("%d audit lines on the worker's stdout, want %d", lines, len(x.bodies)+1)
	}
}
