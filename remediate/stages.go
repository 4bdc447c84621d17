package remediate

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/remedy-sec/remedy/audit"
)

// Message is one delivery as an adapter received it.
type Message struct {
	// ID is the transport's message id (the SQS message id).
	ID string
	// Body is the message body: a raw payload or an SNS envelope.
	Body []byte
	// ReceiveCount is how many times the transport has delivered it.
	ReceiveCount int
	// ReceivedAt is when the adapter received it; zero means now.
	ReceivedAt time.Time
}

// Authenticator checks, before anything reads a message body, that it
// comes from a trusted sender — for example that an SNS envelope carries
// a valid signature of an expected topic (package adapters/snsverify).
// It returns an error wrapping *RejectError for a body that is not
// authentic: the message is rejected, audited, and never retried. Any
// other error (a signing certificate that could not be fetched) retries
// the message; an authenticator never lets an unsure body through.
type Authenticator interface {
	Authenticate(ctx context.Context, body []byte) error
}

// AuthenticatorFunc adapts a function to an Authenticator.
type AuthenticatorFunc func(ctx context.Context, body []byte) error

// Authenticate calls f(ctx, body).
func (f AuthenticatorFunc) Authenticate(ctx context.Context, body []byte) error { return f(ctx, body) }

// Parser turns a message body into a finding. It returns an error
// wrapping *RejectError for a payload that cannot be accepted; parsing
// does no I/O, so any other error is a bug and is retried.
type Parser interface {
	Parse(body []byte) (*Finding, error)
}

// ParserFunc adapts a function to a Parser.
type ParserFunc func(body []byte) (*Finding, error)

// Parse calls f(body).
func (f ParserFunc) Parse(body []byte) (*Finding, error) { return f(body) }

// Enricher adds trusted context to a finding: environment, owner,
// exception status. It records ambiguity as a Concern rather than
// guessing. A transient error retries the message; a permanent one sends
// the finding to review.
type Enricher interface {
	Enrich(ctx context.Context, f *Finding) error
}

// EnricherFunc adapts a function to an Enricher.
type EnricherFunc func(ctx context.Context, f *Finding) error

// Enrich calls fn(ctx, f).
func (fn EnricherFunc) Enrich(ctx context.Context, f *Finding) error { return fn(ctx, f) }

// Policy decides whether a finding may be remediated. It must not modify
// the finding. An error never leads to a change: a transient error
// retries the message, any other sends the finding to review.
type Policy interface {
	Decide(ctx context.Context, f *Finding) (Decision, error)
}

// PolicyFunc adapts a function to a Policy.
type PolicyFunc func(ctx context.Context, f *Finding) (Decision, error)

// Decide calls fn(ctx, f).
func (fn PolicyFunc) Decide(ctx context.Context, f *Finding) (Decision, error) { return fn(ctx, f) }

// CredentialSource returns an AWS configuration that acts in a finding's
// account with the permissions a remediator declared (package
// crossaccount implements it with STS AssumeRole). It returns a permanent
// error when the account may never be acted in, such as one that is not
// allowlisted.
type CredentialSource interface {
	Config(ctx context.Context, f *Finding, s Spec) (aws.Config, error)
}

// CredentialSourceFunc adapts a function to a CredentialSource.
type CredentialSourceFunc func(ctx context.Context, f *Finding, s Spec) (aws.Config, error)

// Config calls fn(ctx, f, s).
func (fn CredentialSourceFunc) Config(ctx context.Context, f *Finding, s Spec) (aws.Config, error) {
	return fn(ctx, f, s)
}

// RecordKeeper is an optional extension of an IdempotencyStore: it keeps
// the record of a delivery whose review or audit write failed, under the
// delivery's key, so that the retry writes that record instead of
// processing the finding again — which would find the change already made
// and record it as compliant, losing the evidence of the change. It also
// keeps, as a record without an outcome, the evidence of an Apply that
// failed transiently (and may have taken effect), which the retry folds
// into its own record (see audit.Evidence.EarlierAttempt).
// MemoryIdempotency and the DynamoDB store implement it.
//
// Keep and Kept are called by the holder of the claim on key; a kept
// record survives Release. Kept returns nil, nil when nothing is kept.
// Complete drops the record.
type RecordKeeper interface {
	Keep(ctx context.Context, key string, r *audit.Record) error
	Kept(ctx context.Context, key string) (*audit.Record, error)
}

// IdempotencyStore guards against processing one delivery twice.
//
// Begin claims key: it returns nil if the caller now owns it,
// ErrAlreadyDone if it completed before, ErrInProgress if another worker
// holds an unexpired claim. The owner calls Complete after the audit
// record is durable, or Release to let a retry claim it again.
type IdempotencyStore interface {
	Begin(ctx context.Context, key string) error
	Complete(ctx context.Context, key string) error
	Release(ctx context.Context, key string) error
}
