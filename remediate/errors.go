package remediate

import (
	"errors"
	"fmt"
	"time"
)

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that retrying cannot fix, such as access
// denied or a resource that no longer exists. The engine records it as a
// failed outcome and routes it to review. Permanent(nil) is nil.
//
// Errors not marked are transient: the message is not acknowledged and
// the queue retries it.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	var p *permanentError
	if errors.As(err, &p) {
		return err
	}
	return &permanentError{err: err}
}

// Permanentf is Permanent(fmt.Errorf(format, args...)).
func Permanentf(format string, args ...any) error {
	return Permanent(fmt.Errorf(format, args...))
}

// IsPermanent reports whether any error in err's chain was marked
// Permanent, or implements Permanent() bool returning true.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	var p *permanentError
	if errors.As(err, &p) {
		return true
	}
	var c interface{ Permanent() bool }
	return errors.As(err, &c) && c.Permanent()
}

// IsTransient reports whether err should be retried: any non-nil error
// not marked permanent. Unknown errors are transient, so an unexpected
// failure is retried and, if it persists, lands in the dead-letter queue
// rather than being acknowledged.
func IsTransient(err error) bool { return err != nil && !IsPermanent(err) }

// Sentinel errors of the engine and registry.
var (
	// ErrUnknownAction is returned when no remediator is registered for an action.
	ErrUnknownAction = errors.New("remediate: no remediator registered for action")
	// ErrDuplicateAction is returned when an action is registered twice.
	ErrDuplicateAction = errors.New("remediate: action already registered")
	// ErrInProgress is returned by an IdempotencyStore when another worker
	// holds the key. The message is retried later.
	ErrInProgress = errors.New("remediate: finding is being processed elsewhere")
	// ErrAlreadyDone is returned by an IdempotencyStore when the key
	// completed before. The message is acknowledged without a new record.
	ErrAlreadyDone = errors.New("remediate: finding already processed")
)

// InProgressError is the ErrInProgress of a store that knows when the
// other worker's claim expires: a retry before Until cannot take the
// finding over, so a transport should not spend a delivery on it (a
// claim left by a killed worker would otherwise use up the message's
// deliveries and send it to the dead-letter queue). errors.Is(err,
// ErrInProgress) holds for it.
type InProgressError struct {
	// Until is when the claim expires, unless its holder finishes first.
	Until time.Time
}

func (e *InProgressError) Error() string {
	return fmt.Sprintf("%v (its claim expires at %s)", ErrInProgress, e.Until.UTC().Format(time.RFC3339))
}

// Is reports whether target is ErrInProgress.
func (e *InProgressError) Is(target error) bool { return target == ErrInProgress }

// RejectError is a payload that cannot be accepted. Field names the
// offending payload path.
type RejectError struct {
	Field  string
	Reason string

	// FindingID, RuleID and ResourceID are what a rejected payload still
	// says about itself, at best: the finding's id (the Wiz issue id),
	// the id of the automation rule that sent it and the resource's id.
	// A parser sets each only when the payload is readable there and the
	// value passes the check it would in an accepted payload, so that the
	// rejection's record and review say which finding was lost; otherwise
	// it is empty. They are untrusted: nothing decides on them, and the
	// message is rejected whatever they say.
	FindingID, RuleID, ResourceID string
}

func (e *RejectError) Error() string {
	if e.Field == "" {
		return "rejected: " + e.Reason
	}
	return "rejected: " + e.Field + ": " + e.Reason
}

// Permanent reports true: a malformed payload does not get better.
func (e *RejectError) Permanent() bool { return true }
