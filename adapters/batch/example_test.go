package batch_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/remedy-sec/remedy/adapters/batch"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/remediate"
)

// Run processes a batch and says, per message, whether the transport may
// delete it: a record or a duplicate (nil record) is acknowledged, a
// transient error gives the message back for a retry.
func ExampleRun() {
	// In a deployment the processor is a *remediate.Engine. This stand-in
	// is throttled on msg-2 and has already finished msg-3.
	engine := procFunc(func(_ context.Context, m remediate.Message) (*audit.Record, error) {
		switch m.ID {
		case "msg-2":
			return nil, errors.New("ThrottlingException: rate exceeded")
		case "msg-3":
			return nil, nil
		}
		return &audit.Record{ID: "rec-" + m.ID, Outcome: "applied"}, nil
	})
	msgs := []remediate.Message{{ID: "msg-1"}, {ID: "msg-2"}, {ID: "msg-3"}}
	results := batch.Run(context.Background(), engine, msgs, func(o *batch.Options) {
		o.Concurrency = 4
	})
	for _, r := range results {
		switch {
		case !r.Ack():
			fmt.Printf("%s: retry (%v)\n", r.Message.ID, r.Err)
		case r.Record == nil:
			fmt.Printf("%s: ack, duplicate\n", r.Message.ID)
		default:
			fmt.Printf("%s: ack, %s\n", r.Message.ID, r.Record.Outcome)
		}
	}
	// Output:
	// msg-1: ack, applied
	// msg-2: retry (ThrottlingException: rate exceeded)
	// msg-3: ack, duplicate
}

// With Options.Group, as for an SQS FIFO queue's MessageGroupId, the
// messages of one group run in order and stop at the first failure, so a
// retry keeps the order.
func ExampleRun_group() {
	engine := procFunc(func(_ context.Context, m remediate.Message) (*audit.Record, error) {
		if m.ID == "a-1" {
			return nil, errors.New("RequestTimeout")
		}
		return &audit.Record{ID: "rec-" + m.ID, Outcome: "applied"}, nil
	})
	msgs := []remediate.Message{{ID: "a-1"}, {ID: "b-1"}, {ID: "a-2"}}
	results := batch.Run(context.Background(), engine, msgs, func(o *batch.Options) {
		o.Group = func(m remediate.Message) string { return m.ID[:1] } // "a" or "b"; sqsworker uses the MessageGroupId
	})
	for _, r := range results {
		fmt.Printf("%s: ack=%t group failed=%t\n", r.Message.ID, r.Ack(), errors.Is(r.Err, batch.ErrGroupFailed))
	}
	// Output:
	// a-1: ack=false group failed=false
	// b-1: ack=true group failed=false
	// a-2: ack=false group failed=true
}
