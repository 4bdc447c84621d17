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
	"github.com/remedy-sec/remedy/internal/mototest"
	"github.com/remedy-sec/remedy/remediate"
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
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	cfg := srv.Config("us-east-1")
	cfg.HTTPClient = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	return &env{t: t, client: sqs.NewFromConfig(cfg), ctx: mototest.Context(t)}
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

// start runs w until the returned stop is called; stop returns Run's
// error.
func start(t *testing.T, w *sqsworker.Worker) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return 30 s after its context ended")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
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
	stop := start(t, w)
	waitFor(t, 30*time.Second, "every message deleted", func() bool { return w.Stats().Acked == n })
	if err := stop(); err != nil {
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
	w := sqsworker.New(e.client, url, p, fast, func(o *sqsworker.Options) {
		o.RetryBase = time.Second
		o.RetryMax = 10 * time.Second
	})
	stop := start(t, w)
	waitFor(t, 30*time.Second, "both messages deleted", func() bool { return w.Stats().Acked == 2 })
	if err := stop(); err != nil {
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
	// Back-off 1 s after the first failure, 2 s after the second.
	for i, want := range []time.Duration{time.Second, 2 * time.Second} {
		if gap := flaky[i+1].At.Sub(flaky[i].At); gap < want-100*time.Millisecond || gap > want+3*time.Second {
			t.Errorf("delivery %d came %s after delivery %d, want about %s", i+2, gap, i+1, want)
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
	tests := []struct {
		name          string
		heartbeat     time.Duration
		wantRedeliver bool
	}{
		{name: "heartbeat keeps a slow message invisible", heartbeat: 300 * time.Millisecond, wantRedeliver: false},
		// The control: without heartbeats the 1 s visibility runs out and
		// another consumer gets the message, so the check above can fail.
		{name: "without heartbeat it is redelivered", heartbeat: time.Hour, wantRedeliver: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			url := e.queue(false)
			e.send(url, "slow")
			inProcess := make(chan struct{})
			var once sync.Once
			p := procFunc(func(ctx context.Context, m remediate.Message) (*audit.Record, error) {
				once.Do(func() { close(inProcess) })
				time.Sleep(3500 * time.Millisecond)
				return &audit.Record{}, nil
			})
			w := sqsworker.New(e.client, url, p, fast, func(o *sqsworker.Options) {
				// One message in the queue: once the worker has it, only
				// an expired visibility can give it to the other consumer.
				o.Concurrency = 1
				o.VisibilityTimeout = time.Second
				o.HeartbeatInterval = tt.heartbeat
			})
			stop := start(t, w)
			<-inProcess
			// Another consumer polls while the message is being processed.
			var redelivered bool
			for end := time.Now().Add(3 * time.Second); time.Now().Before(end) && !redelivered; {
				out, err := e.client.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{
					QueueUrl: aws.String(url), WaitTimeSeconds: 1, VisibilityTimeout: 10,
				})
				if err != nil {
					t.Fatal(err)
				}
				redelivered = len(out.Messages) > 0
			}
			if redelivered != tt.wantRedeliver {
				t.Errorf("message delivered to a second consumer while in flight: %v, want %v", redelivered, tt.wantRedeliver)
			}
			if tt.wantRedeliver {
				return
			}
			waitFor(t, 10*time.Second, "the slow message deleted", func() bool { return w.Stats().Acked == 1 })
			if err := stop(); err != nil {
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
		want         sqsworker.Stats
		wantVisible  int
	}{
		{
			name: "in-flight messages finish and are deleted", finishWithin: true,
			want: sqsworker.Stats{Received: 3, Processed: 3, Acked: 3},
		},
		{
			name: "unfinished messages are released", finishWithin: false,
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
			p := procFunc(func(ctx context.Context, m remediate.Message) (*audit.Record, error) {
				started.Done()
				wait := 500 * time.Millisecond
				if !tt.finishWithin {
					wait = time.Hour
				}
				select {
				case <-time.After(wait):
					return &audit.Record{}, nil
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			})
			w := sqsworker.New(e.client, url, p, fast, func(o *sqsworker.Options) {
				o.DrainTimeout = 2 * time.Second
				o.VisibilityTimeout = time.Minute // so only a release makes them visible again
			})
			stop := start(t, w)
			started.Wait()
			begin := time.Now()
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if took := time.Since(begin); took > 2*time.Second+5*time.Second {
				t.Errorf("shutdown took %s, want at most the 2 s drain timeout and a little", took)
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
	var running, peak, calls atomic.Int64
	p := procFunc(func(ctx context.Context, m remediate.Message) (*audit.Record, error) {
		calls.Add(1)
		n := running.Add(1)
		defer running.Add(-1)
		for {
			if p := peak.Load(); n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(1500 * time.Millisecond)
		return &audit.Record{}, nil
	})
	w := sqsworker.New(e.client, url, p, fast, func(o *sqsworker.Options) {
		o.Concurrency = 1
		o.VisibilityTimeout = time.Minute // so only a release makes them visible again
	})
	stop := start(t, w)
	waitFor(t, 10*time.Second, "all three received while the first runs", func() bool { return w.Stats().Received == 3 })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if peak.Load() != 1 || calls.Load() != 1 {
		t.Errorf("processed %d messages, at most %d at once; want 1 and 1", calls.Load(), peak.Load())
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
	var calls atomic.Int64
	p := procFunc(func(ctx context.Context, m remediate.Message) (*audit.Record, error) {
		calls.Add(1)
		time.Sleep(800 * time.Millisecond)
		return &audit.Record{}, nil
	})
	w := sqsworker.New(e.client, url, p, fast, func(o *sqsworker.Options) {
		o.Concurrency = 1
		o.MaxReceiveCount = 1 // every first delivery is the last
		o.VisibilityTimeout = time.Minute
	})
	stop := start(t, w)
	waitFor(t, 10*time.Second, "both received", func() bool { return w.Stats().Received == 2 })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := sqsworker.Stats{Received: 2, Processed: 2, Acked: 2}
	if diff := cmp.Diff(want, w.Stats()); diff != "" || calls.Load() != 2 {
		t.Errorf("%d processed; Stats (-want +got):\n%s", calls.Load(), diff)
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
	stop := start(t, w)
	waitFor(t, 30*time.Second, "all five messages deleted", func() bool { return w.Stats().Acked == 5 })
	if err := stop(); err != nil {
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
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := w.Run(ctx)
	var qne *types.QueueDoesNotExist
	if !errors.As(err, &qne) {
		t.Errorf("Run = %v, want a QueueDoesNotExist error", err)
	}
}
