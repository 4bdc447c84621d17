package batch_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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

func TestRunGroupsKeepOrderAndFailTheRest(t *testing.T) {
	group := map[string]string{"a1": "A", "a2": "A", "a3": "A", "b1": "B", "b2": "B", "c1": "", "c2": ""}
	var (
		mu    sync.Mutex
		order []string
	)
	var running sync.Map // group → busy
	p := procFunc(func(ctx context.Context, m remediate.Message) (*audit.Record, error) {
		g := group[m.ID]
		if g != "" {
			if _, busy := running.LoadOrStore(g, true); busy {
				t.Errorf("%s started while another message of group %s was running", m.ID, g)
			}
			defer running.Delete(g)
		}
		time.Sleep(time.Millisecond)
		mu.Lock()
		order = append(order, m.ID)
		mu.Unlock()
		if m.ID == "a2" {
			return nil, errors.New("throttled")
		}
		return &audit.Record{ID: "r-" + m.ID}, nil
	})
	var msgs []remediate.Message
	for _, id := range []string{"a1", "b1", "c1", "a2", "b2", "a3", "c2"} {
		msgs = append(msgs, remediate.Message{ID: id})
	}
	res := batch.Run(context.Background(), p, msgs, func(o *batch.Options) {
		o.Concurrency = 4
		o.Group = func(m remediate.Message) string { return group[m.ID] }
	})
	got := map[string]string{}
	for _, r := range res {
		switch {
		case r.Ack():
			got[r.Message.ID] = "ack"
		case errors.Is(r.Err, batch.ErrGroupFailed):
			got[r.Message.ID] = "group failed"
		default:
			got[r.Message.ID] = "failed"
		}
	}
	want := map[string]string{
		"a1": "ack", "a2": "failed", "a3": "group failed",
		"b1": "ack", "b2": "ack", "c1": "ack", "c2": "ack",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	pos := map[string]int{}
	for i, id := range order {
		pos[id] = i
	}
	if _, ok := pos["a3"]; ok {
		t.Errorf("a3 was processed after a2 of its group failed")
	}
	for _, pair := range [][2]string{{"a1", "a2"}, {"b1", "b2"}} {
		if pos[pair[0]] > pos[pair[1]] {
			t.Errorf("%s processed before %s: order %v", pair[1], pair[0], order)
		}
	}
}

// TestRunSurvivesPanic: a processor that panics on one message fails
// that message (not acknowledged); the rest of the batch is processed.
func TestRunSurvivesPanic(t *testing.T) {
	p := procFunc(func(ctx context.Context, m remediate.Message) (*audit.Record, error) {
		if m.ID == "m2" {
			panic("processor bug")
		}
		return &audit.Record{ID: "r-" + m.ID}, nil
	})
	msgs := []remediate.Message{{ID: "m1"}, {ID: "m2"}, {ID: "m3"}}
	res := batch.Run(context.Background(), p, msgs)
	for _, r := range res {
		wantAck := r.Message.ID != "m2"
		if r.Ack() != wantAck {
			t.Errorf("message %s: ack %v (%v), want %v", r.Message.ID, r.Ack(), r.Err, wantAck)
		}
	}
	if err := res[1].Err; err == nil || !strings.Contains(err.Error(), "processor bug") {
		t.Errorf("the panicking message's error %v does not name the panic", err)
	}
}
