package remediate

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Spec declares what a remediator does and what it needs. Policies,
// session policies and the customer-role IAM policy are all derived from
// it, so it must be complete: every AWS API a remediator calls is listed
// in IAMActions.
type Spec struct {
	// Action is the unique name policies refer to, such as
	// "s3-block-public-access".
	Action string
	// Description says in one sentence what the fix changes.
	Description string
	// ResourceTypes are the native resource types it fixes ("bucket").
	ResourceTypes []string
	// IAMActions are the IAM actions it calls, such as
	// "s3:PutBucketPublicAccessBlock".
	IAMActions []string
	// Sensitive remediators always go to review unless the policy
	// explicitly approves them.
	Sensitive bool
}

// Target is what a remediator works on: the finding, and an AWS
// configuration whose credentials act in the finding's account.
type Target struct {
	Finding *Finding
	// AWS is configured for the finding's account and region. Its
	// credentials are scoped to the remediator's declared IAM actions.
	AWS aws.Config
	// Logger is never nil when the engine calls a remediator.
	Logger *slog.Logger

	clients *clientMemo // see Client
}

// Client returns the AWS client build makes for t, built once per
// finding when the engine made t: the Plan, Apply, Verify and Rollback of
// one finding share it, rather than each building its own (building an
// SDK client costs about as much as a call). name tells apart the
// clients of one remediator ("s3", "kms"); build reads t.AWS the first
// time only. For a Target made elsewhere, such as in a test, it calls
// build every time.
func Client[T any](t Target, name string, build func() T) T {
	if t.clients == nil {
		return build()
	}
	t.clients.mu.Lock()
	defer t.clients.mu.Unlock()
	if c, ok := t.clients.m[name]; ok {
		if c, ok := c.(T); ok {
			return c
		}
	}
	c := build()
	if t.clients.m == nil {
		t.clients.m = make(map[string]any, 1)
	}
	t.clients.m[name] = c
	return c
}

// clientMemo holds the clients of one finding's target.
type clientMemo struct {
	mu sync.Mutex
	m  map[string]any
}

// Plan is what a remediator would change, read from live state.
type Plan struct {
	// Compliant is true when live state already satisfies the control:
	// nothing will be changed.
	Compliant bool
	// Changes lists each change in words, such as
	// "set BlockPublicAcls from false to true".
	Changes []string
	// Before is the relevant live state, as JSON.
	Before json.RawMessage
	// After is the state Apply will produce, as JSON.
	After json.RawMessage
	// Rollback, if the remediator knows it before applying, is the data
	// a Reverter needs to undo Apply (usually the prior state). It is
	// kept with the intent the engine makes durable before Apply, so that
	// a change interrupted by a crash can still be undone from its
	// record. Result.Rollback, when set, replaces it.
	Rollback json.RawMessage
	// Data is private to the remediator: Apply receives it back.
	Data any
}

// Result is what Apply did.
type Result struct {
	// After is the state after the change, as JSON.
	After json.RawMessage
	// Rollback is the data a Reverter needs to restore the prior state.
	Rollback json.RawMessage
	// RequestIDs are the AWS request ids of the calls made.
	RequestIDs []string
}

// Remediator fixes one kind of misconfiguration.
//
// Plan reads live state and never changes anything. Apply makes the
// change Plan described, and is idempotent: applying twice leaves the
// resource as applying once does. Errors are transient unless marked with
// Permanent.
type Remediator interface {
	Spec() Spec
	Plan(ctx context.Context, t Target) (Plan, error)
	Apply(ctx context.Context, t Target, p Plan) (Result, error)
}

// Verifier is implemented by remediators that can confirm a change by
// reading state back. Verify returns an error if the resource is not
// compliant.
type Verifier interface {
	Verify(ctx context.Context, t Target, p Plan) error
}

// Reverter is implemented by remediators whose change can be undone from
// the rollback data Apply returned.
type Reverter interface {
	Rollback(ctx context.Context, t Target, rollback json.RawMessage) error
}
