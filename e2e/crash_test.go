package e2e

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/remedy-sec/remedy/internal/faultproxy"
	"github.com/remedy-sec/remedy/internal/scenario"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

// TestWorkerKilledBetweenApplyAndAudit kills the real worker process
// with SIGKILL at the worst moment: its fix reached moto (the bucket now
// blocks public access) and its answer has not reached the worker, so no
// audit record can exist. A second worker then takes the message over.
// It must record the change as applied, with the public before-state the
// first worker kept as its intent before applying — not "compliant",
// which would leave Remedy's own change in no record.
func TestWorkerKilledBetweenApplyAndAudit(t *testing.T) {
	bin := buildWorker(t)
	srv := mototest.Require(t, moto)
	ctx := mototest.Context(t)
	acct := scenario.Account{ID: "100000000009", Environment: "production"}
	w, err := scenario.New(ctx, srv, t.TempDir(), scenario.Options{
		Name: "crash-" + strings.ToLower(randText(6)), Accounts: []scenario.Account{acct}, MaxReceiveCount: 5, VisibilityTimeout: 6,
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := faultproxy.Start(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	bucket := w.Name + "-b"
	if err := w.CreatePublicBucket(ctx, acct.ID, bucket); err != nil {
		t.Fatal(err)
	}

	var first atomic.Pointer[process]
	killed := make(chan struct{})
	p.Add(faultproxy.Rule{
		Match: func(r faultproxy.Request) bool { return r.Method == "PUT" && strings.Contains(r.Path, "/"+bucket) },
		Forwarded: func(faultproxy.Request) {
			proc := first.Load()
			_ = proc.cmd.Process.Kill()
			<-proc.done
			close(killed)
		},
		Times: 1,
	})

	// The killed worker's claim (4 s) ends about when its message shows
	// again (6 s visibility), so the second worker takes it over quickly.
	// A worker renews the visibility every third of it: 6 s leaves a
	// heartbeat 4 s to reach a loaded moto before the message would show
	// while still in process.
	env := append(w.Env(p.URL), "REMEDY_RETRY_BASE=1s", "REMEDY_CLAIM_TTL=4s", "REMEDY_VISIBILITY_TIMEOUT=6s")
	first.Store(startProcess(t, bin, env))
	if err := w.Enqueue(ctx, w.Payload(scenario.Finding{ID: bucket, Account: acct.ID, Bucket: bucket, Owner: "payments-team@example.com"})); err != nil {
		t.Fatal(err)
	}
	select {
	case <-killed:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the worker never applied the fix\n%s", tail(first.Load().out.String(), 4000))
	}
	if ok, err := w.BucketBlocksPublicAccess(ctx, acct.ID, bucket); err != nil || !ok {
		t.Fatalf("after the kill the bucket blocks public access: %v, %v; want the fix to have landed", ok, err)
	}
	if recs, err := w.AuditRecords(ctx); err != nil || len(recs) != 0 {
		t.Fatalf("after the kill: %d audit records (%v), want none: the worker died before its audit write", len(recs), err)
	}

	second := startProcess(t, bin, env)
	if err := w.WaitDepth(ctx, w.QueueURL, func(v, f int) bool { return v == 0 && f == 0 }); err != nil {
		t.Fatalf("the queue did not drain: %v\n%s", err, tail(second.out.String(), 4000))
	}
	if err := second.stop(t, time.Minute); err != nil {
		t.Errorf("second worker after SIGTERM: %v", err)
	}
	recs, err := w.AuditRecords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("%d audit records, want exactly 1: %+v", len(recs), recs)
	}
	r := recs[0]
	if r.Outcome != "applied" || !strings.Contains(r.Evidence.EarlierAttempt, "apply started on receive 1") ||
		!strings.Contains(string(r.Evidence.Before), `"block_public_acls":false`) || len(r.Evidence.Rollback) == 0 {
		t.Errorf("record: outcome %q, earlier attempt %q, before %s, rollback %s; want applied with the killed worker's intent (public before-state, rollback data)",
			r.Outcome, r.Evidence.EarlierAttempt, r.Evidence.Before, r.Evidence.Rollback)
	}
}
