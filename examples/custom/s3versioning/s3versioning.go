// Package s3versioning is a custom Remedy remediator, written as a team
// writes its own outside the remedy module: it turns on versioning of
// an S3 bucket, so that an overwritten or deleted object can be
// recovered.
//
// The action is "s3-enable-versioning"; it fixes resources of the
// native type "bucket". It calls s3:GetBucketVersioning and
// s3:PutBucketVersioning, and nothing else:
//
//	r := s3versioning.New()
//	plan, err := r.Plan(ctx, target)       // reads the versioning status
//	res, err := r.Apply(ctx, target, plan) // sets it to Enabled, unless it is
//	err = r.Verify(ctx, target, plan)      // reads it back
//	err = r.Rollback(ctx, target, res.Rollback)
//
// S3 cannot take a bucket back to "never versioned": once versioning has
// been on, the bucket is Enabled or Suspended. Rollback therefore
// suspends versioning on a bucket that was unversioned or suspended
// before the fix: no new versions are kept, and the versions made while
// it was on stay. A bucket with S3 Object Lock cannot be suspended; S3
// answers InvalidBucketState, which the Spec declares permanent, so the
// rollback goes to a person instead of being retried.
//
// Every call names the finding's account as the expected bucket owner,
// so S3 refuses a bucket of that name in any other account. A finding
// that does not say clearly which bucket in which account it means gets
// a permanent error before any call.
package s3versioning

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/remedy-sec/remedy/remediate"
)

// Action is the remediator's action name, as policies name it.
const Action = "s3-enable-versioning"

// ResourceType is the native resource type it fixes.
const ResourceType = "bucket"

// S3's versioning statuses. A bucket that was never versioned has none.
const (
	StatusEnabled   = "Enabled"
	StatusSuspended = "Suspended"
)

// ErrNotCompliant is returned by Verify when versioning is not enabled.
var ErrNotCompliant = errors.New("s3versioning: bucket versioning is not enabled")

// Options configure a Remediator.
type Options struct {
	// UsePathStyle addresses buckets as ENDPOINT/BUCKET rather than
	// BUCKET.ENDPOINT. Emulators such as moto need it; S3 does not. The
	// deployment's REMEDY_S3_PATH_STYLE sets deploy.Config.PathStyleS3,
	// which a main passes on here.
	UsePathStyle bool
}

// Remediator enables versioning of a bucket. Build it with New; it is
// safe for concurrent use.
type Remediator struct {
	opts Options
}

var (
	_ remediate.Remediator = (*Remediator)(nil)
	_ remediate.Verifier   = (*Remediator)(nil)
	_ remediate.Rollbacker = (*Remediator)(nil)
)

// New returns a Remediator configured by optFns.
func New(optFns ...func(*Options)) *Remediator {
	var o Options
	for _, fn := range optFns {
		fn(&o)
	}
	return &Remediator{opts: o}
}

// State is a bucket's versioning as it appears in the evidence (Plan.Before,
// Plan.After, Result.After) and in the rollback data (Plan.Rollback,
// Result.Rollback).
type State struct {
	Bucket string `json:"bucket"`
	// Status is "" for a bucket that was never versioned, StatusEnabled
	// or StatusSuspended.
	Status string `json:"status"`
}

// Compliant reports whether versioning is enabled.
func (s State) Compliant() bool { return s.Status == StatusEnabled }

func (s State) describe() string {
	if s.Status == "" {
		return "unversioned"
	}
	return s.Status
}

// Spec declares what the remediator does and needs. The engine, the
// session policy of every AssumeRole and `remedy iam-policy` are derived
// from it.
func (r *Remediator) Spec() remediate.Spec {
	return remediate.Spec{
		Action:        Action,
		Description:   "Enables versioning of an S3 bucket.",
		ResourceTypes: []string{ResourceType},
		// The session may act on buckets only: arn:aws:s3:::NAME.
		Resources:  map[string][]string{ResourceType: {"arn:{partition}:s3:::*"}},
		IAMActions: []string{"s3:GetBucketVersioning", "s3:PutBucketVersioning"},
		// Object Lock forbids suspending versioning; retrying cannot help.
		PermanentErrorCodes: []string{"InvalidBucketState"},
	}
}

// Plan reads the bucket's versioning status and returns what Apply would
// change. It makes no write.
func (r *Remediator) Plan(ctx context.Context, t remediate.Target) (remediate.Plan, error) {
	bucket, owner, err := Bucket(t.Finding)
	if err != nil {
		return remediate.Plan{}, err
	}
	before, err := r.read(ctx, t, bucket, owner)
	if err != nil {
		return remediate.Plan{}, err
	}
	p := remediate.Plan{
		Compliant: before.Compliant(),
		Before:    toJSON(before),
		// Known before Apply: the engine keeps it with its intent, so a
		// change interrupted by a crash can still be undone.
		Rollback: toJSON(before),
		Data:     before,
	}
	if p.Compliant {
		p.After = p.Before
		return p, nil
	}
	p.After = toJSON(State{Bucket: bucket, Status: StatusEnabled})
	p.Changes = []string{fmt.Sprintf("set versioning of bucket %s from %s to %s", bucket, before.describe(), StatusEnabled)}
	return p, nil
}

// Apply enables versioning. It writes nothing when the plan is
// compliant, and applying the same plan twice is harmless: S3's
// PutBucketVersioning sets a state, it does not toggle one.
func (r *Remediator) Apply(ctx context.Context, t remediate.Target, p remediate.Plan) (remediate.Result, error) {
	bucket, owner, err := Bucket(t.Finding)
	if err != nil {
		return remediate.Result{}, err
	}
	before, ok := p.Data.(State)
	if !ok || before.Bucket != bucket {
		// A plan made elsewhere (or none): read live state again rather
		// than trust it.
		if p, err = r.Plan(ctx, t); err != nil {
			return remediate.Result{}, err
		}
		before = p.Data.(State)
	}
	if before.Compliant() {
		return remediate.Result{After: toJSON(before)}, nil
	}
	if err := r.put(ctx, t, bucket, owner, types.BucketVersioningStatusEnabled); err != nil {
		return remediate.Result{}, err
	}
	// The request ids need not be listed: the engine's middleware records
	// every call's id in the finding's audit record.
	return remediate.Result{
		After:    toJSON(State{Bucket: bucket, Status: StatusEnabled}),
		Rollback: toJSON(before),
	}, nil
}

// Verify reads the status back and returns an error wrapping
// ErrNotCompliant unless versioning is enabled.
func (r *Remediator) Verify(ctx context.Context, t remediate.Target, _ remediate.Plan) error {
	bucket, owner, err := Bucket(t.Finding)
	if err != nil {
		return err
	}
	s, err := r.read(ctx, t, bucket, owner)
	if err != nil {
		return err
	}
	if !s.Compliant() {
		return fmt.Errorf("%w: bucket %s is %s", ErrNotCompliant, bucket, s.describe())
	}
	return nil
}

// Rollback undoes Apply from its rollback data (a State): it suspends
// versioning when the bucket was unversioned or suspended before, the
// closest S3 allows to "never versioned", and does nothing when it was
// already enabled. Rolling back twice is harmless.
func (r *Remediator) Rollback(ctx context.Context, t remediate.Target, rollback json.RawMessage) error {
	bucket, owner, err := Bucket(t.Finding)
	if err != nil {
		return err
	}
	var prior State
	if err := json.Unmarshal(rollback, &prior); err != nil {
		return remediate.Permanentf("s3versioning: rollback data %q: %w", rollback, err)
	}
	if prior.Bucket != bucket {
		return remediate.Permanentf("s3versioning: rollback data is for bucket %q, not %q", prior.Bucket, bucket)
	}
	switch prior.Status {
	case StatusEnabled:
		return nil
	case "", StatusSuspended:
		return r.put(ctx, t, bucket, owner, types.BucketVersioningStatusSuspended)
	default:
		return remediate.Permanentf("s3versioning: rollback data for bucket %s has status %q, want \"\", %s or %s", bucket, prior.Status, StatusEnabled, StatusSuspended)
	}
}

// client returns the finding's S3 client: remediate.Client builds it
// once per finding from t.AWS, which carries the session's scoped
// credentials, user agent and request-id recording.
func (r *Remediator) client(t remediate.Target) *s3.Client {
	return remediate.Client(t, "s3", func() *s3.Client {
		return s3.NewFromConfig(t.AWS, func(o *s3.Options) { o.UsePathStyle = r.opts.UsePathStyle })
	})
}

func (r *Remediator) read(ctx context.Context, t remediate.Target, bucket, owner string) (State, error) {
	out, err := r.client(t).GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{
		Bucket:              aws.String(bucket),
		ExpectedBucketOwner: aws.String(owner),
	})
	if err != nil {
		// NoSuchBucket, AccessDenied… are permanent, throttling and 5xx
		// transient; the engine adds Spec.PermanentErrorCodes.
		return State{}, remediate.ClassifyAWS(fmt.Errorf("s3versioning: get versioning of bucket %s: %w", bucket, err))
	}
	return State{Bucket: bucket, Status: string(out.Status)}, nil
}

func (r *Remediator) put(ctx context.Context, t remediate.Target, bucket, owner string, status types.BucketVersioningStatus) error {
	_, err := r.client(t).PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(bucket),
		ExpectedBucketOwner:     aws.String(owner),
		VersioningConfiguration: &types.VersioningConfiguration{Status: status},
	})
	if err != nil {
		return remediate.ClassifyAWS(fmt.Errorf("s3versioning: set versioning of bucket %s to %s: %w", bucket, status, err))
	}
	return nil
}

// Bucket returns the bucket f is about and the account that must own
// it. f may name the bucket by ARN (arn:aws:s3:::NAME, in Resource.ARN or
// Resource.ID) and by name (Resource.ID or Resource.Name); every name it
// gives must be a bucket, and all must agree. Resource.Account must be a
// 12-digit account id. Every error is permanent: a finding that does not
// say clearly which bucket it means does not get better on retry, and a
// guess could change the wrong bucket.
func Bucket(f *remediate.Finding) (bucket, owner string, err error) {
	if f == nil {
		return "", "", remediate.Permanentf("s3versioning: no finding")
	}
	res := f.Resource
	if res.Cloud != "" && !strings.EqualFold(res.Cloud, "AWS") {
		return "", "", remediate.Permanentf("s3versioning: resource is in cloud %q, not AWS", res.Cloud)
	}
	var from string
	for _, n := range []struct{ field, value string }{{"ARN", res.ARN}, {"id", res.ID}, {"name", res.Name}} {
		if n.value == "" {
			continue
		}
		b, err := bucketName(n.value)
		if err != nil {
			return "", "", remediate.Permanentf("s3versioning: resource %s %q: %w", n.field, n.value, err)
		}
		if bucket != "" && b != bucket {
			return "", "", remediate.Permanentf("s3versioning: finding names two buckets: %s %q and %s %q", from, bucket, n.field, b)
		}
		bucket, from = b, n.field
	}
	if bucket == "" {
		return "", "", remediate.Permanentf("s3versioning: finding names no resource")
	}
	owner = res.Account
	if len(owner) != 12 || strings.Trim(owner, "0123456789") != "" {
		return "", "", remediate.Permanentf("s3versioning: finding's account %q is not a 12-digit id, so the bucket's owner cannot be checked", owner)
	}
	return bucket, owner, nil
}

// bucketName reads a bucket ARN or a bare bucket name.
func bucketName(s string) (string, error) {
	name := s
	if strings.HasPrefix(s, "arn:") {
		a, err := arn.Parse(s)
		if err != nil {
			return "", fmt.Errorf("is not a well-formed ARN: %w", err)
		}
		if a.Service != "s3" || a.Region != "" || a.AccountID != "" {
			return "", errors.New("is not an S3 bucket ARN (arn:PARTITION:s3:::NAME)")
		}
		name = a.Resource
	}
	if !validBucket(name) {
		return "", errors.New("does not name one bucket")
	}
	return name, nil
}

// validBucket reports whether s follows S3's bucket naming rules: 3 to
// 63 lower-case letters, digits, dots and hyphens, starting and ending
// with a letter or digit. An object key ("bucket/key") or a composite
// Wiz id ("bucket##md5##key") does not.
func validBucket(s string) bool {
	if len(s) < 3 || len(s) > 63 {
		return false
	}
	for i, c := range s {
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if (i == 0 || i == len(s)-1) && !alnum {
			return false
		}
		if !alnum && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// toJSON encodes a State; it cannot fail.
func toJSON(s State) json.RawMessage {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return b
}
