// Package rdspublic turns off public accessibility of an RDS DB
// instance (PubliclyAccessible=false), so its endpoint resolves to a
// private address only.
//
// The remediator's action is "rds-disable-public-access"; it fixes
// resources of the type "rdsInstance". The finding's resource is read
// from its ARN (arn:aws:rds:REGION:ACCOUNT:db:NAME) or its DB instance
// identifier, in lower case as RDS stores it; they must agree, and a
// cluster, snapshot or resource id ("db-ABC…") is refused. Plan checks
// that RDS describes exactly that instance, in the finding's account.
//
//	r := rdspublic.New()
//	plan, err := r.Plan(ctx, target)       // rds:DescribeDBInstances
//	res, err := r.Apply(ctx, target, plan) // rds:ModifyDBInstance PubliclyAccessible=false, ApplyImmediately
//	err = r.Rollback(ctx, target, res.Rollback) // rds:ModifyDBInstance PubliclyAccessible=true
//
// The change is applied immediately, not in the next maintenance window:
// clients that reach the database from outside its VPC lose their
// connection. The remediator is therefore sensitive (Spec.Sensitive):
// the engine runs it only when the policy lists it under
// sensitive_approved.
//
// A publicly accessible instance is changed only while it is
// "available". In a state it passes through on its own (modifying,
// backing-up, rebooting, ...) Plan returns a retryable error; in any
// other (stopped, stopping, deleting, failed, storage-full, ...) a
// permanent error wrapping ErrUnsupportedState, so the finding goes to
// review: a stopped database is not started, nor a broken one touched,
// without a person. DBInstanceNotFound, InvalidParameterCombination and
// InvalidParameterValue are permanent (Spec.PermanentErrorCodes).
//
// Rollback makes the instance publicly accessible again only when it
// was before Apply.
//
// Tested against moto, whose ModifyDBInstance takes effect at once. On
// AWS the instance is "modifying" for a while after Apply; Verify reads
// PubliclyAccessible back and fails, wrapping ErrNotCompliant, while it
// is still true.
package rdspublic
