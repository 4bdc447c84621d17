package batch_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/remedy-sec/remedy/adapters/batch"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/remediate"
)

type procFunc func(ctx context.Context, m remediate.Message) (*audit.Record, error)

func (f procFunc) Process(ctx context.Context, m remediate.Message) (*audit.Record, error) {
	return f(ctx, m)
}

func TestRunBoundsConcurrencyAndKeepsOrder(t *testing.T) {
	var running, peak atomic.Int32
	p := procFunc(func(ctx context.Context, m remediate.Message) (*audit.Record, error) {
		n := running.Add(1)
		for {
			old := peak.Load()
			if n <= old || peak.CompareAndSwap(old, n) {
				break
			}
		}
		time.Sleep(2 * time.Millisecond)
		running.Add(-1)
		if m.ID == "m3" {
			return nil, errors.New("throttled")
		}
		return &audit.Record{ID: "r-" + m.ID}, nil
	})
	var msgs []remediate.Message
	for i := range 20 {
		msgs = append(msgs, remediate.Message{ID: fmt.Sprintf("m%d", i)})
	}
	var seen atomic.Int32
	res := batch.Run(context.Background(), p, msgs, func(o *batch.Options) {
		o.Concurrency = 3
		o.OnResult = func(batch.Result) { seen.Add(1) }
	})
	if peak.Load() > 3 {
		t.Errorf("peak concurrency %d exceeds 3", peak.Load())
	}
	if seen.Load() != 20 {
		t.Errorf("OnResult called %d times, want 20", seen.Load())
	}
	for i, r := range res {
		if r.Message.ID != msgs[i].ID {
			t.Fatalf("result %d is for %s, want %s", i, r.Message.ID, msgs[i].ID)
		}
		if want := r.Message.ID != "m3"; r.Ack() != want {
			t.Errorf("%s Ack = %v, want %v", r.Message.ID, r.Ack(), want)
		}
	}
}

func TestRunCancelledFailsUnstarted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var calls atomic.Int32
	p := procFunc(func(context.Context, remediate.Message) (*audit.Record, error) { calls.Add(1); return nil, nil })
	res := batch.Run(ctx, p, []remediate.Message{{ID: "a"}, {ID: "b"}})
	if calls.Load() != 0 {
		t.Errorf("%d messages processed after cancel", calls.Load())
	}
	for _, r := range res {
		if r.Ack() {
			t.Errorf("%s acknowledged though never processed", r.Message.ID)
		}
	}
}
