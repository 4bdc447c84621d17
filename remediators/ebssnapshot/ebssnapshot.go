package ebssnapshot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediators/internal/evidence"
	"github.com/remedy-sec/remedy/remediators/internal/resource"
)

// Action is the remediator's action name.
const Action = "ebs-snapshot-private"

// ResourceType is the native resource type it fixes.
const ResourceType = "snapshot"

// ErrNotCompliant is returned by Verify when the snapshot is still public.
var ErrNotCompliant = errors.New("ebssnapshot: snapshot is public")

// Options configure a Remediator.
type Options struct {
	// ClientOptions are applied to every EC2 client the remediator builds.
	ClientOptions []func(*ec2.Options)
}

// Remediator makes public EBS snapshots private. Build it with New; it is
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

// State is whether a snapshot is public, as it appears in Plan.Before,
// Plan.After, Plan.Rollback, Result.After and Result.Rollback.
type State struct {
	SnapshotID string `json:"snapshot_id"`
	// Public is true when createVolumePermission holds the "all" group.
	Public bool `json:"public"`
}

// Spec describes the remediator.
func (r *Remediator) Spec() remediate.Spec {
	return remediate.Spec{
		Action:        Action,
		Description:   "Makes a public EBS snapshot private by removing the all group from its createVolumePermission.",
		ResourceTypes: []string{ResourceType},
		// Snapshot ARNs carry no account; the session holds them to the
		// account with aws:ResourceAccount.
		Resources:  map[string][]string{ResourceType: {"arn:{partition}:ec2:{region}::snapshot/*"}},
		IAMActions: []string{"ec2:DescribeSnapshotAttribute", "ec2:ModifySnapshotAttribute"},
	}
}

// Plan reads the snapshot's createVolumePermission. It changes nothing.
func (r *Remediator) Plan(ctx context.Context, t remediate.Target) (remediate.Plan, error) {
	snap, err := snapshotOf(t)
	if err != nil {
		return remediate.Plan{}, err
	}
	before, err := r.read(ctx, r.client(t), snap)
	if err != nil {
		return remediate.Plan{}, err
	}
	p := remediate.Plan{Compliant: !before.Public, Before: evidence.JSON(before), Rollback: evidence.JSON(before), Data: before}
	if p.Compliant {
		p.After = p.Before
		return p, nil
	}
	p.Changes = []string{fmt.Sprintf("remove group all from createVolumePermission of snapshot %s", snap)}
	p.After = evidence.JSON(State{SnapshotID: snap})
	return p, nil
}

// Apply removes public access. It does nothing when p is compliant.
// Result.Rollback holds the prior state.
func (r *Remediator) Apply(ctx context.Context, t remediate.Target, p remediate.Plan) (remediate.Result, error) {
	snap, err := snapshotOf(t)
	if err != nil {
		return remediate.Result{}, err
	}
	before, ok := p.Data.(State)
	if !ok || before.SnapshotID != snap {
		if p, err = r.Plan(ctx, t); err != nil {
			return remediate.Result{}, err
		}
		before = p.Data.(State)
	}
	if !before.Public {
		return remediate.Result{After: evidence.JSON(before)}, nil
	}
	out, err := r.modify(ctx, r.client(t), snap, "remove")
	if err != nil {
		return remediate.Result{}, err
	}
	return remediate.Result{
		After:      evidence.JSON(State{SnapshotID: snap}),
		Rollback:   evidence.JSON(before),
		RequestIDs: evidence.RequestIDs(nil, out.ResultMetadata),
	}, nil
}

// Verify reads the permission back and returns an error wrapping
// ErrNotCompliant if the snapshot is still public.
func (r *Remediator) Verify(ctx context.Context, t remediate.Target, _ remediate.Plan) error {
	snap, err := snapshotOf(t)
	if err != nil {
		return err
	}
	s, err := r.read(ctx, r.client(t), snap)
	if err != nil {
		return err
	}
	if s.Public {
		return fmt.Errorf("%w: %s", ErrNotCompliant, snap)
	}
	return nil
}

// Rollback restores the state in rollback (a State from Result.Rollback):
// it makes the snapshot public again if it was.
func (r *Remediator) Rollback(ctx context.Context, t remediate.Target, rollback json.RawMessage) error {
	snap, err := snapshotOf(t)
	if err != nil {
		return err
	}
	var prior State
	if err := json.Unmarshal(rollback, &prior); err != nil {
		return remediate.Permanentf("ebssnapshot: rollback data: %w", err)
	}
	if prior.SnapshotID != snap {
		return remediate.Permanentf("ebssnapshot: rollback data is for snapshot %q, not %q", prior.SnapshotID, snap)
	}
	if !prior.Public {
		return nil
	}
	_, err = r.modify(ctx, r.client(t), snap, "add")
	return err
}

func (r *Remediator) client(t remediate.Target) *ec2.Client {
	return remediate.Client(t, "ec2", func() *ec2.Client { return ec2.NewFromConfig(t.AWS, r.opts.ClientOptions...) })
}

func (r *Remediator) read(ctx context.Context, c *ec2.Client, snap string) (State, error) {
	out, err := c.DescribeSnapshotAttribute(ctx, &ec2.DescribeSnapshotAttributeInput{
		SnapshotId: aws.String(snap),
		Attribute:  types.SnapshotAttributeNameCreateVolumePermission,
	})
	if err != nil {
		return State{}, remediate.ClassifyAWS(fmt.Errorf("ebssnapshot: describe createVolumePermission of snapshot %s: %w", snap, err))
	}
	s := State{SnapshotID: snap}
	for _, p := range out.CreateVolumePermissions {
		if p.Group == types.PermissionGroupAll {
			s.Public = true
		}
	}
	return s, nil
}

// modify adds or removes the "all" group.
func (r *Remediator) modify(ctx context.Context, c *ec2.Client, snap, op string) (*ec2.ModifySnapshotAttributeOutput, error) {
	out, err := c.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{
		SnapshotId:    aws.String(snap),
		Attribute:     types.SnapshotAttributeNameCreateVolumePermission,
		OperationType: types.OperationType(op),
		GroupNames:    []string{string(types.PermissionGroupAll)},
	})
	if err != nil {
		return nil, remediate.ClassifyAWS(fmt.Errorf("ebssnapshot: %s group all on snapshot %s: %w", op, snap, err))
	}
	return out, nil
}

func snapshotOf(t remediate.Target) (string, error) {
	return resource.Snapshot().ID(t.Finding, t.AWS.Region)
}
