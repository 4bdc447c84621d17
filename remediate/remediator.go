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
// in IAMActions, on resources Resources declares. Registry.Register
// checks it (see Validate).
type Spec struct {
	// Action is the unique name policies refer to, such as
	// "s3-block-public-access".
	Action string
	// Description says in one sentence what the fix changes.
	Description string
	// ResourceTypes are the native resource types it fixes, as findings
	// name them in Resource.Type ("bucket"). A finding of another type
	// goes to review.
	ResourceTypes []string
	// Resources declares, for each of ResourceTypes, the ARN patterns of
	// the resources its IAMActions act on: a shared session (package
	// crossaccount) allows them on these, a strict one on the finding's
	// own resource, and the customer role's policy (remedy iam-policy) is
	// their union. A pattern is an ARN whose partition is "{partition}",
	// whose region and account are "{region}" and "{account}" or empty
	// (as the service's ARNs have them; see PatternPartition, PatternRegion
	// and PatternAccount), whose service is one of
	// IAMActions' and whose resource part ends in "*", which stands for
	// the resource's id:
	//
	//	map[string][]string{
	//		"bucket":        {"arn:{partition}:s3:::*"},
	//		"securityGroup": {"arn:{partition}:ec2:{region}:{account}:security-group/*", "arn:{partition}:ec2:{region}:{account}:security-group-rule/*"},
	//		"snapshot":      {"arn:{partition}:ec2:{region}::snapshot/*"},
	//	}
	//
	// The first pattern of a type is the type's own: a strict session for
	// a finding that names its resource by a bare id ("sg-0123…", a
	// bucket name) is scoped to that pattern with the id in place of its
	// final "*". Further patterns are resources the fix also touches (the
	// rules of a security group). A type without a pattern fails
	// registration: no session is ever widened to every resource of a
	// service because a type was not declared.
	Resources map[string][]string
	// IAMActions are the IAM actions it calls, such as
	// "s3:PutBucketPublicAccessBlock": each one, no wildcard.
	IAMActions []string
	// PermanentErrorCodes are AWS error codes that retrying cannot fix
	// for this remediator, beyond the defaults ClassifyAWS knows, such as
	// "DBInstanceNotFound" or "ResourceNotFoundException". The engine
	// classifies the remediator's errors with them (see Spec.Classify):
	// such an error ends the finding as failed, routed to review, instead
	// of being retried until the message is dead-lettered.
	PermanentErrorCodes []string
	// Sensitive remediators never run unattended unless the policy
	// explicitly approves them: the engine runs one only for a Decision
	// whose SensitiveApproved is set (package eligibility sets it from
	// the policy's sensitive_approved entries), or for a person's
	// approval of its plan when Options.Approvals is set (see
	// Approval); otherwise the finding goes to review.
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

	clients *Clients // see Client
}

// Client returns the AWS client build makes for t. When the engine made
// t, the client is kept: the Plan, Apply, Verify and Rollback of one
// finding share it, and so do the findings of one session when the
// CredentialSource shared its clients (ShareClients; package
// crossaccount does), rather than each building its own (building an SDK
// client costs about as much as a call). name tells apart the clients of
// one remediator ("s3", "kms"); a client is kept per name and region
// (t.AWS.Region), and build reads t.AWS the first time only, so it must
// not capture anything of t.Finding. For a Target made elsewhere, such as
// in a test, it calls build every time.
func Client[T any](t Target, name string, build func() T) T {
	if t.clients == nil {
		return build()
	}
	k := clientKey{name: name, region: t.AWS.Region}
	t.clients.mu.Lock()
	defer t.clients.mu.Unlock()
	if c, ok := t.clients.m[k]; ok {
		if c, ok := c.(T); ok {
			return c
		}
	}
	c := build()
	if t.clients.m == nil {
		t.clients.m = make(map[clientKey]any, 1)
	}
	t.clients.m[k] = c
	return c
}

// Clients keeps the AWS clients that Client builds, by name and region.
// The zero value is empty and ready to use; a Clients must not be copied
// after first use. The engine gives each finding's Target its own, unless
// the CredentialSource shared one with ShareClients.
type Clients struct {
	mu sync.Mutex
	m  map[clientKey]any
}

type clientKey struct{ name, region string }

// ShareClients lets the findings whose configurations a CredentialSource
// serves from one session share the AWS clients that Client builds for
// them: a CredentialSource calls it from Config with the Clients of that
// session, and the engine then gives the finding's Target c instead of
// clients of its own. Only a CredentialSource whose configurations of one
// session differ in nothing but Region may share (the clients keep the
// first configuration they were built from): nothing of one finding
// — its id in the user agent, the recording of its request ids — may be
// in the configuration; read it from the context instead (FindingID,
// RecordRequestID). It does nothing when ctx belongs to no finding, and
// a nil c shares nothing.
func ShareClients(ctx context.Context, c *Clients) {
	if l, ok := ctx.Value(requestLogKey{}).(*requestLog); ok {
		l.mu.Lock()
		l.clients = c
		l.mu.Unlock()
	}
}

// FindingID returns the id of the finding being processed in ctx, and
// whether ctx belongs to a finding: the engine passes such a context to
// the CredentialSource and to the remediator, whose AWS calls are made in
// it. Package crossaccount's middleware puts the id in the user agent of
// every call.
func FindingID(ctx context.Context) (string, bool) {
	if l, ok := ctx.Value(requestLogKey{}).(*requestLog); ok {
		return l.finding, true
	}
	return "", false
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
	// a Rollbacker needs to undo Apply (usually the prior state). It is
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
	// Rollback is the data a Rollbacker needs to restore the prior state.
	Rollback json.RawMessage
	// RequestIDs are the AWS request ids of the calls made.
	RequestIDs []string
}

// Remediator fixes one kind of misconfiguration. The engine calls Plan,
// then (in apply mode, for a plan that is not compliant) Apply, then
// Verify; package remediatetest checks every rule below against a real
// account or an emulator, and a remediator should pass it:
//
//   - Spec is complete and registers: an action, resource types with
//     their ARN patterns (Spec.Resources), and every IAM action it calls.
//     The declared IAM actions cover every call Plan, Apply, Verify and
//     Rollback make: the session they run in allows nothing else.
//   - Plan reads live state and makes no write (only Get*, Describe*,
//     List*, Head* calls). For a non-compliant resource it returns
//     Compliant false, the Changes in words, and Before and After as
//     valid JSON that differ; for a compliant one, Compliant true and no
//     Changes. Plan.Rollback, when the remediator knows it before
//     applying (usually the prior state), is kept with the intent the
//     engine makes durable before Apply; when set, it is valid JSON from
//     which Rollback restores the prior state as from Result.Rollback.
//   - Apply makes the resource compliant and is idempotent: applying the
//     same plan twice succeeds and leaves the resource as applying once
//     does, and applying a plan that is already compliant writes nothing.
//     Its Result holds valid JSON evidence and never a credential.
//   - Verify (optional, see Verifier) fails on a non-compliant resource
//     and passes on a fixed one: it detects drift.
//   - Rollback (optional, see Rollbacker) restores the prior, non-compliant
//     state from the rollback data, and rolling back twice is harmless.
//   - Errors are classified: they are transient unless marked with
//     Permanent (ClassifyAWS marks AWS codes retrying cannot fix, plus
//     Spec.PermanentErrorCodes). Plan for a resource that does not exist,
//     or for a finding that names no resource, returns a permanent error,
//     and the latter calls no AWS API.
//
// Build SDK clients from Target.AWS (with Client), never from a
// configuration of your own: it carries the finding's scoped
// credentials, its user agent and the recording of request ids.
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

// Rollbacker is implemented by remediators whose change can be undone from
// the rollback data Apply returned.
type Rollbacker interface {
	Rollback(ctx context.Context, t Target, rollback json.RawMessage) error
}
