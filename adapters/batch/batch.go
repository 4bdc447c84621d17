// Package batch runs a batch of messages through a remediate.Engine with
// bounded concurrency and reports, per message, whether it may be
// acknowledged. It is the shared core of the transport adapters, and what
// tests, the CLI and the local example use directly.
package batch

import (
	"context"

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
	// Concurrency bounds how many messages are processed at once.
	// Default 8.
	Concurrency int
	// OnResult, if set, is called as each message finishes (from the
	// worker goroutine), for progress output.
	OnResult func(Result)
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
	var g errgroup.Group
	g.SetLimit(o.Concurrency)
	for i, m := range msgs {
		out[i].Message = m
		if err := ctx.Err(); err != nil {
			out[i].Err = err
			continue
		}
		g.Go(func() error {
			rec, err := p.Process(ctx, m)
			out[i].Record, out[i].Err = rec, err
			if o.OnResult != nil {
				o.OnResult(out[i])
			}
			return nil
		})
	}
	_ = g.Wait()
	return out
}
