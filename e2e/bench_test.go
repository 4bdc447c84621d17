package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/remedy-sec/remedy/deploy/lambdatest"
	"github.com/remedy-sec/remedy/internal/faultproxy"
	"github.com/remedy-sec/remedy/internal/scenario"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

// The end-to-end benchmarks (make bench-e2e). Each runs its workload
// once, whatever b.N is, and reports what it measured; run them with
// -benchtime=1x. Sizes can be changed with REMEDY_BENCH_FINDINGS (the CPU
// benchmark) and REMEDY_BENCH_WORKER_FINDINGS (the throughput one);
// REMEDY_BENCH_WORKER_ENV adds variables to the worker's environment.

func benchSize(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func benchContext(b *testing.B) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	b.Cleanup(cancel)
	return ctx
}

// BenchmarkLambdaColdStart starts examples/lambda under the Runtime
// Interface Emulator several times, each time a fresh process, and
// invokes it with one public-bucket finding: it reports the init
// duration (Go start-up plus main building the engine, up to the first
// request for an event), the time until that first finding was fixed,
// audited and acknowledged (the cold invoke's round trip, init
// included), and the binary's size.
func BenchmarkLambdaColdStart(b *testing.B) {
	// The first start warms moto (its backends initialize lazily on first
	// use, which costs it about 150 ms) and is not counted.
	const starts, warmup = 7, 1
	bootstrap := lambdatest.Build(b, "../examples/lambda")
	st, err := os.Stat(bootstrap)
	if err != nil {
		b.Fatal(err)
	}
	srv := mototest.Require(b, moto)
	ctx := benchContext(b)
	w, err := scenario.New(ctx, srv, b.TempDir(), scenario.Options{Name: "coldstart-" + strings.ToLower(randText(6))})
	if err != nil {
		b.Fatal(err)
	}
	var bodies [][]byte
	for i := range starts + warmup {
		name := fmt.Sprintf("%s-%d", w.Name, i)
		if err := w.CreatePublicBucket(ctx, prod, name); err != nil {
			b.Fatal(err)
		}
		bodies = append(bodies, w.Payload(scenario.Finding{ID: name, Account: prod, Bucket: name, Owner: "payments-team@example.com"}))
	}
	if err := w.Enqueue(ctx, bodies...); err != nil {
		b.Fatal(err)
	}
	var inits, firsts []time.Duration
	b.ResetTimer()
	for i := range starts + warmup {
		msgs, err := w.Receive(ctx, 1)
		if err != nil || len(msgs) != 1 {
			b.Fatalf("receive: %v, %d messages", err, len(msgs))
		}
		fn := lambdatest.Start(b, bootstrap, w.Env(srv.URL))
		payload, err := json.Marshal(w.SQSEvent(msgs))
		if err != nil {
			b.Fatal(err)
		}
		inv, err := fn.Invoke(ctx, payload)
		if err != nil {
			b.Fatal(err)
		}
		var resp events.SQSEventResponse
		if err := json.Unmarshal(inv.Response, &resp); err != nil || len(resp.BatchItemFailures) != 0 {
			b.Fatalf("cold start %d: response %s (%v)\n%s", i, inv.Response, err, fn.Logs())
		}
		if !strings.Contains(fn.Logs(), `"outcome":"applied"`) {
			b.Fatalf("cold start %d: the finding was not applied:\n%s", i, fn.Logs())
		}
		fn.Close()
		if i < warmup {
			b.Logf("warm-up start (not counted): init %v, first finding %v", inv.Init, inv.Wall)
			continue
		}
		inits, firsts = append(inits, inv.Init), append(firsts, inv.Wall)
	}
	b.StopTimer()
	b.Logf("in order: init %v, first finding %v", inits, firsts)
	slices.Sort(inits)
	slices.Sort(firsts)
	b.ReportMetric(ms(inits[len(inits)/2]), "init-ms-p50")
	b.ReportMetric(ms(inits[len(inits)-1]), "init-ms-max")
	b.ReportMetric(ms(firsts[len(firsts)/2]), "first-finding-ms-p50")
	b.ReportMetric(ms(firsts[len(firsts)-1]), "first-finding-ms-max")
	b.ReportMetric(float64(st.Size())/(1<<20), "binary-MiB")
	b.Logf("%d cold starts: init %v, first finding done %v (sorted); bootstrap %.1f MiB (stripped, linux/%s)",
		starts, inits, firsts, float64(st.Size())/(1<<20), goarch())
}

// BenchmarkWorkerCPUPerFinding queues public-bucket findings for 10
// accounts, interleaved, and runs examples/worker (a separate process,
// with the DynamoDB idempotency store and audit sink and the SNS review
// route) until the queue is empty. It reports the worker process's CPU
// time (getrusage of that process only: moto and this test are not
// counted) per remediated finding, with and without the CPU of starting
// and stopping, and the AssumeRole calls made (one per account expected).
//
// Two configurations: "deployment" is the reference deployment (DynamoDB
// idempotency and audit, SNS review: about eight AWS calls per finding);
// "engine" keeps idempotency in memory and audits to stdout only, so that
// a finding costs what Remedy itself needs: the S3 read, write and
// read-back, and its share of the SQS receives and deletes.
func BenchmarkWorkerCPUPerFinding(b *testing.B) {
	n := benchSize("REMEDY_BENCH_FINDINGS", 500)
	b.Run("deployment", func(b *testing.B) { benchWorker(b, workerBench{findings: n, accounts: 10, deployment: true}) })
	b.Run("engine", func(b *testing.B) { benchWorker(b, workerBench{findings: n, accounts: 10}) })
}

// BenchmarkWorkerThroughput is the same workload with 10,000 findings: it
// reports findings per second end to end against moto and the worker's
// peak resident memory. moto (one Python process) is the bottleneck, at
// about eight of its calls per finding with the DynamoDB stores, so this
// runs the engine configuration (three S3 calls per finding) by default;
// REMEDY_BENCH_WORKER_CONFIG=deployment runs the reference deployment,
// which takes about three times as long.
func BenchmarkWorkerThroughput(b *testing.B) {
	n := benchSize("REMEDY_BENCH_WORKER_FINDINGS", 10_000)
	benchWorker(b, workerBench{findings: n, accounts: 10, deployment: os.Getenv("REMEDY_BENCH_WORKER_CONFIG") == "deployment"})
}

// BenchmarkWorkerLatency puts the fault-injecting proxy in front of moto,
// adding 50 ms to every AWS call the worker makes (STS, S3, SQS), and
// runs the engine configuration at concurrency C. A finding then takes
// at least latency = 50 ms × its serial AWS calls (S3 read, write,
// read-back: 150 ms), so a worker that keeps its C slots busy drains
// C/latency findings per second; the benchmark reports the throughput and
// its ratio to that ideal (target: at least 0.8). REMEDY_BENCH_LATENCY_FINDINGS
// (default 1,000) and REMEDY_BENCH_LATENCY_C (default 16) change the size.
func BenchmarkWorkerLatency(b *testing.B) {
	benchWorker(b, workerBench{
		findings: benchSize("REMEDY_BENCH_LATENCY_FINDINGS", 1000), accounts: 10,
		concurrency: benchSize("REMEDY_BENCH_LATENCY_C", 16), delay: 50 * time.Millisecond,
	})
}

// workerBench is one worker benchmark's workload.
type workerBench struct {
	findings, accounts int
	// deployment runs the reference deployment (DynamoDB idempotency and
	// audit, SNS review); false keeps idempotency in memory and audits to
	// stdout only.
	deployment bool
	// concurrency is REMEDY_CONCURRENCY; zero is 16.
	concurrency int
	// delay is added to every AWS call of the worker by the proxy.
	delay time.Duration
}

func benchWorker(b *testing.B, wb workerBench) {
	findings, accounts := wb.findings, wb.accounts
	var extraEnv []string
	if !wb.deployment {
		extraEnv = []string{"REMEDY_AUDIT_TABLE=", "REMEDY_IDEMPOTENCY_TABLE="}
	}
	if wb.concurrency == 0 {
		wb.concurrency = 16
	}
	// REMEDY_BENCH_WORKER_ENV adds variables to the worker's environment
	// ("GOGC=200 GOMAXPROCS=1"), for experiments.
	extraEnv = append(extraEnv, strings.Fields(os.Getenv("REMEDY_BENCH_WORKER_ENV"))...)
	bin := buildWorker(b)
	srv := mototest.Require(b, moto)
	ctx := benchContext(b)
	var accts []scenario.Account
	for i := range accounts {
		accts = append(accts, scenario.Account{ID: fmt.Sprintf("1000000000%02d", i+1), Environment: "production"})
	}
	w, err := scenario.New(ctx, srv, b.TempDir(), scenario.Options{Name: "bench-" + strings.ToLower(randText(6)), Accounts: accts, VisibilityTimeout: 120})
	if err != nil {
		b.Fatal(err)
	}
	p, err := faultproxy.Start(srv.URL) // it counts calls, and adds wb.delay to each
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	if wb.delay > 0 {
		p.Add(faultproxy.Rule{Delay: wb.delay})
	}

	setup := time.Now()
	bodies := make([][]byte, findings)
	errs := make(chan error, findings)
	sem := make(chan struct{}, 8)
	for i := range findings {
		acct := accts[i%accounts].ID
		name := fmt.Sprintf("%s-%05d", w.Name, i)
		bodies[i] = w.Payload(scenario.Finding{ID: name, Account: acct, Bucket: name, Owner: "payments-team@example.com"})
		sem <- struct{}{}
		go func() { defer func() { <-sem }(); errs <- w.CreatePublicBucket(ctx, acct, name) }()
	}
	for range findings {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	// moto's SQS costs O(queue length) per send and receive, so a queue
	// of 10,000 messages would measure moto, not the worker: the findings
	// are fed in as the worker drains them, keeping at most feedMax
	// waiting. The worker always has work: it never sees an empty queue
	// before the last finding.
	const feedMax, feedChunk = 120, 60
	fed := min(findings, feedMax)
	if err := w.Enqueue(ctx, bodies[:fed]...); err != nil {
		b.Fatal(err)
	}
	b.Logf("setup: %d public buckets in %d accounts, %d findings queued (the rest are fed as the queue drains), in %v",
		findings, accounts, fed, time.Since(setup).Round(time.Millisecond))

	env := append(append(w.Env(p.URL), "REMEDY_CONCURRENCY="+strconv.Itoa(wb.concurrency), "REMEDY_LOG_LEVEL=warn"), extraEnv...)
	b.ResetTimer()
	start := time.Now()
	cmd, done := startBench(b, bin, env)
	lastLog := time.Now()
	for {
		v, f, err := w.Depth(ctx, w.QueueURL)
		if err != nil {
			b.Fatal(err)
		}
		if fed < findings && v < feedMax-feedChunk {
			n := min(feedChunk, findings-fed)
			if err := w.Enqueue(ctx, bodies[fed:fed+n]...); err != nil {
				b.Fatal(err)
			}
			fed += n
			continue
		}
		if fed == findings && v == 0 && f == 0 {
			break
		}
		if time.Since(lastLog) > 30*time.Second {
			b.Logf("%v: %d of %d findings queued so far, %d waiting, %d in flight", time.Since(start).Round(time.Second), fed, findings, v, f)
			lastLog = time.Now()
		}
		select {
		case <-done:
			b.Fatalf("the worker exited early: %v", cmd.ProcessState)
		case <-time.After(200 * time.Millisecond):
		}
	}
	elapsed := time.Since(start)
	mem := procStatus(cmd.Process.Pid, "VmHWM", "RssAnon", "RssFile")
	ru := stopBench(b, cmd, done)
	b.StopTimer()
	calls := p.Counts()
	var ops []string
	for op, n := range calls {
		if strings.HasPrefix(op, "GET /") || strings.HasPrefix(op, "PUT /") {
			calls[op[:3]+" bucket"] += n
			delete(calls, op)
		}
	}
	for op, n := range calls {
		ops = append(ops, fmt.Sprintf("%s=%d", op, n))
	}
	slices.Sort(ops)
	b.Logf("AWS calls: %s", strings.Join(ops, " "))

	if wb.deployment {
		recs, err := w.AuditRecords(ctx)
		if err != nil {
			b.Fatal(err)
		}
		applied := 0
		for _, r := range recs {
			if r.Outcome == "applied" {
				applied++
			}
		}
		if applied != findings {
			b.Fatalf("%d applied audit records, want %d", applied, findings)
		}
	}
	// Spot-check the fixes in the accounts.
	for i := 0; i < findings; i += max(1, findings/20) {
		name := fmt.Sprintf("%s-%05d", w.Name, i)
		if ok, err := w.BucketBlocksPublicAccess(ctx, accts[i%accounts].ID, name); err != nil || !ok {
			b.Fatalf("bucket %s: blocks public access %v, %v", name, ok, err)
		}
	}
	// The CPU of a worker that starts, finds the queue empty and stops.
	bcmd, bdone := startBenchReady(b, bin, env)
	idle := procStatus(bcmd.Process.Pid, "VmRSS", "RssAnon", "RssFile")
	base := stopBench(b, bcmd, bdone)
	b.Logf("an idle worker (engine built, queue empty): %s", idle)

	if wb.delay > 0 {
		// The S3 calls are a finding's serial path; STS (once per
		// account) and SQS (batched, overlapped by prefetching) are not.
		// The latency is the added delay alone; with moto's own answer
		// time added (measured by the proxy) it is what a finding really
		// waited for, and the ratio to C over that is how busy the worker
		// kept its slots.
		var serial int
		var moto time.Duration
		upstream := p.Upstream()
		for op, n := range p.Counts() {
			if strings.HasPrefix(op, "GET /") || strings.HasPrefix(op, "PUT /") {
				serial += n
				moto += upstream[op]
			}
		}
		latency := wb.delay * time.Duration(serial) / time.Duration(findings)
		withMoto := latency + moto/time.Duration(findings)
		got := float64(findings) / elapsed.Seconds()
		ratio := got / (float64(wb.concurrency) / latency.Seconds())
		busy := got / (float64(wb.concurrency) / withMoto.Seconds())
		b.ReportMetric(ms(latency), "latency-ms")
		b.ReportMetric(ratio, "ratio-to-C/latency")
		b.ReportMetric(ms(withMoto), "latency-with-moto-ms")
		b.ReportMetric(busy, "ratio-to-C/latency-with-moto")
		b.Logf("%v added to every AWS call, C=%d: %.2f serial S3 calls per finding = latency %v; got %.1f findings/s = %.0f%% of C/latency (target at least 80%%); with moto's answer time (%v per finding) the latency is %v and the throughput %.0f%% of C over it",
			wb.delay, wb.concurrency, float64(serial)/float64(findings), latency.Round(time.Millisecond), got, 100*ratio,
			(moto / time.Duration(findings)).Round(time.Millisecond), withMoto.Round(time.Millisecond), 100*busy)
	}
	cpu := cpuOf(ru)
	net := cpu - cpuOf(base)
	b.ReportMetric(ms(cpu)/float64(findings), "cpu-ms/finding")
	b.ReportMetric(ms(net)/float64(findings), "net-cpu-ms/finding")
	b.ReportMetric(float64(p.Calls("AssumeRole")), "assume-role-calls")
	b.ReportMetric(float64(findings)/elapsed.Seconds(), "findings/s")
	b.ReportMetric(float64(ru.Maxrss)/1024, "peak-rss-MiB")
	b.Logf("%d findings, %d accounts interleaved: drained in %v (%.0f findings/s); worker CPU %v (%.3f ms/finding; %.3f ms without start-up %v); %d AssumeRole calls; peak RSS %.1f MiB (at the end: %s)",
		findings, accounts, elapsed.Round(time.Millisecond), float64(findings)/elapsed.Seconds(),
		cpu.Round(time.Millisecond), ms(cpu)/float64(findings), ms(net)/float64(findings), cpuOf(base).Round(time.Millisecond),
		p.Calls("AssumeRole"), float64(ru.Maxrss)/1024, mem)
}

func startBench(b *testing.B, bin string, env []string) (*exec.Cmd, chan struct{}) {
	b.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	b.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	return cmd, done
}

// startBenchReady starts the worker and waits until it has built its
// engine and polled once.
func startBenchReady(b *testing.B, bin string, env []string) (*exec.Cmd, chan struct{}) {
	b.Helper()
	cmd, done := startBench(b, bin, env)
	time.Sleep(2 * time.Second)
	return cmd, done
}

func stopBench(b *testing.B, cmd *exec.Cmd, done chan struct{}) *syscall.Rusage {
	b.Helper()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		b.Fatal("the worker did not exit within 30s of SIGTERM")
	}
	if !cmd.ProcessState.Success() {
		b.Fatalf("worker: %v", cmd.ProcessState)
	}
	return cmd.ProcessState.SysUsage().(*syscall.Rusage)
}

// procStatus returns the named fields of /proc/PID/status.
func procStatus(pid int, fields ...string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(l, ":")
		if slices.Contains(fields, k) {
			out = append(out, k+" "+strings.Join(strings.Fields(v), " "))
		}
	}
	return strings.Join(out, ", ")
}

func cpuOf(ru *syscall.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func randText(n int) string { return rand.Text()[:n] }

func goarch() string { return runtime.GOARCH }
