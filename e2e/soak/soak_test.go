// Package soak is Remedy's proof at scale, run by `make soak`: thousands
// of findings over three accounts and all five built-in fixes, every
// outcome mixed in, a tenth of them delivered twice and one in a hundred
// poison, published through SNS into SQS with a dead-letter queue and
// processed by two processes of the reference worker (examples/worker)
// with the DynamoDB idempotency store and audit sink, in apply mode,
// while a fault proxy in front of moto throttles, fails, resets and
// loses the answers of their calls to STS, S3, EC2, KMS, DynamoDB, SNS
// and SQS, and one worker is killed with SIGKILL at random moments and
// restarted. At the end it checks, from the audit and idempotency tables,
// the queues, the live resources and the proxy's log of writes, that
// nothing was lost, doubled or wrongly changed (see check), prints a
// summary and fails naming every broken invariant with examples.
//
//	SOAK_FINDINGS=10000 go test -run TestSoak -v -timeout 90m ./e2e/soak   # make soak
//	SOAK_FINDINGS=300 go test -run TestSoak -v ./e2e/soak                  # make soak-short
//
// Without SOAK_FINDINGS TestSoak skips. SOAK_SEED repeats a run's
// findings, faults and kill points (not the order in which the workers'
// calls interleave); SOAK_KILLS (default one per 2,000 findings, at
// least one) and SOAK_KILL_AT=write (kill just after one of the worker's
// fixes reached moto, the worst moment, instead of at random moments)
// and SOAK_FAULT_RATE (default 0.04 of every service's calls, 0.3 of
// STS's) shape it; SOAK_LOGS names a directory to keep the workers'
// output and the summary in (by default kept only when the run fails).
//
// Faults take turns per service: the service's throttling error, its
// internal error, a connection reset (all before the call reaches moto)
// and a lost answer (after it took effect: an internal error or a reset
// instead of moto's answer). A receive never loses its answer: SQS would
// count the delivery the worker never saw, and a message's last one
// would reach the dead-letter queue unaudited — which no consumer can
// prevent, as when one dies holding the message.
//
// Poison messages are findings about a resource every call to which
// fails with the service's throttling or internal error: a transient
// failure that never ends, such as a partial outage. The worker retries
// each until the queue's maxReceiveCount (5) and audits the last failure
// as dead-lettered; the queue moves it to the dead-letter queue. A
// malformed payload is not poison: it is rejected, audited and
// acknowledged.
package soak

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/remedy-sec/remedy/deploy/lambdatest"
	"github.com/remedy-sec/remedy/internal/faultproxy"
	"github.com/remedy-sec/remedy/internal/scenario"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

var moto *mototest.Server

func TestMain(m *testing.M) { os.Exit(mototest.Main(m, &moto)) }

// The deployment's settings, scaled down so that a crash is recovered in
// seconds rather than minutes, in the proportions of the reference
// deployment: a killed worker's messages come back after the visibility
// timeout; its claims have expired by then; a message whose claim is
// held (or whose call failed) is retried after 2, 4, 8 and 16 s, longer
// than a claim lasts, before its fifth and last delivery.
const (
	concurrency = 8
	maxReceive  = 5
	visibility  = 30 * time.Second
	claimTTL    = 20 * time.Second
	retryBase   = 2 * time.Second
)

// config is one run's shape, from the environment.
type config struct {
	findings, kills         int
	seed                    uint64
	killAtWrite             bool
	faultRate, stsFaultRate float64
	logs                    string
}

func configFrom(getenv func(string) string) (config, error) {
	c := config{faultRate: 0.04, stsFaultRate: 0.3, logs: getenv("SOAK_LOGS")}
	var err error
	if v := getenv("SOAK_FINDINGS"); v != "" {
		if c.findings, err = strconv.Atoi(v); err != nil || c.findings < 20 {
			return c, fmt.Errorf("SOAK_FINDINGS=%q: want a number of findings, at least 20", v)
		}
	}
	c.kills = max(1, c.findings/2000)
	if v := getenv("SOAK_KILLS"); v != "" {
		if c.kills, err = strconv.Atoi(v); err != nil || c.kills < 0 {
			return c, fmt.Errorf("SOAK_KILLS=%q: want a number of kills", v)
		}
	}
	c.seed = rand.Uint64() % 1_000_000
	if v := getenv("SOAK_SEED"); v != "" {
		if c.seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			return c, fmt.Errorf("SOAK_SEED=%q: want a number (a summary names its run's seed)", v)
		}
	}
	switch v := getenv("SOAK_KILL_AT"); v {
	case "", "random":
	case "write":
		c.killAtWrite = true
	default:
		return c, fmt.Errorf("SOAK_KILL_AT=%q: want random or write", v)
	}
	if v := getenv("SOAK_FAULT_RATE"); v != "" {
		if c.faultRate, err = strconv.ParseFloat(v, 64); err != nil || c.faultRate < 0 || c.faultRate > 0.5 {
			return c, fmt.Errorf("SOAK_FAULT_RATE=%q: want a share of calls from 0 to 0.5, such as 0.04", v)
		}
	}
	return c, nil
}

// TestSoak runs the soak (see the package documentation).
func TestSoak(t *testing.T) {
	cfg, err := configFrom(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.findings == 0 {
		t.Skip("set SOAK_FINDINGS to run the soak: make soak (10,000 findings) or make check (300)")
	}
	srv := mototest.Require(t, moto)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute+time.Duration(cfg.findings)*400*time.Millisecond)
	defer cancel()
	logs := cfg.logs
	if logs == "" {
		if logs, err = os.MkdirTemp("", "remedy-soak-"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if !t.Failed() {
				os.RemoveAll(logs)
			}
		})
	} else if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	step := func(format string, args ...any) {
		t.Logf("%7s  %s", time.Since(began).Round(time.Second), fmt.Sprintf(format, args...))
	}
	bin := lambdatest.Build(t, "../../examples/worker")

	rng := rand.New(rand.NewPCG(cfg.seed, cfg.seed))
	name := "soak-" + strings.ToLower(crand.Text()[:5])
	w, err := scenario.New(ctx, srv, logs, scenario.Options{
		Name: name, MaxReceiveCount: maxReceive, VisibilityTimeout: int(visibility / time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	p := newPlan(name, cfg.findings, rng)
	step("creating the resources of %d findings (seed %d)", cfg.findings, cfg.seed)
	if err := p.create(ctx, w, rng, func(n int) { step("  %d resources", n) }); err != nil {
		t.Fatal(err)
	}

	px, err := faultproxy.Start(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	px.SerializeBy(serialize(w))
	px.LogWrites(p.writeOf)
	kl := &killer{cfg: cfg, rng: rng, step: step}
	if cfg.killAtWrite {
		px.Add(faultproxy.Rule{Match: kl.atWrite(p), Forwarded: kl.fire})
	}
	ch := newChaos(p, cfg.seed, cfg.faultRate, cfg.stsFaultRate)
	ch.install(px)

	env := append(w.Env(px.URL),
		"REMEDY_CONCURRENCY="+strconv.Itoa(concurrency), "REMEDY_RETRY_BASE="+retryBase.String(),
		"REMEDY_CLAIM_TTL="+claimTTL.String(), "REMEDY_VISIBILITY_TIMEOUT="+visibility.String(), "REMEDY_LOG_LEVEL=info")
	workers := []*worker{
		newWorker("a", bin, logs, append(env, "AWS_SDK_UA_APP_ID=soak-a")),
		newWorker("b", bin, logs, append(env, "AWS_SDK_UA_APP_ID=soak-b")),
	}
	for _, wk := range workers {
		if err := wk.start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if wk.running() {
				_ = wk.kill()
			}
		}()
	}
	// A worker that ends on its own (it could not start, or it crashed)
	// ends the run: the soak would otherwise wait for a queue nobody reads.
	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	for _, wk := range workers {
		go func() {
			select {
			case <-wk.crashed:
				stop(wk.crashError())
			case <-runCtx.Done():
			}
		}()
	}
	ctx = runCtx
	fatal := func(err error) {
		t.Helper()
		if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
			err = fmt.Errorf("%w; %w", err, cause)
		}
		t.Fatal(err)
	}
	kl.victim = workers[1]
	kl.progress = func() int64 { return workers[0].audits.Load() + workers[1].audits.Load() }
	kl.total = p.terminal()

	step("publishing %d messages to SNS (%d findings, %d duplicated, %d poison, %d malformed)", len(p.messages), len(p.items), len(p.messages)-len(p.items), p.count(casePoison), p.count(caseReject))
	start := time.Now()
	kills := make(chan error, 1)
	go func() { kills <- kl.run(ctx) }()
	if err := publish(ctx, w, px.URL, p.messages); err != nil {
		fatal(err)
	}
	step("published; waiting for the queue to drain")
	if err := kl.wait(ctx, kills); err != nil {
		fatal(err)
	}
	if err := drain(ctx, w, step, kl.progress, kl.total); err != nil {
		fatal(err)
	}
	elapsed := time.Since(start)
	step("drained after %s; stopping the workers", elapsed.Round(time.Second))
	for _, wk := range workers {
		if err := wk.stop(); err != nil {
			t.Errorf("%v", err)
		}
	}

	ev, err := gather(ctx, w, p, px, logs, kl.at)
	if err != nil {
		t.Fatal(err)
	}
	vs := check(p, ev)
	faults, poisonFaults, retries := ch.injected()
	sum := summary(summaryInput{
		cfg: cfg, plan: p, ev: ev, elapsed: elapsed, workers: workers, kills: kl.log,
		faults: faults, calls: px.Counts(), upstream: px.Upstream(), retries: retries, poisonFaults: poisonFaults, violations: vs,
	})
	fmt.Print(sum)
	if err := os.WriteFile(filepath.Join(logs, "summary.txt"), []byte(sum), 0o644); err != nil {
		t.Error(err)
	}
	for _, v := range vs {
		t.Errorf("invariant violated: %s", v)
	}
	if m := missing(faults); len(m) > 0 {
		t.Errorf("the soak injected no fault of these kinds, so it proves nothing about them: %s", strings.Join(m, ", "))
	}
	if len(kl.log) < cfg.kills {
		t.Errorf("%d kills, want %d", len(kl.log), cfg.kills)
	}
	if t.Failed() {
		t.Logf("the workers' output and the summary are in %s", logs)
	}
}

// backlog is the most messages publish lets wait in the findings
// queue. Findings arrive as a stream that outpaces the workers, but not
// all at once: moto's SQS scans every message of a queue on each
// receive and delete, so ten thousand waiting messages would slow every
// call the workers make and measure moto rather than Remedy.
const backlog = 1000

// publisher is the application id of publish's calls, which the proxy
// passes on without faults: Wiz's side is not under test.
const publisher = "soak-publisher"

// serialize names what the proxy must let reach moto one call at a
// time, where AWS is atomic and moto is not:
//   - the writes to one DynamoDB item (moto evaluates a condition and
//     writes as two unlocked steps, so two conditional claims could both
//     succeed);
//   - the sends to and deletes from the findings queue (moto's delete
//     rebuilds the queue's message list without the lock its sends take,
//     so a message published during a delete can vanish).
func serialize(w *scenario.World) func(faultproxy.Request) string {
	queue := "sqs " + w.QueueURL
	return func(r faultproxy.Request) string {
		if item := faultproxy.DynamoDBItem(r); item != "" {
			return item
		}
		switch {
		case r.Service == "sns" && r.Operation == "Publish" && bytes.Contains(r.Body, []byte(url.QueryEscape(w.TopicARN))):
			return queue
		case r.Service == "sqs" && (strings.HasPrefix(r.Operation, "DeleteMessage") || strings.HasPrefix(r.Operation, "ChangeMessageVisibility")):
			var in struct{ QueueUrl string }
			if json.Unmarshal(r.Body, &in) == nil && in.QueueUrl == w.QueueURL {
				return queue
			}
		}
		return ""
	}
}

// publish publishes the messages to the findings topic, eight at a time,
// through the proxy at endpoint (as publisher, never faulted), holding
// back while backlog messages wait in the queue.
func publish(ctx context.Context, w *scenario.World, endpoint string, msgs [][]byte) error {
	cfg := w.Platform.Copy()
	cfg.BaseEndpoint, cfg.AppID = aws.String(endpoint), publisher
	client := sns.NewFromConfig(cfg)
	var open atomic.Bool
	open.Store(true)
	done := make(chan struct{})
	defer close(done)
	gateErr := make(chan error, 1)
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(500 * time.Millisecond):
			}
			v, _, err := w.Depth(ctx, w.QueueURL)
			if err != nil {
				gateErr <- err
				return
			}
			open.Store(v < backlog)
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	next := atomic.Int64{}
	for range 8 {
		wg.Go(func() {
			for {
				for !open.Load() {
					select {
					case <-ctx.Done():
						errs <- ctx.Err()
						return
					case err := <-gateErr:
						errs <- err
						return
					case <-time.After(100 * time.Millisecond):
					}
				}
				i := int(next.Add(1)) - 1
				if i >= len(msgs) {
					return
				}
				if _, err := client.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(w.TopicARN), Message: aws.String(string(msgs[i]))}); err != nil {
					errs <- fmt.Errorf("publish message %d: %w", i+1, err)
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// drain waits until the findings queue holds no message, visible or in
// flight (a message waiting out a retry back-off is in flight), telling
// step the progress every 30 s.
func drain(ctx context.Context, w *scenario.World, step func(string, ...any), progress func() int64, total int) error {
	last := time.Now()
	for {
		v, f, err := w.Depth(ctx, w.QueueURL)
		if err != nil {
			return err
		}
		if v == 0 && f == 0 {
			return nil
		}
		if time.Since(last) > 30*time.Second {
			step("  %d of %d findings audited; queue: %d waiting, %d in flight", progress(), total, v, f)
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the findings queue did not drain (%d waiting, %d in flight, %d of %d audited): %w", v, f, progress(), total, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// killer kills the victim worker with SIGKILL at points spread over the
// run and restarts it.
type killer struct {
	cfg      config
	rng      *rand.Rand
	step     func(string, ...any)
	victim   *worker
	progress func() int64
	total    int

	plan  *plan
	armed atomic.Bool
	fired chan string
	log   []string
	at    []time.Time // when each kill happened
}

// atWrite returns the proxy rule's Match for SOAK_KILL_AT=write: the
// first write by the victim to a soak resource once armed.
func (k *killer) atWrite(p *plan) func(faultproxy.Request) bool {
	k.fired = make(chan string, 1)
	k.plan = p
	return func(r faultproxy.Request) bool {
		if !k.armed.Load() || !strings.Contains(r.Header.Get("User-Agent"), "app/soak-b") {
			return false
		}
		res := p.writeOf(r)
		return res != "" && p.byResource[res] != nil && k.armed.CompareAndSwap(true, false)
	}
}

// fire kills the victim the moment its write took effect in moto, before
// the answer reaches it.
func (k *killer) fire(r faultproxy.Request) {
	k.victim.mu.Lock()
	if k.victim.cur != nil {
		k.victim.ending = true
		_ = k.victim.cur.Process.Signal(syscall.SIGKILL)
	}
	k.victim.mu.Unlock()
	k.fired <- r.Operation + " of " + k.plan.writeOf(r)
}

// run kills at cfg.kills points, at random shares of the findings
// audited (from 10 % to 85 %), each at a random moment after its point
// (or, with SOAK_KILL_AT=write, at the victim's next write).
func (k *killer) run(ctx context.Context) error {
	points := make([]float64, k.cfg.kills)
	for i := range points {
		points[i] = 0.10 + 0.75*k.rng.Float64()
	}
	slices.Sort(points)
	for _, pt := range points {
		at := int64(pt * float64(k.total))
		for k.progress() < at {
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for %d findings audited to kill worker %s: %w", at, k.victim.name, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
		how := "at a random moment"
		if k.cfg.killAtWrite {
			k.armed.Store(true)
			select {
			case what := <-k.fired:
				how = "right after its " + what + " took effect in moto"
			case <-ctx.Done():
				return fmt.Errorf("waiting for worker %s to write: %w", k.victim.name, ctx.Err())
			}
			if err := k.victim.signal(syscall.SIGKILL, time.Minute); err != nil {
				return err
			}
		} else {
			// A random moment within the next half second: a finding
			// takes about that long, so any of its stages may be cut.
			select {
			case <-time.After(time.Duration(k.rng.Int64N(int64(500 * time.Millisecond)))):
			case <-ctx.Done():
				return ctx.Err()
			}
			if err := k.victim.kill(); err != nil {
				return err
			}
		}
		n := k.progress()
		k.at = append(k.at, time.Now())
		k.log = append(k.log, fmt.Sprintf("at %d of %d audited (%.0f %%), %s", n, k.total, 100*float64(n)/float64(k.total), how))
		k.step("killed worker %s (SIGKILL) %s; restarting it", k.victim.name, k.log[len(k.log)-1])
		if err := k.victim.start(); err != nil {
			return err
		}
	}
	return nil
}

// wait returns run's result once it is done, or when ctx ends.
func (k *killer) wait(ctx context.Context, done <-chan error) error {
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("the kills did not finish: %w", ctx.Err())
	}
}
