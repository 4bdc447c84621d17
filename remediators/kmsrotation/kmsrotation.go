package kmsrotation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediators/internal/evidence"
	"github.com/remedy-sec/remedy/remediators/internal/resource"
)

// Action is the remediator's action name.
const Action = "kms-enable-rotation"

// ResourceType is the native resource type it fixes.
const ResourceType = "kmsKey"

// ErrUnsupportedKey is wrapped by the permanent error Plan returns for a
// key whose rotation a customer cannot turn on (see the package doc).
var ErrUnsupportedKey = errors.New("kmsrotation: key does not support customer-enabled automatic rotation")

// ErrNotCompliant is returned by Verify when rotation is off.
var ErrNotCompliant = errors.New("kmsrotation: key rotation is not enabled")

// Options configure a Remediator.
type Options struct {
	// ClientOptions are applied to every KMS client the remediator builds.
	ClientOptions []func(*kms.Options)
}

// Remediator enables automatic rotation of customer-managed symmetric
// keys. Build it with New; it is safe for concurrent use.
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

// State is a key's rotation status as it appears in Plan.Before,
// Plan.After, Plan.Rollback, Result.After and Result.Rollback.
type State struct {
	KeyID           string `json:"key_id"`
	RotationEnabled bool   `json:"rotation_enabled"`
}

// Spec describes the remediator.
func (r *Remediator) Spec() remediate.Spec {
	return remediate.Spec{
		Action:        Action,
		Description:   "Enables automatic rotation of a customer-managed symmetric KMS key.",
		ResourceTypes: []string{ResourceType},
		Resources:     map[string][]string{ResourceType: {"arn:{partition}:kms:{region}:{account}:key/*"}},
		IAMActions: []string{
			"kms:DescribeKey",
			"kms:GetKeyRotationStatus",
			"kms:EnableKeyRotation",
			"kms:DisableKeyRotation",
		},
	}
}

// Plan reads the key's metadata and rotation status. It changes nothing.
// A key whose rotation cannot be turned on gives a permanent error
// wrapping ErrUnsupportedKey.
func (r *Remediator) Plan(ctx context.Context, t remediate.Target) (remediate.Plan, error) {
	key, err := keyOf(t)
	if err != nil {
		return remediate.Plan{}, err
	}
	c := r.client(t)
	d, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(key)})
	if err != nil {
		return remediate.Plan{}, remediate.ClassifyAWS(fmt.Errorf("kmsrotation: describe key %s: %w", key, err))
	}
	if err := rotatable(d.KeyMetadata); err != nil {
		return remediate.Plan{}, remediate.Permanent(fmt.Errorf("key %s: %w", key, err))
	}
	before, err := r.read(ctx, c, key)
	if err != nil {
		return remediate.Plan{}, err
	}
	p := remediate.Plan{Compliant: before.RotationEnabled, Before: evidence.JSON(before), Rollback: evidence.JSON(before), Data: before}
	if p.Compliant {
		p.After = p.Before
		return p, nil
	}
	p.Changes = []string{fmt.Sprintf("enable automatic rotation of key %s", key)}
	p.After = evidence.JSON(State{KeyID: key, RotationEnabled: true})
	return p, nil
}

// Apply enables rotation. It does nothing when p is compliant.
// Result.Rollback holds the prior status.
func (r *Remediator) Apply(ctx context.Context, t remediate.Target, p remediate.Plan) (remediate.Result, error) {
	key, err := keyOf(t)
	if err != nil {
		return remediate.Result{}, err
	}
	before, ok := p.Data.(State)
	if !ok || before.KeyID != key {
		if p, err = r.Plan(ctx, t); err != nil {
			return remediate.Result{}, err
		}
		before = p.Data.(State)
	}
	if before.RotationEnabled {
		return remediate.Result{After: evidence.JSON(before)}, nil
	}
	out, err := r.client(t).EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: aws.String(key)})
	if err != nil {
		return remediate.Result{}, remediate.ClassifyAWS(fmt.Errorf("kmsrotation: enable rotation of key %s: %w", key, err))
	}
	return remediate.Result{
		After:      evidence.JSON(State{KeyID: key, RotationEnabled: true}),
		Rollback:   evidence.JSON(before),
		RequestIDs: evidence.RequestIDs(nil, out.ResultMetadata),
	}, nil
}

// Verify reads the rotation status back and returns an error wrapping
// ErrNotCompliant when rotation is off.
func (r *Remediator) Verify(ctx context.Context, t remediate.Target, _ remediate.Plan) error {
	key, err := keyOf(t)
	if err != nil {
		return err
	}
	s, err := r.read(ctx, r.client(t), key)
	if err != nil {
		return err
	}
	if !s.RotationEnabled {
		return fmt.Errorf("%w: key %s", ErrNotCompliant, key)
	}
	return nil
}

// Rollback restores the status in rollback (a State from
// Result.Rollback): it disables rotation if it was off.
func (r *Remediator) Rollback(ctx context.Context, t remediate.Target, rollback json.RawMessage) error {
	key, err := keyOf(t)
	if err != nil {
		return err
	}
	var prior State
	if err := json.Unmarshal(rollback, &prior); err != nil {
		return remediate.Permanentf("kmsrotation: rollback data: %w", err)
	}
	if prior.KeyID != key {
		return remediate.Permanentf("kmsrotation: rollback data is for key %q, not %q", prior.KeyID, key)
	}
	if prior.RotationEnabled {
		return nil
	}
	if _, err := r.client(t).DisableKeyRotation(ctx, &kms.DisableKeyRotationInput{KeyId: aws.String(key)}); err != nil {
		return remediate.ClassifyAWS(fmt.Errorf("kmsrotation: disable rotation of key %s: %w", key, err))
	}
	return nil
}

func (r *Remediator) client(t remediate.Target) *kms.Client {
	return remediate.Client(t, "kms", func() *kms.Client { return kms.NewFromConfig(t.AWS, r.opts.ClientOptions...) })
}

func (r *Remediator) read(ctx context.Context, c *kms.Client, key string) (State, error) {
	out, err := c.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: aws.String(key)})
	if err != nil {
		return State{}, remediate.ClassifyAWS(fmt.Errorf("kmsrotation: get rotation status of key %s: %w", key, err))
	}
	return State{KeyID: key, RotationEnabled: out.KeyRotationEnabled}, nil
}

// rotatable returns an error wrapping ErrUnsupportedKey unless a customer
// can turn on automatic rotation of the key m describes.
func rotatable(m *types.KeyMetadata) error {
	if m == nil {
		return fmt.Errorf("%w: DescribeKey returned no metadata", ErrUnsupportedKey)
	}
	switch {
	case m.KeyManager != types.KeyManagerTypeCustomer:
		return fmt.Errorf("%w: managed by %s, not the customer (AWS rotates AWS-managed keys itself)", ErrUnsupportedKey, m.KeyManager)
	case m.KeySpec != types.KeySpecSymmetricDefault:
		return fmt.Errorf("%w: key spec %q; only SYMMETRIC_DEFAULT keys rotate automatically", ErrUnsupportedKey, m.KeySpec)
	case m.Origin != "" && m.Origin != types.OriginTypeAwsKms:
		return fmt.Errorf("%w: key material origin %s; only AWS_KMS material rotates automatically", ErrUnsupportedKey, m.Origin)
	case m.MultiRegionConfiguration != nil && m.MultiRegionConfiguration.MultiRegionKeyType == types.MultiRegionKeyTypeReplica:
		return fmt.Errorf("%w: multi-Region replica; rotation is set on the primary key", ErrUnsupportedKey)
	case m.KeyState != types.KeyStateEnabled:
		return fmt.Errorf("%w: key state %s, not Enabled", ErrUnsupportedKey, m.KeyState)
	}
	return nil
}

func keyOf(t remediate.Target) (string, error) {
	return resource.Key().ID(t.Finding, t.AWS.Region)
}
