// Package crossaccount gives remediators credentials in a customer
// account: an allowlist of accounts, STS AssumeRole with an external id,
// a traceable session name, session tags and a session policy scoped to
// what the remediator declared, and a cache that shares sessions across
// findings. A *Cache is the engine's remediate.CredentialSource.
//
// The shape of a deployment:
//
//	accounts, err := crossaccount.ReadAccounts(ctx, file) // YAML; external ids resolved now
//	cache, err := crossaccount.New(sts.NewFromConfig(platformCfg), accounts,
//		func(o *crossaccount.Options) { o.Region = "eu-west-1"; o.Logger = logger })
//	engine, err := remediate.NewEngine(remediate.Options{Credentials: cache, ...})
//
// # Accounts
//
// Only accounts listed in the registry are ever assumed into. A finding
// for another account fails with ErrNotAllowlisted, marked
// remediate.Permanent, so the engine routes it to review; nothing is sent
// to STS. Each entry has a role (its own ARN, or the registry's template
// such as "arn:aws:iam::{account}:role/RemedyRemediation"), an external id
// and the regions Remedy may act in. The external id is written literally
// or referenced ("env:NAME", "ssm:/name", or any scheme with a Resolver)
// and resolved once at start-up. An entry without one does not load. An
// entry may also state the account's environment ("environment:
// restricted-production"), which Accounts.Environment returns for a
// policy to read (eligibility.Options.AccountEnvironments): an account
// stated to be restricted is never changed on the strength of its tags.
//
// A finding whose resource ARN is in another partition (aws-cn,
// aws-us-gov, ...) than its account's role fails with ErrWrongPartition,
// also permanent and before any STS call, in both modes: a bucket ARN
// names no account, so its partition is what ties it to the account.
//
// # Sessions
//
// Every AssumeRole call sends the ExternalId, a RoleSessionName built by
// SessionName, a SourceIdentity built by SourceIdentity, the tags of
// SessionTags and a session policy built by SessionPolicy. The role's
// trust policy must therefore allow sts:AssumeRole (with the
// sts:ExternalId condition), sts:TagSession and sts:SetSourceIdentity for
// the platform principal.
//
// In Shared mode (the default) one session serves every finding of one
// action in one account, for up to Options.Duration. Its name, source
// identity and tags therefore describe the action, not a finding: the
// session name is "<action>@shared". What joins each AWS call back to its
// finding is on the call itself: the user-agent entry
// "remedy-finding/<finding id>" and the request id that the returned
// configuration's middleware hands to remediate.RecordRequestID for the
// audit record. Both are taken from the context of each call, so the
// session's findings also share the SDK clients remediate.Client builds
// (one per action, region and client name), rather than each building
// its own. The session policy allows the declared IAM actions on the
// account's resources that the remediator declares (remediate.Spec's
// Resources: ARN patterns per resource type), in the account's allowed
// regions. A remediator that does not declare the resources of an action
// AWS can scope gets no session: it fails registration (or, for a Spec
// given to SessionPolicy directly, the policy), rather than a session on
// every resource of the service.
//
// In Strict mode every finding gets its own session, named
// "<action>@<finding id>" and tagged with the finding, control and
// correlation ids, whose policy allows the actions of the resource's
// service on the finding's resource ARN only, in the finding's region.
// A finding that names its resource by a bare id (a bucket name, "sg-…",
// "snap-…", a key id) gets the ARN built from that id, the first pattern
// its type declares and the account's partition, account and region; one
// for which no ARN can be built (an undeclared type, an id holding a
// separator or a wildcard) is
// refused with a permanent error, never given a session scoped to every
// resource of its type. It costs one AssumeRole per finding.
//
// A session policy never exceeds 2048 characters: a policy that would is
// rebuilt with coarser resources, and if even the coarsest does not fit
// the finding fails with ErrPolicyTooLarge. No policy allows a write
// action on "Resource": "*".
//
// Both modes record the session's name for the finding's audit record
// (remediate.RecordSessionName → audit Correlation.SessionName), so that
// the customer account's CloudTrail entries, which carry it, join back to
// the finding.
//
// # Cache
//
// Sessions are cached per (account, role ARN, external id, session
// policy), and in Strict mode per finding. Each wraps the SDK's
// stscreds.AssumeRoleProvider in an aws.CredentialsCache, so concurrent
// first requests for one session make one AssumeRole call and expiry is
// the SDK's. The cache holds at most Options.MaxEntries sessions; an
// entry lives one session, after which the next lookup assumes the role
// again. A warm lookup is a clock read, a map lookup under a read lock and
// two small allocations for the per-finding API options, whatever the
// number of lookups.
//
// AssumeRole goes to the regional STS endpoint of Options.Region, or of
// the client's region when that is empty (the SDK resolves regional STS
// endpoints by default); Options.Region "aws-global" is refused. Regional
// endpoints issue session tokens valid in every region and keep working
// when another region's STS does not.
//
// # Errors
//
// AccessDenied (a wrong external id, an untrusted principal),
// MalformedPolicyDocument, PackedPolicyTooLarge and
// RegionDisabledException are permanent, through remediate.ClassifyAWS:
// the finding fails and goes to review. For 30 seconds after such an
// error, lookups for the same session fail with it without calling STS,
// so a misconfigured account costs one call, not one per finding.
// Throttling, 5xx and network errors stay transient, so the message is
// retried, and are not remembered.
//
// # Throttling
//
// A Throttle limits the calls a process makes to each (account, service)
// once AWS throttles them, adaptively (AIMD), so that a throttled customer
// account slows only its own findings; wrap the Cache with it:
//
//	th := crossaccount.NewThrottle()
//	engine, err := remediate.NewEngine(remediate.Options{Credentials: th.Source(cache), ...})
//
// A finding turned away fails with a transient *ThrottledError whose
// RetryAfter the transports (adapters/sqsworker, adapters/awslambda) use
// as its back-off in the queue.
package crossaccount
