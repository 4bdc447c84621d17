package remediate_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/remediate"
)

// failFirst fails its first n writes with a transient error, then
// records.
type failFirst struct {
	recorder
	mu    sync.Mutex
	fails int
	calls int
}

func (f *failFirst) Write(ctx context.Context, rec *audit.Record) error {
	f.mu.Lock()
	f.calls++
	fail := f.calls <= f.fails
	f.mu.Unlock()
	if fail {
		return errors.New("503 Service Unavailable")
	}
	return f.recorder.Write(ctx, rec)
}

// TestDeadLetterWritesRetried: a message's last delivery is the only
// chance to say why it goes to the dead-letter queue, so a transient
// failure of the review route or the audit sink there is tried again
// rather than losing the notification or the record (the soak saw a
// dead letter that never reached review).
func TestDeadLetterWritesRetried(t *testing.T) {
	review := &failFirst{fails: 2}
	sink := &failFirst{fails: 2}
	s := newSetup(t, func(o *remediate.Options, r *fakeRemediator) {
		o.MaxReceiveCount = 1
		o.Review = review
		o.Audit = sink
		r.applyErr = errors.New("503 Service Unavailable")
	})
	if _, err := s.engine.Process(context.Background(), remediate.Message{ID: "m1", Body: []byte("f1"), ReceiveCount: 1}); err == nil {
		t.Fatal("want a transient error: the message is not acknowledged")
	}
	if n := review.len(); n != 1 {
		t.Errorf("review route got %d dead-letter notifications after two failed tries, want 1", n)
	}
	var dead int
	sink.recorder.mu.Lock()
	for _, r := range sink.recs {
		if r.Outcome == string(remediate.OutcomeDeadLettered) {
			dead++
		}
	}
	sink.recorder.mu.Unlock()
	if dead != 1 {
		t.Errorf("%d dead-lettered records after two failed tries, want 1", dead)
	}
}
