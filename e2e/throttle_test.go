package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/internal/faultproxy"
	"github.com/remedy-sec/remedy/internal/scenario"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

// TestThrottledAccount runs examples/worker over public-bucket findings
// of three customer accounts, interleaved, with 150 ms added to every AWS
// call by the fault proxy, twice: once with no throttling, to measure how
// fast the worker fixes two of the accounts' findings, and once while
// AWS throttles every S3 call of the third account (by the access key of
// its assumed role) until the other two are done, and for at least 20 s
// (MaxReceiveCount is 3, so its findings must be requeued to stay out of
// the dead-letter queue). The throttled account must slow only its own
// findings: the other two keep at least 80 % of their unthrottled
// throughput. When the throttling stops, the throttled account's
// findings all finish: one applied record each, nothing dead-lettered,
// the dead-letter queue empty.
//
// REMEDY_E2E_THROTTLE_ENV adds variables to the worker's environment
// ("REMEDY_THROTTLE_MIN_RATE=off" shows the run without the protection).
func TestThrottledAccount(t *testing.T) {
	if testing.Short() {
		t.Skip("about two minutes: not in -short")
	}
	const perAccount, concurrency = 60, 4
	bin := buildWorker(t)
	srv := mototest.Require(t, moto)
	ctx := mototest.Context(t)
	accts := []scenario.Account{
		{ID: "555500000001", Environment: "production"},
		{ID: "555500000002", Environment: "production"},
		{ID: "555500000003", Environment: "production"},
	}
	throttledAcct := accts[0].ID
	w, err := scenario.New(ctx, srv, t.TempDir(), scenario.Options{
		Name: "throttle-" + strings.ToLower(randText(6)), Accounts: accts, MaxReceiveCount: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := faultproxy.Start(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const delay = 150 * time.Millisecond
	var throttling atomic.Bool
	var throttledCalls atomic.Int64
	status, code := faultproxy.Throttled("s3")
	p.Add(faultproxy.Rule{Match: faultproxy.Account(throttledAcct), Choose: func(faultproxy.Request) (faultproxy.Rule, bool) {
		if !throttling.Load() {
			return faultproxy.Rule{}, false
		}
		throttledCalls.Add(1)
		return faultproxy.Rule{Delay: delay, Status: status, Code: code}, true
	}})
	p.Add(faultproxy.Rule{Delay: delay})
	// moto's SQS does not take one lock for sends (the worker's requeues),
	// visibility changes and deletes: one at a time, as in the soak.
	p.SerializeBy(func(r faultproxy.Request) string {
		if r.Service != "sqs" || !strings.HasPrefix(r.Operation, "SendMessage") && !strings.HasPrefix(r.Operation, "DeleteMessage") &&
			!strings.HasPrefix(r.Operation, "ChangeMessageVisibility") {
			return ""
		}
		var in struct{ QueueUrl string }
		if json.Unmarshal(r.Body, &in) == nil && in.QueueUrl == w.QueueURL {
			return "sqs " + w.QueueURL
		}
		return ""
	})

	// Two rounds of findings, each perAccount per account, interleaved.
	rounds := make([][][]byte, 2)
	accountOf := map[string]string{}
	errs := make(chan error, 2*perAccount*len(accts))
	sem := make(chan struct{}, 8)
	for r := range rounds {
		for i := range perAccount {
			for _, a := range accts {
				name := fmt.Sprintf("%s-r%d-%s-%03d", w.Name, r, a.ID[len(a.ID)-1:], i)
				accountOf[name] = a.ID
				rounds[r] = append(rounds[r], w.Payload(scenario.Finding{ID: name, Account: a.ID, Bucket: name, Owner: "payments-team@example.com"}))
				sem <- struct{}{}
				go func() { defer func() { <-sem }(); errs <- w.CreatePublicBucket(ctx, a.ID, name) }()
			}
		}
	}
	for range 2 * perAccount * len(accts) {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	env := append(w.Env(p.URL),
		"REMEDY_AUDIT_TABLE=", "REMEDY_IDEMPOTENCY_TABLE=", // the engine's own cost, not moto's DynamoDB
		"REMEDY_CONCURRENCY="+strconv.Itoa(concurrency), "REMEDY_LOG_LEVEL=warn", "REMEDY_RETRY_BASE=2s",
		"REMEDY_THROTTLE_MIN_RATE=2")
	env = append(env, strings.Fields(os.Getenv("REMEDY_E2E_THROTTLE_ENV"))...)

	// round runs the worker over one round's findings until each has a
	// record, and returns the records and how long the two healthy
	// accounts' findings took from the worker's start.
	round := func(r int, whileHealthy func(), healthyDone func()) (map[string][]audit.Record, time.Duration, string) {
		t.Helper()
		if err := w.Enqueue(ctx, rounds[r]...); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		proc := startProcess(t, bin, env)
		whileHealthy()
		var recs map[string][]audit.Record
		var healthy time.Duration
		deadline := time.Now().Add(4 * time.Minute)
		for {
			recs = records(t, proc.out.String())
			done, healthyLeft := 0, 0
			for id, a := range accountOf {
				if !strings.Contains(id, fmt.Sprintf("-r%d-", r)) {
					continue
				}
				if len(recs[id]) > 0 {
					done++
				} else if a != throttledAcct {
					healthyLeft++
				}
			}
			if healthyLeft == 0 && healthy == 0 {
				for id, rs := range recs {
					if accountOf[id] != throttledAcct {
						healthy = max(healthy, rs[0].Timings.Completed.Sub(start))
					}
				}
				healthyDone()
			}
			if done == perAccount*len(accts) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d of %d findings have a record after 4 minutes (%d of the healthy accounts' left)",
					r, done, perAccount*len(accts), healthyLeft)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err := proc.stop(t, 30*time.Second); err != nil {
			t.Fatalf("worker: %v", err)
		}
		return recs, healthy, proc.out.String()
	}

	// Round 0: nothing throttled.
	_, base, _ := round(0, func() {}, func() {})
	// The stopped worker's last long poll goes on in moto for up to 20 s
	// and would take round 1's first messages for a minute (the
	// visibility timeout): let it end first.
	time.Sleep(21 * time.Second)
	// Round 1: the first account throttled until the others are done, and
	// for at least throttleMin.
	const throttleMin = 20 * time.Second
	var throttledFor time.Duration
	var throttleStart time.Time
	recs, got, out := round(1, func() { throttleStart = time.Now(); throttling.Store(true) }, func() {
		throttledFor = max(time.Since(throttleStart), throttleMin)
		time.AfterFunc(time.Until(throttleStart.Add(throttledFor)), func() { throttling.Store(false) })
	})

	healthyN := 2 * perAccount
	ratio := base.Seconds() / got.Seconds()
	requeued := strings.Count(out, "message requeued")
	limited := strings.Count(out, "rate-limited after throttling")
	t.Logf("the two healthy accounts' %d findings: %v unthrottled (%.1f/s), %v with the third throttled (%.1f/s): %.0f%% of their unthrottled throughput (want at least 80%%)",
		healthyN, base.Round(time.Millisecond), float64(healthyN)/base.Seconds(), got.Round(time.Millisecond), float64(healthyN)/got.Seconds(), 100*ratio)
	t.Logf("throttled account: throttled for %v; %d of its S3 calls reached the proxy and were throttled; %d findings turned away by the client-side limit; %d messages requeued",
		throttledFor.Round(time.Millisecond), throttledCalls.Load(), limited, requeued)
	if ratio < 0.8 {
		t.Errorf("with one account throttled the other two drained at %.0f%% of their unthrottled throughput, want at least 80%%", 100*ratio)
	}
	var last time.Time
	for id, a := range accountOf {
		if !strings.Contains(id, "-r1-") {
			continue
		}
		rs := recs[id]
		if len(rs) != 1 || rs[0].Outcome != "applied" {
			var outcomes []string
			for _, r := range rs {
				outcomes = append(outcomes, r.Outcome)
			}
			t.Errorf("finding %s (account %s): records %v, want one applied", id, a, outcomes)
			continue
		}
		if a == throttledAcct && rs[0].Timings.Completed.After(last) {
			last = rs[0].Timings.Completed
		}
	}
	t.Logf("the throttled account's last finding was applied %v after its throttling stopped", last.Sub(throttleStart.Add(throttledFor)).Round(time.Millisecond))
	if throttledCalls.Load() == 0 {
		t.Error("no call of the throttled account was throttled: the test measured nothing")
	}
	if v, f, err := w.Depth(ctx, w.DLQURL); err != nil || v+f != 0 {
		t.Errorf("dead-letter queue: %d visible, %d in flight (%v); want empty", v, f, err)
	}
}

// records reads the audit records among a worker's output lines, by
// finding id.
func records(t *testing.T, out string) map[string][]audit.Record {
	t.Helper()
	recs := map[string][]audit.Record{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 0, 1<<20), 1<<22)
	for sc.Scan() {
		line := sc.Bytes()
		if !strings.HasPrefix(string(line), `{"schema"`) {
			continue
		}
		var r audit.Record
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		recs[r.Finding.ID] = append(recs[r.Finding.ID], r)
	}
	return recs
}
