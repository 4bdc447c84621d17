package remediate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/remedy-sec/remedy/internal/clip"
)

// PanicError is a panic in a pluggable stage — an authenticator, parser,
// enricher, policy, credential source, remediator, idempotency store or
// sink — recovered by the engine so that one bad plug-in cannot take the
// process, and the other findings in flight, down with it.
//
// It is permanent: a panic in a stage that decides or changes ends the
// finding as failed, routed to review, with the panic value in the
// record's failure reason. The stack goes to the engine's log only. A
// panic in a store or sink cannot be recorded by it, so the message is
// retried instead, and reaches the dead-letter queue if it persists.
//
// The engine recovers panics on its own goroutine only: a remediator that
// starts goroutines recovers their panics itself.
type PanicError struct {
	// Stage is where the panic happened, such as "apply" or "enrich".
	Stage string
	// Value is what was passed to panic.
	Value any
	// Stack is the panicking goroutine's stack, trimmed to its first
	// frames. It is logged, never recorded.
	Stack []byte
}

// Error returns "panic: " and the panic value, cut to a bounded length.
func (e *PanicError) Error() string {
	return "panic: " + clip.UTF8(fmt.Sprint(e.Value), 256)
}

// Permanent reports true: retrying a panic is not expected to fix it.
func (e *PanicError) Permanent() bool { return true }

// maxStack bounds the stack kept for the log.
const maxStack = 8 << 10

// guard runs fn, turning a panic in it into a *PanicError that it logs
// with the stack.
func (e *Engine) guard(ctx context.Context, stage string, fn func() error) (err error) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		stack := debug.Stack()
		if len(stack) > maxStack {
			stack = stack[:maxStack]
		}
		pe := &PanicError{Stage: stage, Value: v, Stack: stack}
		e.o.Logger.LogAttrs(ctx, slog.LevelError, "recovered a panic",
			slog.String("stage", stage), slog.String("panic", pe.Error()),
			slog.String("stack", string(bytes.TrimSpace(stack))))
		err = pe
	}()
	return fn()
}

// isPanic reports whether err is or wraps a *PanicError.
func isPanic(err error) bool {
	var pe *PanicError
	return errors.As(err, &pe)
}
