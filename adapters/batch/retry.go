package batch

import (
	"errors"
	"time"
)

// RequeuesAttribute is the SQS message attribute (a Number) in which a
// transport counts how often it requeued a message: sent it again as a
// new message instead of giving back a delivery that a throttled
// customer account would have spent (see Requeue).
const RequeuesAttribute = "remedy-requeues"

// RetryAfter returns how long the failure err asks to hold its message
// back before it is delivered again, when an error in its chain says so
// with a method RetryAfter() time.Duration returning more than zero, as
// crossaccount.ThrottledError does for a throttled customer account.
func RetryAfter(err error) (time.Duration, bool) {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) && ra.RetryAfter() > 0 {
		return ra.RetryAfter(), true
	}
	return 0, false
}

// Requeue reports whether a message that failed with a RetryAfter on its
// receiveCount-th delivery should be requeued rather than given back:
// when the queue's maxReceiveCount is known and the message has one
// delivery or none left before the dead-letter queue, and it was
// requeued fewer than maxRequeues times. Throttling says nothing about
// the finding, so it must not use up the deliveries that stand between
// a failing finding and the dead-letter queue; maxRequeues still bounds
// how long a finding of an account throttled for good goes round.
func Requeue(receiveCount, maxReceiveCount, requeues, maxRequeues int) bool {
	return maxReceiveCount > 0 && receiveCount >= maxReceiveCount-1 && requeues < maxRequeues
}
