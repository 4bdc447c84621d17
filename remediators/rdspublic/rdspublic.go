package rdspublic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediators/internal/evidence"
	"github.com/remedy-sec/remedy/remediators/internal/resource"
)

// Action is the remediator's action name.
const Action = "rds-disable-public-access"

// ResourceType is the native resource type it fixes.
const ResourceType = "rdsInstance"

// ErrNotCompliant is returned by Verify while the instance is publicly
// accessible.
var ErrNotCompliant = errors.New("rdspublic: DB instance is publicly accessible")

// ErrUnsupportedState is wrapped by the permanent error Plan returns for
// a publicly accessible instance in a state it cannot be modified in
// (stopped, deleting, failed, ...); see the package doc.
var ErrUnsupportedState = errors.New("rdspublic: DB instance is in a state its public access cannot be changed in")

// Options configure a Remediator.
type Options struct {
	// ClientOptions are applied to every RDS client the remediator builds.
	ClientOptions []func(*rds.Options)
}

// Remediator turns off public accessibility of an RDS DB instance. Build
// it with New; it is safe for concurrent use.
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

// State is an instance's public accessibility as it appears in
// Plan.Before, Plan.After, Plan.Rollback, Result.After and
// Result.Rollback. Status is there for the reviewer; it is never written.
type State struct {
	DBInstance         string `json:"db_instance"`
	PubliclyAccessible bool   `json:"publicly_accessible"`
	Status             string `json:"status,omitempty"`
}

// Spec describes the remediator. It is sensitive: clients that reach the
// database from outside its VPC lose their connection, so the engine
// runs it only when the policy approves it (sensitive_approved).
func (r *Remediator) Spec() remediate.Spec {
	return remediate.Spec{
		Action:              Action,
		Description:         "Turns off public accessibility of an RDS DB instance, immediately.",
		ResourceTypes:       []string{ResourceType},
		Resources:           map[string][]string{ResourceType: {"arn:{partition}:rds:{region}:{account}:db:*"}},
		IAMActions:          []string{"rds:DescribeDBInstances", "rds:ModifyDBInstance"},
		PermanentErrorCodes: []string{"DBInstanceNotFound", "InvalidParameterCombination", "InvalidParameterValue"},
		Sensitive:           true,
	}
}

// Plan reads the instance. It changes nothing. A publicly accessible
// instance that cannot be modified now gives a permanent error wrapping
// ErrUnsupportedState, or a retryable error while it is busy.
func (r *Remediator) Plan(ctx context.Context, t remediate.Target) (remediate.Plan, error) {
	id, err := instanceOf(t)
	if err != nil {
		return remediate.Plan{}, err
	}
	before, err := r.read(ctx, r.client(t), t, id)
	if err != nil {
		return remediate.Plan{}, err
	}
	p := remediate.Plan{Compliant: !before.PubliclyAccessible, Before: evidence.JSON(before), Rollback: evidence.JSON(before), Data: before}
	if p.Compliant {
		p.After = p.Before
		return p, nil
	}
	if err := modifiable(before.Status); err != nil {
		return remediate.Plan{}, fmt.Errorf("DB instance %s: %w", id, err)
	}
	p.Changes = []string{fmt.Sprintf("set PubliclyAccessible of DB instance %s from true to false, immediately", id)}
	p.After = evidence.JSON(State{DBInstance: id})
	return p, nil
}

// Apply turns public accessibility off, with ApplyImmediately. It does
// nothing when p is compliant. Result.Rollback holds the prior state.
func (r *Remediator) Apply(ctx context.Context, t remediate.Target, p remediate.Plan) (remediate.Result, error) {
	id, err := instanceOf(t)
	if err != nil {
		return remediate.Result{}, err
	}
	before, ok := p.Data.(State)
	if !ok || before.DBInstance != id {
		if p, err = r.Plan(ctx, t); err != nil {
			return remediate.Result{}, err
		}
		before = p.Data.(State)
	}
	if !before.PubliclyAccessible {
		return remediate.Result{After: evidence.JSON(before)}, nil
	}
	out, err := r.modify(ctx, t, id, false)
	if err != nil {
		return remediate.Result{}, err
	}
	return remediate.Result{
		After:      evidence.JSON(State{DBInstance: id}),
		Rollback:   evidence.JSON(before),
		RequestIDs: evidence.RequestIDs(nil, out.ResultMetadata),
	}, nil
}

// Verify reads the instance back and returns an error wrapping
// ErrNotCompliant while it is publicly accessible.
func (r *Remediator) Verify(ctx context.Context, t remediate.Target, _ remediate.Plan) error {
	id, err := instanceOf(t)
	if err != nil {
		return err
	}
	s, err := r.read(ctx, r.client(t), t, id)
	if err != nil {
		return err
	}
	if s.PubliclyAccessible {
		return fmt.Errorf("%w: DB instance %s (status %s)", ErrNotCompliant, id, s.Status)
	}
	return nil
}

// Rollback restores the state in rollback (a State from
// Result.Rollback): it makes the instance publicly accessible again only
// if it was before.
func (r *Remediator) Rollback(ctx context.Context, t remediate.Target, rollback json.RawMessage) error {
	id, err := instanceOf(t)
	if err != nil {
		return err
	}
	var prior State
	if err := json.Unmarshal(rollback, &prior); err != nil {
		return remediate.Permanentf("rdspublic: rollback data: %w", err)
	}
	if prior.DBInstance != id {
		return remediate.Permanentf("rdspublic: rollback data is for DB instance %q, not %q", prior.DBInstance, id)
	}
	if !prior.PubliclyAccessible {
		return nil
	}
	_, err = r.modify(ctx, t, id, true)
	return err
}

func (r *Remediator) modify(ctx context.Context, t remediate.Target, id string, public bool) (*rds.ModifyDBInstanceOutput, error) {
	out, err := r.client(t).ModifyDBInstance(ctx, &rds.ModifyDBInstanceInput{
		DBInstanceIdentifier: aws.String(id),
		PubliclyAccessible:   aws.Bool(public),
		ApplyImmediately:     aws.Bool(true),
	})
	if err != nil {
		return nil, r.Spec().Classify(fmt.Errorf("rdspublic: set PubliclyAccessible of DB instance %s to %v: %w", id, public, err))
	}
	return out, nil
}

func (r *Remediator) client(t remediate.Target) *rds.Client {
	return remediate.Client(t, "rds", func() *rds.Client { return rds.NewFromConfig(t.AWS, r.opts.ClientOptions...) })
}

// read describes the instance and checks that RDS returned exactly it,
// in the finding's account.
func (r *Remediator) read(ctx context.Context, c *rds.Client, t remediate.Target, id string) (State, error) {
	out, err := c.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(id)})
	if err != nil {
		return State{}, r.Spec().Classify(fmt.Errorf("rdspublic: describe DB instance %s: %w", id, err))
	}
	if len(out.DBInstances) != 1 {
		return State{}, remediate.Permanentf("rdspublic: describe DB instance %s returned %d instances, want 1", id, len(out.DBInstances))
	}
	db := out.DBInstances[0]
	if got := aws.ToString(db.DBInstanceIdentifier); got != id {
		return State{}, remediate.Permanentf("rdspublic: describe DB instance %s returned instance %q", id, got)
	}
	if err := sameAccount(db, t); err != nil {
		return State{}, err
	}
	return State{DBInstance: id, PubliclyAccessible: aws.ToBool(db.PubliclyAccessible), Status: aws.ToString(db.DBInstanceStatus)}, nil
}

// sameAccount refuses an instance whose ARN is in another account than
// the finding names.
func sameAccount(db types.DBInstance, t remediate.Target) error {
	account := ""
	if t.Finding != nil {
		account = t.Finding.Resource.Account
	}
	a, err := arn.Parse(aws.ToString(db.DBInstanceArn))
	switch {
	case account == "":
		return nil
	case err != nil:
		return remediate.Permanentf("rdspublic: DB instance %s has ARN %q, so its account cannot be checked", aws.ToString(db.DBInstanceIdentifier), aws.ToString(db.DBInstanceArn))
	case a.AccountID != account:
		return remediate.Permanentf("rdspublic: DB instance %s is in account %s, but the finding says %s", aws.ToString(db.DBInstanceIdentifier), a.AccountID, account)
	}
	return nil
}

// busy are the states an instance passes through on its own; Plan
// retries rather than fails an instance in one.
var busy = []string{
	"backing-up", "configuring-enhanced-monitoring", "configuring-iam-database-auth", "configuring-log-exports",
	"maintenance", "modifying", "moving-to-vpc", "rebooting", "renaming", "resetting-master-credentials",
	"starting", "storage-optimization", "upgrading", "creating", "converting-to-vpc",
}

// modifiable returns nil for an available instance, a retryable error
// for a busy one and a permanent error wrapping ErrUnsupportedState for
// any other (stopped, stopping, deleting, failed, storage-full,
// incompatible-..., inaccessible-encryption-credentials, ...): a stopped
// database is not started, nor a broken one touched, without a person.
func modifiable(status string) error {
	switch {
	case status == "available":
		return nil
	case slices.Contains(busy, status):
		return fmt.Errorf("rdspublic: status %q; retry once it is available", status)
	default:
		return remediate.Permanent(fmt.Errorf("%w: status %q", ErrUnsupportedState, status))
	}
}

func instanceOf(t remediate.Target) (string, error) {
	return resource.DBInstance().ID(t.Finding, t.AWS.Region)
}
