package sqsworker_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/adapters/sqsworker"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/remediate"
)

// throttled is a failure that says when to retry, as
// crossaccount.ThrottledError does.
type throttled struct{ after time.Duration }

func (e throttled) Error() string             { return fmt.Sprintf("throttled; retry after %s", e.after) }
func (e throttled) RetryAfter() time.Duration { return e.after }

// sendingLog is visibilityLog with SendMessage, as *sqs.Client has.
type sendingLog struct {
	*visibilityLog
	c    *sqs.Client
	sent atomic.Int64
}

func (s *sendingLog) SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	s.sent.Add(1)
	return s.c.SendMessage(ctx, in, optFns...)
}

// TestWorkerThrottledRequeue: a throttled message is given back for the
// back-off its error names (not the exponential one), and before its
// last delivery it is sent again as a new message, so that a throttled
// but healthy finding never reaches MaxReceiveCount (the dead-letter
// queue) however long the throttling lasts.
func TestWorkerThrottledRequeue(t *testing.T) {
	e := newEnv(t)
	url := e.queue(false)
	e.send(url, "throttled")
	var seen deliveries
	var calls atomic.Int64
	p := procFunc(func(ctx context.Context, m remediate.Message) (*audit.Record, error) {
		seen.add(m)
		if calls.Add(1) <= 5 {
			return nil, fmt.Errorf("remediate: plan: %w", throttled{after: 1500 * time.Millisecond})
		}
		return &audit.Record{}, nil
	})
	client := &sendingLog{visibilityLog: &visibilityLog{API: e.client}, c: e.client}
	w := sqsworker.New(client, url, p, fast, func(o *sqsworker.Options) {
		o.MaxReceiveCount = 3
		o.RetryBase = time.Minute // a throttled message must not wait this long
	})
	r := start(t, w)
	waitFor(t, "the message finished", func() bool { return calls.Load() == 6 && w.Stats().InFlight == 0 })
	waitFor(t, "the queue empty", func() bool { v, f := e.counts(url); return v == 0 && f == 0 })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	var counts []int
	for _, d := range seen.all() {
		counts = append(counts, d.ReceiveCount)
	}
	// Deliveries 1 and 2 of each message: the second has one left before
	// the dead-letter queue, so it is requeued instead of given back.
	if diff := cmp.Diff([]int{1, 2, 1, 2, 1, 2}, counts); diff != "" {
		t.Errorf("receive counts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int32{2, 2, 2}, client.all()); diff != "" {
		t.Errorf("visibility set after the first deliveries, in seconds (-want +got):\n%s", diff)
	}
	if s := w.Stats(); s.Requeued != 2 || client.sent.Load() != 2 {
		t.Errorf("Stats.Requeued = %d, SendMessage calls %d; want 2", s.Requeued, client.sent.Load())
	}
}

// TestWorkerRequeueIsBounded: past MaxRequeues a throttled message is
// given back as any other failure, so a finding throttled forever still
// ends in the dead-letter queue (here: reaches its last delivery).
func TestWorkerRequeueIsBounded(t *testing.T) {
	e := newEnv(t)
	url := e.queue(false)
	e.send(url, "throttled")
	var seen deliveries
	p := procFunc(func(ctx context.Context, m remediate.Message) (*audit.Record, error) {
		seen.add(m)
		if m.ReceiveCount >= 2 && len(seen.all()) > 2 {
			return &audit.Record{}, nil // the last delivery of the requeued copy
		}
		return nil, throttled{after: time.Second}
	})
	client := &sendingLog{visibilityLog: &visibilityLog{API: e.client}, c: e.client}
	w := sqsworker.New(client, url, p, fast, func(o *sqsworker.Options) {
		o.MaxReceiveCount = 2
		o.MaxRequeues = 1
	})
	r := start(t, w)
	waitFor(t, "the message finished", func() bool { return w.Stats().Acked == 2 && w.Stats().InFlight == 0 })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	var counts []int
	for _, d := range seen.all() {
		counts = append(counts, d.ReceiveCount)
	}
	// Requeued once on its first delivery (the last but one), then given
	// back, and delivered a last time.
	if diff := cmp.Diff([]int{1, 1, 2}, counts); diff != "" {
		t.Errorf("receive counts (-want +got):\n%s", diff)
	}
	if s := w.Stats(); s.Requeued != 1 || s.Retried != 1 {
		t.Errorf("Stats: Requeued %d, Retried %d; want 1 and 1", s.Requeued, s.Retried)
	}
}
