package s3encryption

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediators/internal/evidence"
	"github.com/remedy-sec/remedy/remediators/internal/resource"
	"github.com/remedy-sec/remedy/remediators/internal/s3client"
)

// Action is the remediator's action name.
const Action = "s3-default-encryption"

// ResourceType is the native resource type it fixes.
const ResourceType = "bucket"

// Server-side encryption algorithms as S3 names them.
const (
	AlgorithmAES256  = "AES256"
	AlgorithmKMS     = "aws:kms"
	AlgorithmKMSDSSE = "aws:kms:dsse"
)

// ErrNotCompliant is returned by Verify when the bucket's default
// encryption does not satisfy the remediator's options.
var ErrNotCompliant = errors.New("s3encryption: bucket default encryption is not compliant")

// Options configure a Remediator.
type Options struct {
	// KMSKeyID, if set, is the KMS key Apply sets on a bucket that has no
	// default encryption or only SSE-S3: a key ARN
	// ("arn:aws:kms:eu-west-1:111122223333:key/…"), an alias ARN, or a
	// key id or alias name ("alias/s3-default"), which S3 resolves in the
	// bucket's own account. A key ARN or alias ARN must be in the
	// bucket's account and region; for any other bucket Plan returns a
	// permanent error and nothing is written. Empty means SSE-S3.
	KMSKeyID string
	// BucketKeyEnabled turns on S3 Bucket Keys when Apply sets SSE-KMS,
	// which cuts KMS request costs.
	BucketKeyEnabled bool
	// UsePathStyle addresses buckets as ENDPOINT/BUCKET rather than
	// BUCKET.ENDPOINT. Emulators such as moto need it; S3 does not.
	UsePathStyle bool
	// ClientOptions are applied to every S3 client the remediator builds,
	// after UsePathStyle.
	ClientOptions []func(*s3.Options)
}

// Remediator sets a bucket's default encryption. Build it with New; it is
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
	o.ClientOptions = slices.Clone(o.ClientOptions)
	return &Remediator{opts: o}
}

// Rule is one default-encryption rule.
type Rule struct {
	Algorithm        string `json:"algorithm"`
	KMSKeyID         string `json:"kms_key_id,omitempty"`
	BucketKeyEnabled bool   `json:"bucket_key_enabled,omitempty"`
}

// State is a bucket's default encryption as it appears in Plan.Before,
// Plan.After, Plan.Rollback, Result.After and Result.Rollback.
type State struct {
	Bucket string `json:"bucket"`
	// Configured is false when the bucket has no default encryption.
	Configured bool   `json:"configured"`
	Rules      []Rule `json:"rules,omitempty"`
}

// compliant reports whether s satisfies the options. SSE-KMS and
// DSSE-KMS, with whatever key (the bucket's own customer-managed key or
// the AWS-managed one), are always compliant: replacing the bucket's
// key, or DSSE-KMS by SSE-KMS, would override its owner's choice or
// weaken it. SSE-S3 is compliant unless a KMS key is configured.
func (o Options) compliant(s State) bool {
	if !s.Configured {
		return false
	}
	for _, r := range s.Rules {
		switch r.Algorithm {
		case AlgorithmKMS, AlgorithmKMSDSSE:
			return true
		case AlgorithmAES256:
			if o.KMSKeyID == "" {
				return true
			}
		}
	}
	return false
}

// checkKey returns a permanent error unless the configured KMS key may
// encrypt a bucket of account owner in region: a key or alias ARN must
// be in that partition, account and region (S3 uses only keys of the
// bucket's region, and a key of another account would put the bucket's
// objects in that account's hands). A key id or alias name is resolved
// by S3 in the caller's account, which is the bucket's (every call names
// it as the expected bucket owner).
func (o Options) checkKey(bucket, owner, region string) error {
	if !strings.HasPrefix(o.KMSKeyID, "arn:") {
		return nil
	}
	a, err := arn.Parse(o.KMSKeyID)
	switch {
	case err != nil:
		return remediate.Permanentf("s3encryption: Options.KMSKeyID %q is not a well-formed ARN (%v); configure a key ARN, key id or alias name", o.KMSKeyID, err)
	case a.Service != "kms":
		return remediate.Permanentf("s3encryption: Options.KMSKeyID %q is not a KMS ARN; configure a key ARN, key id or alias name", o.KMSKeyID)
	case a.AccountID != owner:
		return remediate.Permanentf("s3encryption: the configured KMS key %s is in account %s, but bucket %s is in account %s: "+
			"S3 would encrypt the bucket's objects under another account's key, so nothing was changed; "+
			"configure a key of the bucket's account, or an alias name (alias/NAME) that each account defines", o.KMSKeyID, a.AccountID, bucket, owner)
	case a.Partition != resource.Partition(region) || region != "" && a.Region != region:
		return remediate.Permanentf("s3encryption: the configured KMS key %s is in region %s (partition %s), but bucket %s is reached in region %s: "+
			"S3 uses only keys of the bucket's region, so nothing was changed; configure a key of that region, or an alias name (alias/NAME) that each region defines",
			o.KMSKeyID, a.Region, a.Partition, bucket, region)
	}
	return nil
}

// want is the state Apply produces.
func (o Options) want(bucket string) State {
	r := Rule{Algorithm: AlgorithmAES256}
	if o.KMSKeyID != "" {
		r = Rule{Algorithm: AlgorithmKMS, KMSKeyID: o.KMSKeyID, BucketKeyEnabled: o.BucketKeyEnabled}
	}
	return State{Bucket: bucket, Configured: true, Rules: []Rule{r}}
}

func (s State) String() string {
	if !s.Configured || len(s.Rules) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(s.Rules))
	for _, r := range s.Rules {
		p := r.Algorithm
		if r.KMSKeyID != "" {
			p += " with key " + r.KMSKeyID
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

// Spec describes the remediator.
func (r *Remediator) Spec() remediate.Spec {
	return remediate.Spec{
		Action:        Action,
		Description:   "Sets default encryption on a bucket without it (or, with a configured KMS key, on one with only SSE-S3): SSE-S3, or SSE-KMS with that key.",
		ResourceTypes: []string{ResourceType},
		Resources:     map[string][]string{ResourceType: {"arn:{partition}:s3:::*"}},
		IAMActions:    []string{"s3:GetEncryptionConfiguration", "s3:PutEncryptionConfiguration"},
	}
}

// Plan reads the bucket's default encryption and returns what Apply would
// set. It changes nothing.
func (r *Remediator) Plan(ctx context.Context, t remediate.Target) (remediate.Plan, error) {
	bucket, owner, err := s3client.Bucket(t)
	if err != nil {
		return remediate.Plan{}, err
	}
	before, err := r.read(ctx, r.client(t), bucket, owner)
	if err != nil {
		return remediate.Plan{}, err
	}
	p := remediate.Plan{Compliant: r.opts.compliant(before), Before: evidence.JSON(before), Rollback: evidence.JSON(before), Data: before}
	if p.Compliant {
		p.After = p.Before
		return p, nil
	}
	if err := r.opts.checkKey(bucket, owner, t.AWS.Region); err != nil {
		return remediate.Plan{}, err
	}
	after := r.opts.want(bucket)
	p.Changes = []string{fmt.Sprintf("set default encryption of bucket %s from %s to %s", bucket, before, after)}
	p.After = evidence.JSON(after)
	return p, nil
}

// Apply sets the default encryption. It does nothing when p is compliant.
// Result.Rollback holds the prior configuration.
func (r *Remediator) Apply(ctx context.Context, t remediate.Target, p remediate.Plan) (remediate.Result, error) {
	bucket, owner, err := s3client.Bucket(t)
	if err != nil {
		return remediate.Result{}, err
	}
	before, ok := p.Data.(State)
	if !ok || before.Bucket != bucket {
		if p, err = r.Plan(ctx, t); err != nil {
			return remediate.Result{}, err
		}
		before = p.Data.(State)
	}
	if r.opts.compliant(before) {
		return remediate.Result{After: evidence.JSON(before)}, nil
	}
	if err := r.opts.checkKey(bucket, owner, t.AWS.Region); err != nil {
		return remediate.Result{}, err
	}
	after := r.opts.want(bucket)
	out, err := r.client(t).PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{
		Bucket:                            aws.String(bucket),
		ExpectedBucketOwner:               aws.String(owner),
		ServerSideEncryptionConfiguration: config(after),
	})
	if err != nil {
		return remediate.Result{}, remediate.ClassifyAWS(fmt.Errorf("s3encryption: put encryption of bucket %s: %w", bucket, err))
	}
	return remediate.Result{
		After:      evidence.JSON(after),
		Rollback:   evidence.JSON(before),
		RequestIDs: evidence.RequestIDs(nil, out.ResultMetadata),
	}, nil
}

// Verify reads the default encryption back and returns an error wrapping
// ErrNotCompliant unless it satisfies the options.
func (r *Remediator) Verify(ctx context.Context, t remediate.Target, _ remediate.Plan) error {
	bucket, owner, err := s3client.Bucket(t)
	if err != nil {
		return err
	}
	s, err := r.read(ctx, r.client(t), bucket, owner)
	if err != nil {
		return err
	}
	if !r.opts.compliant(s) {
		return fmt.Errorf("%w: bucket %s uses %s, want %s", ErrNotCompliant, bucket, s, r.opts.want(bucket))
	}
	return nil
}

// Rollback restores the configuration in rollback (a State from
// Result.Rollback): it writes the prior rules back, or deletes the
// configuration when the bucket had none.
func (r *Remediator) Rollback(ctx context.Context, t remediate.Target, rollback json.RawMessage) error {
	bucket, owner, err := s3client.Bucket(t)
	if err != nil {
		return err
	}
	var prior State
	if err := json.Unmarshal(rollback, &prior); err != nil {
		return remediate.Permanentf("s3encryption: rollback data: %w", err)
	}
	if prior.Bucket != bucket {
		return remediate.Permanentf("s3encryption: rollback data is for bucket %q, not %q", prior.Bucket, bucket)
	}
	c := r.client(t)
	if !prior.Configured || len(prior.Rules) == 0 {
		_, err = c.DeleteBucketEncryption(ctx, &s3.DeleteBucketEncryptionInput{
			Bucket:              aws.String(bucket),
			ExpectedBucketOwner: aws.String(owner),
		})
	} else {
		_, err = c.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{
			Bucket:                            aws.String(bucket),
			ExpectedBucketOwner:               aws.String(owner),
			ServerSideEncryptionConfiguration: config(prior),
		})
	}
	if err != nil {
		return remediate.ClassifyAWS(fmt.Errorf("s3encryption: restore encryption of bucket %s: %w", bucket, err))
	}
	return nil
}

func (r *Remediator) client(t remediate.Target) *s3.Client {
	return s3client.For(t, r.opts.UsePathStyle, r.opts.ClientOptions)
}

func (r *Remediator) read(ctx context.Context, c *s3.Client, bucket, owner string) (State, error) {
	out, err := c.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{
		Bucket:              aws.String(bucket),
		ExpectedBucketOwner: aws.String(owner),
	})
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "ServerSideEncryptionConfigurationNotFoundError" {
		return State{Bucket: bucket}, nil
	}
	if err != nil {
		return State{}, remediate.ClassifyAWS(fmt.Errorf("s3encryption: get encryption of bucket %s: %w", bucket, err))
	}
	s := State{Bucket: bucket, Configured: true}
	if c := out.ServerSideEncryptionConfiguration; c != nil {
		for _, rule := range c.Rules {
			var rr Rule
			if d := rule.ApplyServerSideEncryptionByDefault; d != nil {
				rr.Algorithm = string(d.SSEAlgorithm)
				rr.KMSKeyID = aws.ToString(d.KMSMasterKeyID)
			}
			rr.BucketKeyEnabled = aws.ToBool(rule.BucketKeyEnabled)
			s.Rules = append(s.Rules, rr)
		}
	}
	return s, nil
}

func config(s State) *types.ServerSideEncryptionConfiguration {
	c := &types.ServerSideEncryptionConfiguration{}
	for _, r := range s.Rules {
		d := &types.ServerSideEncryptionByDefault{SSEAlgorithm: types.ServerSideEncryption(r.Algorithm)}
		if r.KMSKeyID != "" {
			d.KMSMasterKeyID = aws.String(r.KMSKeyID)
		}
		rule := types.ServerSideEncryptionRule{ApplyServerSideEncryptionByDefault: d}
		if r.BucketKeyEnabled {
			rule.BucketKeyEnabled = aws.Bool(true)
		}
		c.Rules = append(c.Rules, rule)
	}
	return c
}
