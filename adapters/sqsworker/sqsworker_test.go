package sqsworker_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/remedy-sec/remedy/adapters/sqsworker"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

var moto *mototest.Server

func TestMain(m *testing.M) { os.Exit(mototest.Main(m, &moto)) }

// procFunc is a batch.Processor test double.
type procFunc func(ctx context.Context, m remediate.Message) (*audit.Record, error)

func (f procFunc) Process(ctx context.Context, m remediate.Message) (*audit.Record, error) {
	return f(ctx, m)
}

// delivery is one call of the processor.
type delivery struct {
	Body         string
	ReceiveCount int
	At           time.Time
}

// deliveries records every delivery, safe for concurrent use.
type deliveries struct {
	mu sync.Mutex
	d  []delivery
}

func (l *deliveries) add(m remediate.Message) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.d = append(l.d, delivery{Body: string(m.Body), ReceiveCount: m.ReceiveCount, At: time.Now()})
}

func (l *deliveries) all() []delivery {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.d)
}

// env is one test's SQS client with its own HTTP transport, closed at the
// end so that goleak sees no idle connection goroutine.
type env struct {
	t      *testing.T
	client *sqs.Client
	ctx    context.Context
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := mototest.Require(t, moto)
	// Registered first, so it runs last: after the worker stopped and the
	// transport was closed. Goroutines from before the test (the moto
	// server's) are not this test's.
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { noLeaks(t, before) })
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	cfg := srv.Config("us-east-1")
	cfg.HTTPClient = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	return &env{t: t, client: sqs.NewFromConfig(cfg), ctx: mototest.Context(t)}
}

// noLeaks fails the test if goroutines other than those in opts are
// still running 10 s after the test. goleak's own retries last about
// 0.4 s, too short on a loaded machine for the HTTP transport's
// connection goroutines to end after CloseIdleConnections; the worker's
// goroutines are gone when Run returns, and a leaked one never ends.
func noLeaks(t *testing.T, opts ...goleak.Option) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := goleak.Find(opts...)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Error(err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var nonName = regexp.MustCompile(`[^A-Za-z0-9_-]`)

func (e *env) queue(fifo bool) string {
	e.t.Helper()
	name := nonName.ReplaceAllString(e.t.Name(), "-")
	name = name[max(0, len(name)-60):] + "-" + strconv.FormatInt(time.Now().UnixNano()%1e6, 10)
	attrs := map[string]string{"VisibilityTimeout": "30"}
	if fifo {
		name += ".fifo"
		attrs["FifoQueue"] = "true"
		attrs["ContentBasedDeduplication"] = "true"
	}
	out, err := e.client.CreateQueue(e.ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		e.t.Fatalf("CreateQueue: %v", err)
	}
	return *out.QueueUrl
}

func (e *env) send(url string, bodies ...string) {
	e.t.Helper()
	for _, b := range bodies {
		in := &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(b)}
		if len(url) > 5 && url[len(url)-5:] == ".fifo" {
			in.MessageGroupId = aws.String(b[:1])
		}
		if _, err := e.client.SendMessage(e.ctx, in); err != nil {
			e.t.Fatalf("SendMessage: %v", err)
		}
	}
}

// counts returns the visible and in-flight message counts of a queue.
func (e *env) counts(url string) (visible, inFlight int) {
	e.t.Helper()
	out, err := e.client.GetQueueAttributes(e.ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		e.t.Fatalf("GetQueueAttributes: %v", err)
	}
	visible, _ = strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	inFlight, _ = strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return visible, inFlight
}

// ceiling bounds every wait on moto or on the worker. It only has to be
// reached when something is broken: the tests wait on the condition they
// mean, so on a loaded machine they take longer instead of failing.
const ceiling = time.Minute

// running is a worker started by start.
type running struct {
	t      *testing.T
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// start runs w until stop (or cancel and wait) is called; the test's
// cleanup stops it too.
func start(t *testing.T, w *sqsworker.Worker) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{t: t, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- w.Run(ctx) }()
	t.Cleanup(func() { _ = r.stop() })
	return r
}

// stop ends Run's context and returns Run's error.
func (r *running) stop() error {
	r.cancel()
	return r.wait()
}

// wait returns Run's error once Run returned; cancel first.
func (r *running) wait() error {
	r.once.Do(func() {
		select {
		case r.err = <-r.done:
		case <-time.After(ceiling):
			r.t.Fatalf("Run did not return %s after its context ended", ceiling)
		}
	})
	return r.err
}

// waitFor polls cond until it holds, failing the test after ceiling.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(ceiling)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", ceiling, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// await waits until ch is closed, failing the test after ceiling.
func await(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(ceiling):
		t.Fatalf("timed out after %s waiting for %s", ceiling, what)
	}
}

// hold is a processor that keeps every message until release is called
// (or its context ends), so that a test decides when processing ends
// instead of racing a sleep against the worker and moto.
type hold struct {
	calls   atomic.Int64
	started chan struct{} // closed when the first message is being processed
	release func()        // lets every message held, and every later one, finish
	free    chan struct{}
	once    sync.Once
}

func newHold() *hold {
	h := &hold{started: make(chan struct{}), free: make(chan struct{})}
	h.release = sync.OnceFunc(func() { close(h.free) })
	return h
}

func (h *hold) Process(ctx context.Context, m remediate.Message) (*audit.Record, error) {
	h.calls.Add(1)
	h.once.Do(func() { close(h.started) })
	select {
	case <-h.free:
		return &audit.Record{}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func fast(o *sqsworker.Options) {
	o.WaitTime = time.Second
	o.DeleteDelay = 20 * time.Millisecond
	o.DrainTimeout = 5 * time.Second
}

func TestWorkerProcessesAndDeletes(t *testing.T) {
	e := newEnv(t)
	url := e.queue(false)
	const n = 25
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("finding-%02d", i))
	}
	e.send(url, want...)

	var seen deliveries
	var peak, running int
	var mu sync.Mutex
	p := procFunc(func(ctx context.Context, m remediate.Message) (*audit.Record, error) {
		mu.Lock()
		running++
		peak = max(peak, running)
		mu.Unlock()
		seen.add(m)
		time.Sleep(10 * time.Millisecond)
		mu.Lock()
		running--
		mu.Unlock()
		return &audit.Record{ID: "r"}, nil
	})
	w := sqsworker.New(e.client, url, p, fast, func(o *sqsworker.Options) { o.Concurrency = 4 })
	r := start(t, w)
	waitFor(t, "every message deleted", func() bool { return w.Stats().Acked == n })
	if err := r.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	var got []string
	for _, d := range seen.all() {
		got = append(got, d.Body)
		if d.ReceiveCount != 1 {
			t.Errorf("%s: ReceiveCount = %d, want 1", d.Body, d.ReceiveCount)
		}
	}
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("processed bodies (-want +got):\n%s", diff)
	}
	if peak > 4 {
		t.Errorf("peak concurrency %d exceeds 4", peak)
	}
	if v, f := e.counts(url); v+f != 0 {
		t.Errorf("queue holds %d visible and %d in-flight messages after the run, want none", v, f)
	}
	want2 := sqsworker.Stats{Received: n, Processed: n, Acked: n}
	if diff := cmp.Diff(want2, w.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}

// visibilityLog is the SQS client, recording the visibility timeout each
// ChangeMessageVisibility call sets: what the worker asked for, which
// does not depend on how fast moto or the machine is.
type visibilityLog struct {
	sqsworker.API
	mu  sync.Mutex
	set []int32
}

func (v *visibilityLog) ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	v.mu.Lock()
	v.set = append(v.set, in.VisibilityTimeout)
	v.mu.Unlock()
	return v.API.ChangeMessageVisibility(ctx, in, optFns...)
}

func (v *visibilityLog) all() []int32 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.set)
}

// emptyReceives is the SQS client, counting the receives that came back
// empty.
type emptyReceives struct {
	sqsworker.API
	n atomic.Int64
}

func (c *emptyReceives) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	out, err := c.API.ReceiveMessage(ctx, in, optFns...)
	if err == nil && len(out.Messages) == 0 {
		c.n.Add(1)
	}
	return out, err
}

func TestWorkerRetryBackoff(t *testing.T) {
	e := newEnv(t)
	url := e.queue(false)
	e.send(url, "flaky", "fine")

	var seen deliveries
	p := procFunc(func(ctx context.Context, m remediate.Message) (*audit.Record, error) {
		seen.add(m)
		if string(m.Body) == "flaky" && m.ReceiveCount < 3 {
			return nil, errors.New("ThrottlingException")
		}
		return &audit.Record{}, nil
	})
	client := &visibilityLog{API: e.client}
	w := sqsworker.New(client, url, p, fast, func(o *sqsworker.Options) {
		o.RetryBase = time.Second
		o.RetryMax = 10 * time.Second
	})
	r := start(t, w)
	waitFor(t, "both messages deleted", func() bool { return w.Stats().Acked == 2 })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}

	var flaky []delivery
	for _, d := range seen.all() {
		if d.Body == "flaky" {
			flaky = append(flaky, d)
		}
	}
	var counts []int
	for _, d := range flaky {
		counts = append(counts, d.ReceiveCount)
	}
	if diff := cmp.Diff([]int{1, 2, 3}, counts); diff != "" {
		t.Fatalf("receive counts of the flaky message (-want +got):\n%s", diff)
	}
	// Back-off 1 s after the first failure, 2 s after the second: the
	// visibility the worker set, exactly, and no redelivery sooner. A slow
	// machine or moto only makes a redelivery later, so there is no upper
	// bound on the gap beyond waitFor's ceiling.
	if diff := cmp.Diff([]int32{1, 2}, client.all()); diff != "" {
		t.Errorf("visibility timeouts set after the failures, in seconds (-want +got):\n%s", diff)
	}
	for i, want := range []time.Duration{time.Second, 2 * time.Second} {
		if gap := flaky[i+1].At.Sub(flaky[i].At); gap < want-100*time.Millisecond {
			t.Errorf("delivery %d came %s after delivery %d, want at least %s", i+2, gap, i+1, want)
		}
	}
	if got := w.Stats().Retried; got != 2 {
		t.Errorf("Stats.Retried = %d, want 2", got)
	}
}

func TestRetryDelay(t *testing.T) {
	w := sqsworker.New(nil, "", nil, func(o *sqsworker.Options) {
		o.RetryBase = 10 * time.Second
		o.RetryMax = time.Minute
	})
	tests := []struct {
		count int
		want  time.Duration
	}{
		{0, 10 * time.Second}, {1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second},
		{4, time.Minute}, {50, time.Minute}, {1 << 30, time.Minute},
	}
	for _, tt := range tests {
		if got := w.RetryDelay(tt.count); got != tt.want {
			t.Errorf("RetryDelay(%d) = %s, want %s", tt.count, got, tt.want)
		}
	}
}

func TestWorkerHeartbeat(t *testing.T) {
	// The worker asks for a 2 s visibility and, in the first case,
	// renews it every 250 ms: a renewal may come up to 1.75 s late on a
	// loaded machine before the message shows.
	const visibility = 2 * time.Second
	tests := []struct {
		name          string
		heartbeat     time.Duration
		wantRedeliver bool
	}{
		{name: "heartbeat keeps a slow message invisible", heartbeat: 250 * time.Millisecond, wantRedeliver: false},
		// The control: without heartbeats the visibility runs out and
		// another consumer gets the message, so the check above can fail.
		{name: "without heartbeat it is redelivered", heartbeat: time.Hour, wantRedeliver: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			url := e.queue(false)
			e.send(url, "slow")
			p := newHold()
			w := sqsworker.New(e.client, url, p, fast, func(o *sqsworker.Options) {
				// One message in the queue: once the worker has it, only
				// an expired visibility can give it to the other consumer.
				o.Concurrency = 1
				o.VisibilityTimeout = visibility
				o.HeartbeatInterval = tt.heartbeat
			})
			r := start(t, w)
			t.Cleanup(p.release) // runs before the worker is stopped
			await(t, p.started, "the worker to start processing the message")
			// The worker received the message before now.
			received := time.Now()

			// Another consumer polls while the message is being processed:
			// until it gets the message, or, when it should not, until a
			// poll that began 2.5 visibility timeouts after the worker
			// received it comes back empty. Without a heartbeat the message
			// shows after one; with it, after none.
			watch := received.Add(visibility*2 + visibility/2)
			var redelivered bool
			for {
				began := time.Now()
				out, err := e.client.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{
					QueueUrl: aws.String(url), WaitTimeSeconds: 1, VisibilityTimeout: 30,
				})
				if err != nil {
					t.Fatal(err)
				}
				if redelivered = len(out.Messages) > 0; redelivered {
					break
				}
				if !tt.wantRedeliver && began.After(watch) {
					break
				}
				if began.After(received.Add(ceiling)) {
					break
				}
			}
			if redelivered != tt.wantRedeliver {
				t.Errorf("message delivered to a second consumer while in flight: %v, want %v", redelivered, tt.wantRedeliver)
			}
			if tt.wantRedeliver {
				return
			}
			p.release()
			waitFor(t, "the slow message deleted", func() bool { return w.Stats().Acked == 1 })
			if err := r.stop(); err != nil {
				t.Fatal(err)
			}
			if v, f := e.counts(url); v+f != 0 {
				t.Errorf("queue holds %d+%d messages, want none", v, f)
			}
		})
	}
}

func TestWorkerGracefulShutdown(t *testing.T) {
	tests := []struct {
		name         string
		finishWithin bool // in-flight messages finish within the drain timeout
		drain        time.Duration
		want         sqsworker.Stats
		wantVisible  int
	}{
		{
			// They finish once shutdown has begun, long before the drain
			// timeout, which Run then does not wait for.
			name: "in-flight messages finish and are deleted", finishWithin: true, drain: ceiling / 2,
			want: sqsworker.Stats{Received: 3, Processed: 3, Acked: 3},
		},
		{
			// They would run for ever: Run waits the drain timeout, no
			// longer, then cancels and releases them.
			name: "unfinished messages are released", finishWithin: false, drain: 2 * time.Second,
			want:        sqsworker.Stats{Received: 3, Processed: 3, Released: 3},
			wantVisible: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			url := e.queue(false)
			e.send(url, "a", "b", "c")
			var started sync.WaitGroup
			started.Add(3)
			stopping := make(chan struct{})
			p := procFunc(func(ctx context.Context, m remediate.Message) (*audit.Record, error) {
				started.Done()
				finish := stopping
				if !tt.finishWithin {
					finish = nil
				}
				select {
				case <-finish:
					return &audit.Record{}, nil
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			})
			w := sqsworker.New(e.client, url, p, fast, func(o *sqsworker.Options) {
				o.DrainTimeout = tt.drain
				o.VisibilityTimeout = time.Minute // so only a release makes them visible again
			})
			r := start(t, w)
			allStarted := make(chan struct{})
			go func() { started.Wait(); close(allStarted) }()
			await(t, allStarted, "all three messages in process")
			begin := time.Now()
			r.cancel()
			close(stopping)
			if err := r.wait(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			took := time.Since(begin)
			switch {
			case tt.finishWithin && took >= tt.drain:
				t.Errorf("shutdown took %s, want less than the %s drain timeout: the messages were done", took, tt.drain)
			case !tt.finishWithin && (took < tt.drain || took > tt.drain+ceiling/2):
				t.Errorf("shutdown took %s, want the %s drain timeout and at most %s more", took, tt.drain, ceiling/2)
			}
			if diff := cmp.Diff(tt.want, w.Stats()); diff != "" {
				t.Errorf("Stats (-want +got):\n%s", diff)
			}
			if v, f := e.counts(url); v != tt.wantVisible || f != 0 {
				t.Errorf("queue holds %d visible and %d in-flight messages, want %d and 0", v, f, tt.wantVisible)
			}
		})
	}
}

// TestWorkerPrefetch: with one processing slot the worker receives the
// next messages while the first runs, never processes two at once, and at
// shutdown gives the waiting ones back unprocessed.
func TestWorkerPrefetch(t *testing.T) {
	e := newEnv(t)
	url := e.queue(false)
	e.send(url, "a", "b", "c")
	var running, peak atomic.Int64
	h := newHold()
	p := procFunc(func(ctx context.Context, m remediate.Message) (*audit.Record, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			if p := peak.Load(); n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		return h.Process(ctx, m)
	})
	w := sqsworker.New(e.client, url, p, fast, func(o *sqsworker.Options) {
		o.Concurrency = 1
		o.VisibilityTimeout = time.Minute // so only a release makes them visible again
	})
	r := start(t, w)
	// The first message is held until shutdown has begun, so the other two
	// are still waiting for the slot when it does.
	await(t, h.started, "the first message in process")
	waitFor(t, "all three received while the first runs", func() bool { return w.Stats().Received == 3 })
	r.cancel()
	h.release()
	if err := r.wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if peak.Load() != 1 || h.calls.Load() != 1 {
		t.Errorf("processed %d messages, at most %d at once; want 1 and 1", h.calls.Load(), peak.Load())
	}
	want := sqsworker.Stats{Received: 3, Processed: 1, Acked: 1, Released: 2}
	if diff := cmp.Diff(want, w.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
	if v, f := e.counts(url); v != 2 || f != 0 {
		t.Errorf("queue holds %d visible and %d in-flight messages, want 2 and 0", v, f)
	}
}

// TestWorkerLastDeliveryNotGivenBack: a waiting message on its last
// delivery is processed during the drain, not given back to reach the
// dead-letter queue unprocessed.
func TestWorkerLastDeliveryNotGivenBack(t *testing.T) {
	e := newEnv(t)
	url := e.queue(false)
	e.send(url, "a", "b")
	p := newHold()
	w := sqsworker.New(e.client, url, p, fast, func(o *sqsworker.Options) {
		o.Concurrency = 1
		o.MaxReceiveCount = 1 // every first delivery is the last
		o.VisibilityTimeout = time.Minute
		o.DrainTimeout = ceiling / 2
	})
	r := start(t, w)
	// The first message is held until shutdown has begun, so the second is
	// still waiting for the slot when it does.
	await(t, p.started, "the first message in process")
	waitFor(t, "both received", func() bool { return w.Stats().Received == 2 })
	r.cancel()
	p.release()
	if err := r.wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := sqsworker.Stats{Received: 2, Processed: 2, Acked: 2}
	if diff := cmp.Diff(want, w.Stats()); diff != "" || p.calls.Load() != 2 {
		t.Errorf("%d processed; Stats (-want +got):\n%s", p.calls.Load(), diff)
	}
}

func TestWorkerFIFO(t *testing.T) {
	e := newEnv(t)
	url := e.queue(true)
	// Group is the first letter.
	e.send(url, "a1", "b1", "a2", "a3", "b2")
	var seen deliveries
	p := procFunc(func(ctx context.Context, m remediate.Message) (*audit.Record, error) {
		seen.add(m)
		if string(m.Body) == "a2" && m.ReceiveCount == 1 {
			return nil, errors.New("ThrottlingException")
		}
		return &audit.Record{}, nil
	})
	w := sqsworker.New(e.client, url, p, fast, func(o *sqsworker.Options) { o.RetryBase = time.Second })
	r := start(t, w)
	waitFor(t, "all five messages deleted", func() bool { return w.Stats().Acked == 5 })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	var groupA, groupB []string
	for _, d := range seen.all() {
		if d.Body[0] == 'a' {
			groupA = append(groupA, d.Body)
		} else {
			groupB = append(groupB, d.Body)
		}
	}
	// a3 was not processed while a2 waited for its retry.
	if diff := cmp.Diff([]string{"a1", "a2", "a2", "a3"}, groupA); diff != "" {
		t.Errorf("group a processing order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"b1", "b2"}, groupB); diff != "" {
		t.Errorf("group b processing order (-want +got):\n%s", diff)
	}
}

func TestWorkerStopsOnMissingQueue(t *testing.T) {
	e := newEnv(t)
	url := e.queue(false)
	if _, err := e.client.DeleteQueue(e.ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(url)}); err != nil {
		t.Fatal(err)
	}
	w := sqsworker.New(e.client, url, procFunc(nil), fast)
	ctx, cancel := context.WithTimeout(context.Background(), ceiling)
	defer cancel()
	err := w.Run(ctx)
	var qne *types.QueueDoesNotExist
	if !errors.As(err, &qne) {
		t.Errorf("Run = %v, want a QueueDoesNotExist error", err)
	}
}

// TestWorkerExitWhenIdle: with ExitWhenIdle, Run works the queue off —
// every message processed and deleted, including one still in process
// when a receive comes back empty — and returns on its own.
func TestWorkerExitWhenIdle(t *testing.T) {
	e := newEnv(t)
	url := e.queue(false)
	const n = 12
	bodies := make([]string, n)
	for i := range bodies {
		bodies[i] = fmt.Sprintf("idle-%d", i)
	}
	e.send(url, bodies...)
	var done atomic.Int64
	slow := make(chan struct{})
	p := procFunc(func(ctx context.Context, m remediate.Message) (*audit.Record, error) {
		if string(m.Body) == "idle-0" {
			<-slow // in process across at least one empty receive
		}
		done.Add(1)
		return &audit.Record{}, nil
	})
	client := &emptyReceives{API: e.client}
	w := sqsworker.New(client, url, p, fast, func(o *sqsworker.Options) { o.ExitWhenIdle = true; o.Concurrency = 4 })
	ctx, cancel := context.WithTimeout(context.Background(), ceiling)
	defer cancel()
	res := make(chan error, 1)
	go func() { res <- w.Run(ctx) }()
	waitFor(t, "every message but the slow one", func() bool { return done.Load() == n-1 })
	// Run goes on through empty receives while the slow message is in
	// process. Wait for two of them, rather than for a time in which a
	// loaded machine may make none.
	from, deadline := client.n.Load(), time.Now().Add(ceiling)
	for client.n.Load() < from+2 {
		select {
		case err := <-res:
			t.Fatalf("Run returned (%v) while a message was still in process", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for two empty receives while a message was in process: did Run stop receiving?", ceiling)
		}
	}
	close(slow)
	select {
	case err := <-res:
		if err != nil {
			t.Errorf("Run = %v, want nil once the queue is empty", err)
		}
	case <-time.After(ceiling):
		t.Fatal("Run did not return with the queue empty")
	}
	if done.Load() != n {
		t.Errorf("%d messages processed, want %d", done.Load(), n)
	}
	waitFor(t, "the queue to be empty", func() bool { v, f := e.counts(url); return v == 0 && f == 0 })
}

// TestWorkerWaitsOutAClaim: a message whose finding another worker has
// claimed is given back until the claim expires, not after the short
// retry back-off, so that a killed worker's claim does not use up the
// message's deliveries.
func TestWorkerWaitsOutAClaim(t *testing.T) {
	e := newEnv(t)
	url := e.queue(false)
	e.send(url, "claimed")
	var calls atomic.Int64
	p := procFunc(func(ctx context.Context, m remediate.Message) (*audit.Record, error) {
		if calls.Add(1) == 1 {
			return nil, fmt.Errorf("remediate: claim message %s: %w", m.ID, &remediate.InProgressError{Until: time.Now().Add(7 * time.Second)})
		}
		return &audit.Record{}, nil
	})
	client := &visibilityLog{API: e.client}
	w := sqsworker.New(client, url, p, fast, func(o *sqsworker.Options) { o.RetryBase = time.Second })
	r := start(t, w)
	waitFor(t, "the message given back", func() bool { return len(client.all()) > 0 })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if got := client.all()[0]; got < 7 {
		t.Errorf("visibility after a held claim = %d s, want at least the 7 s the claim has left (not the 1 s back-off)", got)
	}
}
