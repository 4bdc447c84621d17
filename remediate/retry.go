package remediate

import (
	"context"
	"time"
)

// retryWrite calls write up to attempts times, waiting backoff, then four
// times as long, between calls, until it succeeds or ctx ends. It is for
// the few writes the engine makes after the outcome is known and that a
// transient fault must not lose: the done marker and a dead letter's
// record and notification.
func retryWrite(ctx context.Context, attempts int, backoff time.Duration, write func(context.Context) error) error {
	var err error
	for attempt := 0; attempt < attempts; attempt, backoff = attempt+1, backoff*4 {
		if attempt > 0 {
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return err
			}
		}
		if err = write(ctx); err == nil {
			return nil
		}
	}
	return err
}
