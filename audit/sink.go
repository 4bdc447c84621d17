package audit

import (
	"context"
	"errors"
)

// Sink persists audit records. Write returns only after the record is
// durable as far as the sink can tell: a caller acknowledges a message
// only after Write returns nil. Sinks are safe for concurrent use.
type Sink interface {
	Write(ctx context.Context, r *Record) error
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(ctx context.Context, r *Record) error

// Write calls f(ctx, r).
func (f SinkFunc) Write(ctx context.Context, r *Record) error { return f(ctx, r) }

// Multi returns a Sink that writes each record to every sink in order
// and returns their errors joined. A record counts as written only if
// every sink accepted it.
func Multi(sinks ...Sink) Sink {
	s := make(multi, 0, len(sinks))
	for _, k := range sinks {
		if k != nil {
			s = append(s, k)
		}
	}
	return s
}

type multi []Sink

func (m multi) Write(ctx context.Context, r *Record) error {
	var errs []error
	for _, s := range m {
		if err := s.Write(ctx, r); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Discard returns a Sink that drops every record. Use it only in tests
// and benchmarks: production code must keep evidence.
func Discard() Sink { return discard{} }

type discard struct{}

func (discard) Write(context.Context, *Record) error { return nil }
