package s3publicaccess

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediators/internal/evidence"
	"github.com/remedy-sec/remedy/remediators/internal/s3client"
)

// Action is the remediator's action name.
const Action = "s3-block-public-access"

// ResourceType is the native resource type it fixes.
const ResourceType = "bucket"

// ErrNotCompliant is returned by Verify when the bucket still lacks one of
// the four flags.
var ErrNotCompliant = errors.New("s3publicaccess: bucket does not block public access")

// Options configure a Remediator.
type Options struct {
	// UsePathStyle addresses buckets as ENDPOINT/BUCKET rather than
	// BUCKET.ENDPOINT. Emulators such as moto need it; S3 does not.
	UsePathStyle bool
	// ClientOptions are applied to every S3 client the remediator builds,
	// after UsePathStyle.
	ClientOptions []func(*s3.Options)
}

// Remediator turns on all four Block Public Access flags of a bucket.
// Build it with New; it is safe for concurrent use.
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
	o.ClientOptions = slices.Clone(o.ClientOptions)
	return &Remediator{opts: o}
}

// State is a bucket's Block Public Access configuration as it appears in
// Plan.Before, Plan.After, Plan.Rollback, Result.After and Result.Rollback.
type State struct {
	Bucket string `json:"bucket"`
	// Configured is false when the bucket has no configuration at all,
	// which S3 treats as every flag off.
	Configured            bool `json:"configured"`
	BlockPublicAcls       bool `json:"block_public_acls"`
	IgnorePublicAcls      bool `json:"ignore_public_acls"`
	BlockPublicPolicy     bool `json:"block_public_policy"`
	RestrictPublicBuckets bool `json:"restrict_public_buckets"`
}

// Compliant reports whether all four flags are on.
func (s State) Compliant() bool {
	return s.BlockPublicAcls && s.IgnorePublicAcls && s.BlockPublicPolicy && s.RestrictPublicBuckets
}

// changes describes, flag by flag, how to go from s to all flags on.
func (s State) changes() []string {
	var out []string
	for _, f := range []struct {
		name string
		on   bool
	}{
		{"BlockPublicAcls", s.BlockPublicAcls},
		{"IgnorePublicAcls", s.IgnorePublicAcls},
		{"BlockPublicPolicy", s.BlockPublicPolicy},
		{"RestrictPublicBuckets", s.RestrictPublicBuckets},
	} {
		if !f.on {
			out = append(out, fmt.Sprintf("set %s of bucket %s from false to true", f.name, s.Bucket))
		}
	}
	return out
}

func blocked(bucket string) State {
	return State{Bucket: bucket, Configured: true, BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true}
}

// Spec describes the remediator.
func (r *Remediator) Spec() remediate.Spec {
	return remediate.Spec{
		Action:        Action,
		Description:   "Turns on all four S3 Block Public Access flags of a bucket.",
		ResourceTypes: []string{ResourceType},
		Resources:     map[string][]string{ResourceType: {"arn:{partition}:s3:::*"}},
		IAMActions:    []string{"s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock"},
	}
}

// Plan reads the bucket's configuration and returns the flags it would
// turn on. It changes nothing.
func (r *Remediator) Plan(ctx context.Context, t remediate.Target) (remediate.Plan, error) {
	bucket, owner, err := s3client.Bucket(t)
	if err != nil {
		return remediate.Plan{}, err
	}
	before, err := r.read(ctx, r.client(t), bucket, owner)
	if err != nil {
		return remediate.Plan{}, err
	}
	p := remediate.Plan{
		Compliant: before.Compliant(),
		Before:    evidence.JSON(before),
		Rollback:  evidence.JSON(before),
		Data:      before,
	}
	if p.Compliant {
		p.After = p.Before
		return p, nil
	}
	p.Changes = before.changes()
	p.After = evidence.JSON(blocked(bucket))
	return p, nil
}

// Apply turns all four flags on. It does nothing when p is compliant.
// Result.Rollback holds the prior configuration.
func (r *Remediator) Apply(ctx context.Context, t remediate.Target, p remediate.Plan) (remediate.Result, error) {
	bucket, owner, err := s3client.Bucket(t)
	if err != nil {
		return remediate.Result{}, err
	}
	before, ok := p.Data.(State)
	if !ok || before.Bucket != bucket {
		// A plan from elsewhere (or none): read the live state again
		// rather than trusting it.
		if p, err = r.Plan(ctx, t); err != nil {
			return remediate.Result{}, err
		}
		before = p.Data.(State)
	}
	if before.Compliant() {
		return remediate.Result{After: evidence.JSON(before)}, nil
	}
	out, err := r.client(t).PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{
		Bucket:                         aws.String(bucket),
		ExpectedBucketOwner:            aws.String(owner),
		PublicAccessBlockConfiguration: config(blocked(bucket)),
	})
	if err != nil {
		return remediate.Result{}, remediate.ClassifyAWS(fmt.Errorf("s3publicaccess: put public access block of bucket %s: %w", bucket, err))
	}
	return remediate.Result{
		After:      evidence.JSON(blocked(bucket)),
		Rollback:   evidence.JSON(before),
		RequestIDs: evidence.RequestIDs(nil, out.ResultMetadata),
	}, nil
}

// Verify reads the configuration back and returns an error wrapping
// ErrNotCompliant unless all four flags are on.
func (r *Remediator) Verify(ctx context.Context, t remediate.Target, _ remediate.Plan) error {
	bucket, owner, err := s3client.Bucket(t)
	if err != nil {
		return err
	}
	s, err := r.read(ctx, r.client(t), bucket, owner)
	if err != nil {
		return err
	}
	if !s.Compliant() {
		return fmt.Errorf("%w: bucket %s: %s", ErrNotCompliant, bucket, strings.Join(s.changes(), "; "))
	}
	return nil
}

// Rollback restores the configuration in rollback (a State from
// Result.Rollback): it writes the prior flags back, or deletes the
// configuration when the bucket had none.
func (r *Remediator) Rollback(ctx context.Context, t remediate.Target, rollback json.RawMessage) error {
	bucket, owner, err := s3client.Bucket(t)
	if err != nil {
		return err
	}
	var prior State
	if err := json.Unmarshal(rollback, &prior); err != nil {
		return remediate.Permanentf("s3publicaccess: rollback data: %w", err)
	}
	if prior.Bucket != bucket {
		return remediate.Permanentf("s3publicaccess: rollback data is for bucket %q, not %q", prior.Bucket, bucket)
	}
	c := r.client(t)
	if !prior.Configured {
		_, err = c.DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{
			Bucket:              aws.String(bucket),
			ExpectedBucketOwner: aws.String(owner),
		})
	} else {
		_, err = c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{
			Bucket:                         aws.String(bucket),
			ExpectedBucketOwner:            aws.String(owner),
			PublicAccessBlockConfiguration: config(prior),
		})
	}
	if err != nil {
		return remediate.ClassifyAWS(fmt.Errorf("s3publicaccess: restore public access block of bucket %s: %w", bucket, err))
	}
	return nil
}

func (r *Remediator) client(t remediate.Target) *s3.Client {
	return s3client.For(t, r.opts.UsePathStyle, r.opts.ClientOptions)
}

func (r *Remediator) read(ctx context.Context, c *s3.Client, bucket, owner string) (State, error) {
	out, err := c.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{
		Bucket:              aws.String(bucket),
		ExpectedBucketOwner: aws.String(owner),
	})
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchPublicAccessBlockConfiguration" {
		return State{Bucket: bucket}, nil
	}
	if err != nil {
		return State{}, remediate.ClassifyAWS(fmt.Errorf("s3publicaccess: get public access block of bucket %s: %w", bucket, err))
	}
	s := State{Bucket: bucket, Configured: true}
	if c := out.PublicAccessBlockConfiguration; c != nil {
		s.BlockPublicAcls = aws.ToBool(c.BlockPublicAcls)
		s.IgnorePublicAcls = aws.ToBool(c.IgnorePublicAcls)
		s.BlockPublicPolicy = aws.ToBool(c.BlockPublicPolicy)
		s.RestrictPublicBuckets = aws.ToBool(c.RestrictPublicBuckets)
	}
	return s, nil
}

func config(s State) *types.PublicAccessBlockConfiguration {
	return &types.PublicAccessBlockConfiguration{
		BlockPublicAcls:       aws.Bool(s.BlockPublicAcls),
		IgnorePublicAcls:      aws.Bool(s.IgnorePublicAcls),
		BlockPublicPolicy:     aws.Bool(s.BlockPublicPolicy),
		RestrictPublicBuckets: aws.Bool(s.RestrictPublicBuckets),
	}
}
