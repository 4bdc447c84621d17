package e2e

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/internal/faultproxy"
	"github.com/remedy-sec/remedy/internal/scenario"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

// TestWorkerChaos runs the reference worker while the proxy in front of
// moto fails a random share of its calls — STS, S3 reads and writes, the
// DynamoDB audit and idempotency writes, SQS receives — some before they
// reach moto and some after (the call took effect, its response was
// lost), and makes sure that a chosen bucket's fix is applied with its
// response lost twice. Whatever happens, every finding must end with
// exactly one audit record, and that record must say applied — or
// failed on its read-back, routed to review, when both attempts of that
// read were failed: none "compliant" (which would hide that Remedy
// changed the bucket), none missing; and every bucket must block public
// access.
func TestWorkerChaos(t *testing.T) {
	const findings, seed = 24, 20261128
	bin := buildWorker(t)
	srv := mototest.Require(t, moto)
	ctx := mototest.Context(t)
	accts := []scenario.Account{
		{ID: "100000000001", Environment: "production"},
		{ID: "100000000002", Environment: "production"},
		{ID: "100000000003", Environment: "production"},
	}
	w, err := scenario.New(ctx, srv, t.TempDir(), scenario.Options{
		Name: "chaos-" + strings.ToLower(randText(6)), Accounts: accts, MaxReceiveCount: 20, VisibilityTimeout: 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := faultproxy.Start(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })

	var bodies [][]byte
	account := map[string]string{}
	for i := range findings {
		name := fmt.Sprintf("%s-%02d", w.Name, i)
		acct := accts[i%len(accts)].ID
		if err := w.CreatePublicBucket(ctx, acct, name); err != nil {
			t.Fatal(err)
		}
		account[name] = acct
		bodies = append(bodies, w.Payload(scenario.Finding{ID: name, Account: acct, Bucket: name, Owner: "payments-team@example.com"}))
	}

	// The chosen bucket: both attempts of its fix (AWS_MAX_ATTEMPTS=2)
	// reach moto and lose their response.
	lost := fmt.Sprintf("%s-%02d", w.Name, 5)
	p.Add(faultproxy.Rule{Match: func(r faultproxy.Request) bool {
		return r.Method == "PUT" && strings.Contains(r.Path, "/"+lost)
	}, Status: 500, Code: "InternalError", AfterForward: true, Times: 2})

	// Random faults, reproducible in kind if not in order (the worker's
	// calls interleave). A claim (Begin) and SQS deletes and visibility
	// changes are not failed after forwarding: a lost claim only waits out
	// its expiry and a lost delete only a visibility timeout, which would
	// make this test slow, not different.
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, seed))
	chance := func(pct int) bool {
		mu.Lock()
		defer mu.Unlock()
		return rng.IntN(100) < pct
	}
	s3call := func(r faultproxy.Request) bool {
		return strings.HasPrefix(r.Operation, "GET /") || strings.HasPrefix(r.Operation, "PUT /")
	}
	op := func(names ...string) func(faultproxy.Request) bool {
		return func(r faultproxy.Request) bool {
			for _, n := range names {
				if r.Operation == n {
					return true
				}
			}
			return false
		}
	}
	claim := faultproxy.BodyContains(":inprogress")
	p.Add(faultproxy.Rule{Match: func(r faultproxy.Request) bool { return s3call(r) && chance(12) }, Status: 503, Code: "SlowDown"})
	p.Add(faultproxy.Rule{Match: func(r faultproxy.Request) bool { return s3call(r) && chance(8) }, Status: 500, Code: "InternalError", AfterForward: true})
	p.Add(faultproxy.Rule{Match: func(r faultproxy.Request) bool { return op("AssumeRole")(r) && chance(25) }, Status: 503, Code: "ServiceUnavailable"})
	p.Add(faultproxy.Rule{Match: func(r faultproxy.Request) bool { return op("PutItem", "UpdateItem", "GetItem")(r) && chance(10) }, Status: 500, Code: "InternalServerError"})
	p.Add(faultproxy.Rule{Match: func(r faultproxy.Request) bool {
		return op("PutItem", "UpdateItem")(r) && !claim(r) && chance(8)
	}, Status: 500, Code: "InternalServerError", AfterForward: true})
	p.Add(faultproxy.Rule{Match: func(r faultproxy.Request) bool { return op("ReceiveMessage")(r) && chance(10) }, Status: 500, Code: "InternalError"})

	if err := w.Enqueue(ctx, bodies...); err != nil {
		t.Fatal(err)
	}
	// A claim outlives a release that failed on both attempts (the random
	// faults above can hit one): the message then waits for the claim to
	// expire. 15 s instead of the default 5 minutes keeps that wait within
	// the test; no message is delivered twice at once here (visibility
	// changes are never failed), so a short claim changes nothing else.
	env := append(w.Env(p.URL), "REMEDY_RETRY_BASE=1s", "REMEDY_CONCURRENCY=6", "REMEDY_CLAIM_TTL=15s")
	proc := startProcess(t, bin, env)
	if err := w.WaitDepth(ctx, w.QueueURL, func(v, f int) bool { return v == 0 && f == 0 }); err != nil {
		t.Fatalf("the queue did not drain: %v\n%s", err, tail(proc.out.String(), 4000))
	}
	if err := proc.stop(t, time.Minute); err != nil {
		t.Errorf("worker after SIGTERM: %v", err)
	}

	var faults []string
	total := 0
	for o, n := range p.Counts() {
		if f := p.Faults(o); f > 0 {
			total += f
			faults = append(faults, fmt.Sprintf("%s=%d/%d", o, f, n))
		}
	}
	t.Logf("%d injected faults (operation=faults/calls): %s", total, strings.Join(faults, " "))
	if total < findings/2 {
		t.Fatalf("only %d faults were injected; the test proves little", total)
	}
	if v, _, err := w.Depth(ctx, w.DLQURL); err != nil || v != 0 {
		t.Errorf("dead-letter queue holds %d messages (%v), want none", v, err)
	}

	recs, err := w.AuditRecords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byFinding := map[string][]audit.Record{}
	for _, r := range recs {
		byFinding[r.Finding.ID] = append(byFinding[r.Finding.ID], r)
	}
	for name, acct := range account {
		rs := byFinding[name]
		verifyFailed := len(rs) == 1 && rs[0].Outcome == "failed" && strings.HasPrefix(rs[0].FailureReason, "verify:") && rs[0].ReviewRouted
		if len(rs) != 1 || rs[0].Outcome != "applied" && !verifyFailed {
			var got []string
			for _, r := range rs {
				got = append(got, fmt.Sprintf("%s (receive %d, %s)", r.Outcome, r.Correlation.ReceiveCount, r.FailureReason))
			}
			t.Errorf("finding %s: audit records %v, want exactly one, applied (or failed on its read-back)", name, got)
			continue
		}
		// The interrupted apply is named by the evidence kept after it
		// failed or, when a random fault lost that write too, by the
		// intent kept before it.
		if name == lost && !interruptedApply.MatchString(rs[0].Evidence.EarlierAttempt) {
			t.Errorf("finding %s, whose fix lost its response: earlier_attempt %q, want the interrupted apply", name, rs[0].Evidence.EarlierAttempt)
		}
		if ok, err := w.BucketBlocksPublicAccess(ctx, acct, name); err != nil || !ok {
			t.Errorf("bucket %s blocks public access: %v, %v; want true", name, ok, err)
		}
	}
	if len(byFinding) != findings {
		t.Errorf("audit records for %d findings, want %d", len(byFinding), findings)
	}
}

// interruptedApply matches the earlier attempt of a record whose change
// was interrupted: "apply on receive 1 failed, its outcome unknown: …"
// or "apply started on receive 1 and its outcome was not recorded: …".
var interruptedApply = regexp.MustCompile(`^apply (started )?on receive \d+ `)

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
