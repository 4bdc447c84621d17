package crossaccount

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"

	"github.com/remedy-sec/remedy/remediate"
)

var _ remediate.CredentialSource = (*Cache)(nil)

// Mode says whether a session serves many findings or one.
type Mode uint8

const (
	// Shared, the default, gives all findings of one action in one
	// account one session, whose policy allows the action's IAM actions
	// on the account's resources of the remediator's types.
	Shared Mode = iota
	// Strict gives every finding its own session, whose policy allows
	// the IAM actions on the finding's resource where AWS can scope them.
	Strict
)

// String returns "shared" or "strict".
func (m Mode) String() string {
	switch m {
	case Shared:
		return "shared"
	case Strict:
		return "strict"
	}
	return fmt.Sprintf("Mode(%d)", m)
}

// Defaults and limits of Options.
const (
	DefaultDuration   = 15 * time.Minute
	MinDuration       = 15 * time.Minute // STS's minimum
	MaxDuration       = 12 * time.Hour   // STS's maximum
	DefaultMaxEntries = 1024
	// UserAgentKey names the user-agent entry that carries the finding id
	// on every AWS call made with a returned Config:
	// "remedy-finding/<id>".
	UserAgentKey = "remedy-finding"
	// maxUserAgentID bounds the finding id in the user agent; the SDK
	// replaces characters a user agent cannot carry.
	maxUserAgentID = 128
	// failureTTL is how long a permanent AssumeRole error is repeated
	// without asking STS again.
	failureTTL = 30 * time.Second
	// refreshWindow is how long before expiry credentials are renewed,
	// so a remediator never starts with credentials about to lapse.
	refreshWindow = time.Minute
)

// AssumeRoleAPI is the STS call the cache makes; *sts.Client implements it.
type AssumeRoleAPI interface {
	AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
}

// AssumeRoleAPIFunc adapts a function to an AssumeRoleAPI.
type AssumeRoleAPIFunc func(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)

// AssumeRole calls f(ctx, in, optFns...).
func (f AssumeRoleAPIFunc) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	return f(ctx, in, optFns...)
}

// Options configure a Cache.
type Options struct {
	// Mode is Shared (the default) or Strict.
	Mode Mode
	// Duration is the lifetime of each session, between 15 minutes and
	// 12 hours (and within the role's maximum session duration). Zero
	// means 15 minutes. A cache entry lives one session, less a minute:
	// the next lookup after that assumes the role again. Configs already
	// handed out keep renewing their credentials through the SDK's
	// credentials cache.
	Duration time.Duration
	// Region is the region of the STS endpoint AssumeRole calls go to.
	// Empty means the client's own region. Either way the SDK resolves a
	// regional endpoint (sts.REGION.amazonaws.com), whose session tokens
	// are valid in every region and which keeps working when another
	// region's STS is down; "aws-global" (the legacy global endpoint) is
	// refused.
	Region string
	// Base is the template of every returned aws.Config: HTTP client,
	// retryer, BaseEndpoint (for moto or LocalStack in tests), API
	// options. Region, Credentials and APIOptions are set per finding;
	// Base.APIOptions come first.
	Base aws.Config
	// Logger receives one debug line per new session and one warning per
	// failed AssumeRole. It never receives external ids or credentials.
	// Nil discards.
	Logger *slog.Logger
	// MaxEntries bounds the number of cached sessions. Zero means
	// DefaultMaxEntries. When full, a new session replaces one that has
	// not been used since the eviction hand last passed (CLOCK, an
	// approximation of least recently used).
	MaxEntries int
	// Now is the clock against which entries and credentials expire; nil
	// means time.Now. Only tests set it.
	Now func() time.Time
}

// Cache assumes roles in allowlisted accounts and caches the sessions.
// It implements remediate.CredentialSource and is safe for concurrent
// use.
//
// A session is identified by the account, its role ARN, a hash of its
// external id and a hash of its session policy, and in strict mode by the
// finding. On the hot path the cache finds it by account, action (and
// finding) and confirms that the Spec and finding it was built from still
// match, so a changed Spec gets a new session.
type Cache struct {
	sts       AssumeRoleAPI
	accounts  *Accounts
	o         Options
	log       *slog.Logger
	recordIDs func(*middleware.Stack) error
	// apiOptions are the APIOptions of every returned Config: Base's, the
	// finding's user agent and the recording of request ids, both read
	// from the context of each call. Its capacity is its length, so that
	// a caller appending to a Config's APIOptions copies them.
	apiOptions []func(*middleware.Stack) error
	start      time.Time // entry times are nanoseconds since start

	mu      sync.RWMutex
	entries map[entryKey]*entry
	ring    []*entry // CLOCK slots, len ≤ o.MaxEntries
	hand    int
}

type entryKey struct {
	account, action, finding string // finding is empty in shared mode
}

// entry is one cached session.
type entry struct {
	key entryKey
	// What the session was built from: a lookup that differs builds a new
	// session.
	iamActions, resourceTypes                     []string
	resources                                     map[string][]string
	resourceARN, resourceID, resourceType, region string // strict mode only
	controlID, correlationID                      string // strict mode only
	// The session's identity. The key determines it: the registry is
	// immutable and the policy is a function of the Spec, which matches
	// compares.
	roleARN, externalIDHash, policyHash string
	sessionName                         string // RoleSessionName

	creds   *aws.CredentialsCache
	clients remediate.Clients       // shared by the session's findings
	expires int64                   // see Cache.now
	fresh   atomic.Int64            // credentials valid until, see Cache.now
	failed  atomic.Pointer[failure] // the last permanent AssumeRole error
	ref     atomic.Bool
	slot    int
}

// failure is a permanent AssumeRole error, repeated to lookups until
// it expires rather than sent to STS again for every finding.
type failure struct {
	err   error
	until int64 // see Cache.now
}

// New returns a Cache that assumes roles in accounts through client,
// usually an *sts.Client of the platform account.
func New(client AssumeRoleAPI, accounts *Accounts, optFns ...func(*Options)) (*Cache, error) {
	var o Options
	for _, fn := range optFns {
		fn(&o)
	}
	switch {
	case client == nil:
		return nil, errors.New("crossaccount: New: nil AssumeRoleAPI; pass sts.NewFromConfig(cfg)")
	case accounts == nil:
		return nil, errors.New("crossaccount: New: nil Accounts; use LoadAccounts or ReadAccounts")
	case o.Mode > Strict:
		return nil, fmt.Errorf("crossaccount: New: unknown %s", o.Mode)
	case o.Duration != 0 && (o.Duration < MinDuration || o.Duration > MaxDuration):
		return nil, fmt.Errorf("crossaccount: New: Duration %s is outside STS's %s to %s", o.Duration, MinDuration, MaxDuration)
	case o.Region == "aws-global":
		return nil, errors.New(`crossaccount: New: Region "aws-global" selects the global STS endpoint; name a region`)
	case o.Region != "" && !isRegion(o.Region):
		return nil, fmt.Errorf("crossaccount: New: Region %q is not a region name", o.Region)
	case o.MaxEntries < 0:
		return nil, fmt.Errorf("crossaccount: New: MaxEntries %d is negative", o.MaxEntries)
	}
	if o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	if o.MaxEntries == 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cache{
		accounts:  accounts,
		o:         o,
		log:       log,
		recordIDs: recordRequestIDs(remediate.RecordRequestID),
		entries:   make(map[entryKey]*entry),
	}
	c.start = c.wallNow()
	c.apiOptions = slices.Clip(append(slices.Clone(o.Base.APIOptions), addFindingUserAgent, c.recordIDs))
	c.sts = stsClient{api: client, region: o.Region, recordIDs: c.recordIDs}
	return c, nil
}

// Config returns an AWS configuration that acts in f's account and
// region with the permissions s declares. Credentials come from a cached
// session (assumed on first use, then shared per Mode); Config retrieves
// them before it returns, so a role that cannot be assumed fails here.
//
// The returned configuration carries f's region, the session's
// credentials provider and two API options: a user-agent entry
// "remedy-finding/<f.ID>", and a middleware that records the AWS request
// id of every response with remediate.RecordRequestID. Called by the
// engine (a ctx for which remediate.FindingID reports f.ID), the
// configuration names no finding: every finding of the session gets the
// same one, the user-agent entry is taken from the context of each call,
// and Config shares the session's clients with remediate.ShareClients,
// so that its findings reuse the SDK clients remediate.Client builds
// rather than building their own. Called with any other context, the
// user-agent entry is f's, whatever context the calls are made in. Config records
// the session's RoleSessionName (see SessionName) with
// remediate.RecordSessionName, so that the finding's audit record names
// the session its calls were made in — or, when AssumeRole failed, the
// session it tried.
//
// Errors: an account not allowlisted (ErrNotAllowlisted), a region not
// allowed (ErrRegionNotAllowed), a resource ARN (in Resource.ARN or
// Resource.ID) in another partition than the account's role
// (ErrWrongPartition), a Spec that no session policy can hold
// (ErrPolicyTooLarge) and STS's AccessDenied, MalformedPolicyDocument,
// PackedPolicyTooLarge and RegionDisabledException are permanent; the
// first four never reach STS, and a permanent STS error is returned
// again, without a call, to the session's lookups of the next 30 seconds.
// Throttling, 5xx and network errors are transient.
func (c *Cache) Config(ctx context.Context, f *remediate.Finding, s remediate.Spec) (aws.Config, error) {
	if f == nil {
		return aws.Config{}, remediate.Permanentf("crossaccount: Config: nil finding")
	}
	acc, err := c.accounts.lookup(f.Resource.Account, f.Resource.Region)
	if err != nil {
		return aws.Config{}, err
	}
	if s.Action == "" {
		return aws.Config{}, remediate.Permanentf("crossaccount: Config: the Spec names no action")
	}
	if a, ok := arnAccount(f.Resource.ARN); ok && a != "" && a != acc.id {
		return aws.Config{}, remediate.Permanentf("crossaccount: finding %s names account %s but its resource %s belongs to %s", f.ID, acc.id, f.Resource.ARN, a)
	}
	// Checked in both modes: a shared session's policy names the
	// account's partition, but a bucket ARN carries no account, so only
	// the partition tells an aws-cn bucket from an aws one of that name.
	for _, id := range [...]string{f.Resource.ARN, f.Resource.ID} {
		if p, ok := arnPartition(id); ok && p != acc.partition {
			return aws.Config{}, remediate.Permanent(fmt.Errorf("%w: finding %s names resource %s in partition %q, but account %s is in %q",
				ErrWrongPartition, f.ID, id, p, acc.id, acc.partition))
		}
	}
	k := entryKey{account: acc.id, action: s.Action}
	if c.o.Mode == Strict {
		if f.ID == "" {
			return aws.Config{}, remediate.Permanentf("crossaccount: Config: strict mode needs a finding id")
		}
		k.finding = f.ID
	}
	now := c.now()
	e := c.get(k, f, s, now)
	if e == nil {
		if e, err = c.add(k, acc, f, s, now); err != nil {
			return aws.Config{}, err
		}
	}
	remediate.RecordSessionName(ctx, e.sessionName)
	if now >= e.fresh.Load() {
		if fl := e.failed.Load(); fl != nil && now < fl.until {
			return aws.Config{}, fl.err
		}
		if err := c.retrieve(ctx, e, acc, f, s, now); err != nil {
			return aws.Config{}, err
		}
	}
	cfg := c.o.Base
	cfg.Region = f.Resource.Region
	cfg.Credentials = e.creds
	cfg.APIOptions = c.apiOptions
	if id, ok := remediate.FindingID(ctx); ok && id == f.ID {
		remediate.ShareClients(ctx, &e.clients)
	} else if f.ID != "" {
		// Calls made with this configuration may be made in a context
		// that names no finding: f's id goes with the configuration.
		cfg.APIOptions = append(c.apiOptions, awsmiddleware.AddUserAgentKeyValue(UserAgentKey, userAgentID(f.ID)))
	}
	return cfg, nil
}

// userAgentID returns the finding id as the user agent carries it.
func userAgentID(id string) string {
	if len(id) > maxUserAgentID {
		return id[:maxUserAgentID]
	}
	return id
}

// addFindingUserAgent adds to the user agent of a call the entry
// "remedy-finding/<id>" of the finding the call's context belongs to
// (remediate.FindingID). It is in the APIOptions of every configuration,
// so that one SDK client serves the findings of a session.
func addFindingUserAgent(st *middleware.Stack) error {
	mw := middleware.BuildMiddlewareFunc("RemedyFindingUserAgent", func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
		if id, _ := remediate.FindingID(ctx); id != "" {
			// The SDK adds its user-agent middleware to the stack of every
			// operation, before the API options run.
			if ua, ok := st.Build.Get((*awsmiddleware.RequestUserAgent)(nil).ID()); ok {
				if ua, ok := ua.(*awsmiddleware.RequestUserAgent); ok {
					ua.AddUserAgentKeyValue(UserAgentKey, userAgentID(id))
				}
			}
		}
		return next.HandleBuild(ctx, in)
	})
	// Before: it runs ahead of the user-agent middleware, which writes
	// the header.
	return st.Build.Add(mw, middleware.Before)
}

// retrieve gets e's credentials, assuming the role if the SDK's cache
// holds none that are valid, and notes until when they are fresh so that
// warm lookups skip the SDK cache (and its clock read).
// A permanent error is remembered for failureTTL, so that a role that
// cannot be assumed costs one STS call per failureTTL, not one per
// finding.
func (c *Cache) retrieve(ctx context.Context, e *entry, acc *account, f *remediate.Finding, s remediate.Spec, now int64) error {
	creds, err := e.creds.Retrieve(ctx)
	if err != nil {
		err = fmt.Errorf("crossaccount: assume %s for %q: %w", acc.roleARN, s.Action, remediate.ClassifyAWS(err))
		permanent := remediate.IsPermanent(err)
		if permanent {
			e.failed.Store(&failure{err: err, until: now + int64(failureTTL)})
		}
		c.log.LogAttrs(ctx, slog.LevelWarn, "assume role failed",
			slog.String("account", acc.id), slog.String("role", acc.roleARN), slog.String("action", s.Action),
			slog.String("finding_id", f.ID), slog.Bool("permanent", permanent), slog.Any("error", err))
		return err
	}
	e.failed.Store(nil)
	fresh := e.expires
	if creds.CanExpire {
		// Expires is already brought forward by the refresh window.
		fresh = min(fresh, int64(creds.Expires.Sub(c.start)))
	}
	e.fresh.Store(fresh)
	return nil
}

// now returns the time since the cache was made, in nanoseconds: the
// clock of entry expiry. Without Options.Now it reads only the monotonic
// clock, about half the cost of time.Now on the lookup path.
func (c *Cache) now() int64 {
	if c.o.Now != nil {
		return int64(c.o.Now().Sub(c.start))
	}
	return int64(time.Since(c.start))
}

func (c *Cache) wallNow() time.Time {
	if c.o.Now != nil {
		return c.o.Now()
	}
	return time.Now()
}

// Len returns the number of cached sessions.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// get returns the live entry for k built from f and s, or nil.
func (c *Cache) get(k entryKey, f *remediate.Finding, s remediate.Spec, now int64) *entry {
	c.mu.RLock()
	e := c.entries[k]
	c.mu.RUnlock()
	if e == nil || now >= e.expires || !e.matches(f, s, c.o.Mode == Strict) {
		return nil
	}
	if !e.ref.Load() { // read first: a hot entry's cache line stays shared
		e.ref.Store(true)
	}
	return e
}

func (e *entry) matches(f *remediate.Finding, s remediate.Spec, strict bool) bool {
	if !slices.Equal(e.iamActions, s.IAMActions) || !slices.Equal(e.resourceTypes, s.ResourceTypes) ||
		!maps.EqualFunc(e.resources, s.Resources, slices.Equal) {
		return false
	}
	return !strict || (e.resourceARN == f.Resource.ARN && e.resourceID == f.Resource.ID && e.resourceType == f.Resource.Type &&
		e.region == f.Resource.Region && e.controlID == f.Control.ID && e.correlationID == f.CorrelationID)
}

// add builds the session for k and caches it, unless another goroutine
// cached a matching one first.
func (c *Cache) add(k entryKey, acc *account, f *remediate.Finding, s remediate.Spec, now int64) (*entry, error) {
	if err := s.Validate(); err != nil {
		return nil, remediate.Permanent(fmt.Errorf("crossaccount: account %s, action %q: %w", acc.id, s.Action, err))
	}
	strict := c.o.Mode == Strict
	sc := Scope{Partition: acc.partition, Account: acc.id, Regions: acc.regions}
	name, source := SessionName(s.Action, ""), SourceIdentity(s.Action, "")
	if strict {
		arn, err := strictResourceARN(f, s, acc.partition, acc.id)
		if err != nil {
			return nil, remediate.Permanent(err)
		}
		sc.Regions = []string{f.Resource.Region}
		sc.ResourceARN = arn
		name, source = SessionName(s.Action, f.ID), SourceIdentity(s.Action, f.ID)
	}
	policy, err := SessionPolicy(s, sc)
	if err != nil {
		return nil, fmt.Errorf("crossaccount: account %s, action %q: %w", acc.id, s.Action, err)
	}
	sum := sha256.Sum256([]byte(policy))
	e := &entry{
		key:            k,
		iamActions:     slices.Clone(s.IAMActions),
		resourceTypes:  slices.Clone(s.ResourceTypes),
		resources:      cloneResources(s.Resources),
		sessionName:    name,
		roleARN:        acc.roleARN,
		externalIDHash: acc.externalIDHash,
		policyHash:     hex.EncodeToString(sum[:8]),
		expires:        now + int64(c.o.Duration-refreshWindow),
	}
	if strict {
		e.resourceARN, e.resourceID, e.resourceType, e.region = f.Resource.ARN, f.Resource.ID, f.Resource.Type, f.Resource.Region
		e.controlID, e.correlationID = f.Control.ID, f.CorrelationID
	}
	tags := SessionTags(f, s.Action, c.o.Mode)
	provider := stscreds.NewAssumeRoleProvider(c.sts, acc.roleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = name
		o.SourceIdentity = aws.String(source)
		o.ExternalID = aws.String(acc.externalID)
		o.Duration = c.o.Duration
		o.Policy = aws.String(policy)
		o.Tags = tags
	})
	e.creds = aws.NewCredentialsCache(provider, func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = refreshWindow })

	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.entries[k]
	if old != nil && now < old.expires && old.matches(f, s, strict) {
		return old, nil // another goroutine won the race
	}
	c.insert(e, old, now)
	c.log.Debug("new session",
		slog.String("account", acc.id), slog.String("role", acc.roleARN), slog.String("action", s.Action),
		slog.String("mode", c.o.Mode.String()), slog.String("session_name", name),
		slog.String("policy_sha256", e.policyHash), slog.Int("policy_chars", len(policy)))
	return e, nil
}

// cloneResources copies Spec.Resources, so that a caller changing its
// map cannot change what a cached session was built from.
func cloneResources(m map[string][]string) map[string][]string {
	out := make(map[string][]string, len(m))
	for t, ps := range m {
		out[t] = slices.Clone(ps)
	}
	return out
}

// insert puts e in the cache, in old's slot if old is the stale entry of
// the same key, else in a free slot, else in the slot of a CLOCK victim.
// c.mu is held.
func (c *Cache) insert(e, old *entry, now int64) {
	switch {
	case old != nil:
		e.slot = old.slot
	case len(c.ring) < c.o.MaxEntries:
		e.slot = len(c.ring)
		c.ring = append(c.ring, nil)
	default:
		// Each pass clears reference bits, so this ends within two turns.
		for {
			v := c.ring[c.hand]
			if now >= v.expires || !v.ref.Load() {
				delete(c.entries, v.key)
				e.slot = c.hand
				c.hand = (c.hand + 1) % len(c.ring)
				break
			}
			v.ref.Store(false)
			c.hand = (c.hand + 1) % len(c.ring)
		}
	}
	c.ring[e.slot] = e
	c.entries[e.key] = e
}

// recordRequestIDs returns middleware that passes the AWS request id of
// every response, failed ones included, to record. It runs once per
// attempt, so retried calls leave every id.
func recordRequestIDs(record func(context.Context, string)) func(*middleware.Stack) error {
	mw := middleware.DeserializeMiddlewareFunc("RemedyRecordRequestID", func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
		out, md, err := next.HandleDeserialize(ctx, in)
		if id, ok := awsmiddleware.GetRequestIDMetadata(md); ok {
			record(ctx, id)
		}
		return out, md, err
	})
	return func(st *middleware.Stack) error {
		// Before: outermost in the step, so it sees the metadata that the
		// SDK's request-id retriever has set.
		return st.Deserialize.Add(mw, middleware.Before)
	}
}

// stsClient sends AssumeRole to the configured regional endpoint and
// records its request id for the finding whose lookup caused the call.
type stsClient struct {
	api       AssumeRoleAPI
	region    string
	recordIDs func(*middleware.Stack) error
}

func (c stsClient) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	optFns = append(optFns, func(o *sts.Options) {
		if c.region != "" {
			o.Region = c.region
		}
		o.APIOptions = append(o.APIOptions, c.recordIDs)
	})
	return c.api.AssumeRole(ctx, in, optFns...)
}
