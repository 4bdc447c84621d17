package s3encryption

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
	// KMSKeyID, if set, is the KMS key (ARN or id) buckets must use by
	// default. Empty means SSE-S3.
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
	_ remediate.Reverter   = (*Remediator)(nil)
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
// Plan.After, Result.After and Result.Rollback.
type State struct {
	Bucket string `json:"bucket"`
	// Configured is false when the bucket has no default encryption.
	Configured bool   `json:"configured"`
	Rules      []Rule `json:"rules,omitempty"`
}

// compliant reports whether s satisfies the options.
func (o Options) compliant(s State) bool {
	if !s.Configured {
		return false
	}
	for _, r := range s.Rules {
		switch {
		case o.KMSKeyID == "" && (r.Algorithm == AlgorithmAES256 || r.Algorithm == AlgorithmKMS || r.Algorithm == AlgorithmKMSDSSE):
			return true
		case o.KMSKeyID != "" && (r.Algorithm == AlgorithmKMS || r.Algorithm == AlgorithmKMSDSSE) && r.KMSKeyID == o.KMSKeyID:
			return true
		}
	}
	return false
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
		Description:   "Sets a bucket's default encryption to SSE-S3, or to SSE-KMS with a configured key.",
		ResourceTypes: []string{ResourceType},
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
	p := remediate.Plan{Compliant: r.opts.compliant(before), Before: evidence.JSON(before), Data: before}
	if p.Compliant {
		p.After = p.Before
		return p, nil
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
