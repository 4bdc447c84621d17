package e2e

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/deploy/lambdatest"
)

// TestWorker runs cmd/worker, the team's worker (deploy.Worker plus
// s3versioning), as a process in apply mode over a queue holding four
// findings, with REMEDY_EXIT_WHEN_IDLE so that it exits once the queue
// is empty: the custom action fixes an unversioned bucket, finds a
// versioned one compliant, and sends a finding without an owner to
// review, untouched; a built-in action still fixes its finding beside
// it. Each ends with one audit record in DynamoDB.
func TestWorker(t *testing.T) {
	t.Parallel()
	// lambdatest.Build's flags for every binary, so the packages they
	// share compile once.
	bin := lambdatest.Build(t, "../cmd/worker")
	w := newWorld(t, "worker")
	n := w.name
	w.createBucket(n+"-payments", false)
	w.createBucket(n+"-ledger", true)
	w.createBucket(n+"-orphan", false)
	w.createBucket(n+"-public", false)
	w.send(
		payload(finding{ID: n + "-payments", Bucket: n + "-payments", Control: controlVersioning, Owner: owner}),
		payload(finding{ID: n + "-ledger", Bucket: n + "-ledger", Control: controlVersioning, Owner: owner}),
		payload(finding{ID: n + "-orphan", Bucket: n + "-orphan", Control: controlVersioning}),
		payload(finding{ID: n + "-public", Bucket: n + "-public", Control: controlPublicAccess, Owner: owner}),
	)

	cmd := exec.Command(bin)
	cmd.Env = minimalEnv(append(w.env(), "REMEDY_QUEUE_URL="+w.queueURL, "REMEDY_EXIT_WHEN_IDLE=true")...)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("worker: %v\n%s", err, out.String())
		}
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("the worker did not exit within 90s of an empty queue (REMEDY_EXIT_WHEN_IDLE)\n%s", out.String())
	}
	t.Logf("worker ran: %s", lastLine(out.String(), `"msg":"worker stopped"`))

	recs := w.auditRecords()
	want := map[string]string{
		n + "-payments": "applied",
		n + "-ledger":   "compliant",
		n + "-orphan":   "review",
		n + "-public":   "applied",
	}
	if d := cmp.Diff(want, outcomes(t, recs)); d != "" {
		t.Errorf("outcomes in the audit table (-want +got):\n%s\nworker output:\n%s", d, out.String())
	}
	if rs := recs[n+"-payments"]; len(rs) == 1 {
		checkApplied(t, rs[0], n+"-payments")
	}
	if rs := recs[n+"-public"]; len(rs) == 1 && rs[0].Action != "s3-block-public-access" {
		t.Errorf("record of %s-public: action %q, want the built-in s3-block-public-access", n, rs[0].Action)
	}
	for bucket, wantStatus := range map[string]string{n + "-payments": "Enabled", n + "-ledger": "Enabled", n + "-orphan": "", n + "-public": ""} {
		if got := w.versioning(bucket); got != wantStatus {
			t.Errorf("bucket %s: versioning %q, want %q", bucket, got, wantStatus)
		}
	}
	if !w.blocksPublicAccess(n + "-public") {
		t.Errorf("bucket %s-public does not block public access after the built-in fix", n)
	}
	if v, f := w.queueDepth(); v != "0" || f != "0" {
		t.Errorf("queue: %s visible, %s in flight after the worker exited; want every message acknowledged", v, f)
	}
	// Audit records also go to stdout, one JSON line each.
	if got := strings.Count(out.String(), `{"schema":"remedy.audit/v1"`); got != len(want) {
		t.Errorf("%d audit lines on the worker's stdout, want %d", got, len(want))
	}
}

// lastLine returns the last line of s containing sub, or "".
func lastLine(s, sub string) string {
	lines := strings.Split(s, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], sub) {
			return lines[i]
		}
	}
	return ""
}
