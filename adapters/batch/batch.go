// Package batch runs a batch of messages through a remediate.Engine with
// bounded concurrency and reports, per message, whether it may be
// acknowledged. It is the shared core of the transport adapters, and what
// tests, the CLI and the local example use directly.
package batch

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/remediate"
)

// Processor is what a batch runs each message through;
// *remediate.Engine implements it.
type Processor interface {
	Process(ctx context.Context, m remediate.Message) (*audit.Record, error)
}

var _ Processor = (*remediate.Engine)(nil)

// ErrGroupFailed is wrapped by the error of a message that was not
// processed because an earlier message of its group failed.
var ErrGroupFailed = errors.New("batch: an earlier message of its group failed")

// Result is the fate of one message.
type Result struct {
	Message remediate.Message
	// Record is the audit record; nil for a duplicate or a retry.
	Record *audit.Record
	// Err is non-nil when the message must not be acknowledged.
	Err error
}

// Ack reports whether the message may be acknowledged (deleted).
func (r Result) Ack() bool { return r.Err == nil }

// Options configure Run.
type Options struct {
	// Concurrency bounds how many messages (or groups, see Group) are
	// processed at once. Default 8.
	Concurrency int
	// OnResult, if set, is called as each message finishes (from the
	// worker goroutine), for progress output. It is called only for
	// messages that were processed, not for those failed unstarted.
	OnResult func(Result)
	// Group, if set, names the ordering group of a message, such as an
	// SQS FIFO queue's MessageGroupId. Messages of one non-empty group run
	// one at a time in input order, and once one fails the rest of its
	// group is not processed: their errors wrap ErrGroupFailed, so that a
	// retry keeps the order. Messages with an empty group run
	// independently.
	Group func(remediate.Message) string
}

// Run processes msgs and returns one Result per message, in input
// order. It returns when every message finished; a cancelled ctx makes
// the messages not yet started fail with ctx's error, so none is lost.
func Run(ctx context.Context, p Processor, msgs []remediate.Message, optFns ...func(*Options)) []Result {
	o := Options{Concurrency: 8}
	for _, fn := range optFns {
		fn(&o)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	out := make([]Result, len(msgs))
	for i, m := range msgs {
		out[i].Message = m
	}
	var g errgroup.Group
	g.SetLimit(o.Concurrency)
	for _, unit := range units(msgs, o.Group) {
		if err := ctx.Err(); err != nil {
			for _, i := range unit {
				out[i].Err = err
			}
			continue
		}
		g.Go(func() error {
			var failed string
			for _, i := range unit {
				r := &out[i]
				switch {
				case failed != "":
					r.Err = fmt.Errorf("batch: message %s not processed after message %s failed: %w", r.Message.ID, failed, ErrGroupFailed)
				case ctx.Err() != nil:
					r.Err = ctx.Err()
				default:
					r.Record, r.Err = process(ctx, p, r.Message)
					if o.OnResult != nil {
						o.OnResult(*r)
					}
				}
				if r.Err != nil && failed == "" {
					failed = r.Message.ID
				}
			}
			return nil
		})
	}
	_ = g.Wait()
	return out
}

// process is the last resort against a panic that escaped the
// processor (remediate.Engine recovers the panics of its stages): the
// message is not acknowledged, and the other messages of the batch, and
// the process, go on.
func process(ctx context.Context, p Processor, m remediate.Message) (rec *audit.Record, err error) {
	defer func() {
		if v := recover(); v != nil {
			rec, err = nil, fmt.Errorf("batch: message %s: processor panicked: %v", m.ID, v)
		}
	}()
	return p.Process(ctx, m)
}

// units splits msgs into what runs concurrently: each ungrouped message
// alone, each group's messages together in input order. Units are ordered
// by their first message.
func units(msgs []remediate.Message, group func(remediate.Message) string) [][]int {
	out := make([][]int, 0, len(msgs))
	var at map[string]int // group → index in out
	for i, m := range msgs {
		var g string
		if group != nil {
			g = group(m)
		}
		if g == "" {
			out = append(out, []int{i})
			continue
		}
		if at == nil {
			at = make(map[string]int)
		}
		if j, ok := at[g]; ok {
			out[j] = append(out[j], i)
			continue
		}
		at[g] = len(out)
		out = append(out, []int{i})
	}
	return out
}
