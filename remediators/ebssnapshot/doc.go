// Package ebssnapshot makes a public EBS snapshot private: it removes the
// "all" group from the snapshot's createVolumePermission.
//
// The remediator's action is "ebs-snapshot-private"; it fixes resources of
// the native type "snapshot". The finding's resource is read from its ARN
// (arn:aws:ec2:REGION::snapshot/snap-…) or its id; they must agree.
//
//	r := ebssnapshot.New()
//	plan, err := r.Plan(ctx, target)       // ec2:DescribeSnapshotAttribute
//	res, err := r.Apply(ctx, target, plan) // ec2:ModifySnapshotAttribute
//
// Only public access is removed. Sharing with named accounts
// (createVolumePermission UserIds) is deliberate and left as it is; it is
// neither read into evidence nor changed. Rollback adds the "all" group
// back, which makes the snapshot public again.
//
// The change is sent as OperationType "remove" with GroupNames ["all"],
// the form both AWS and moto 5.2.1 accept (moto ignores the
// CreateVolumePermission add/remove structure). The account-wide "block
// public access for snapshots" setting is not touched.
package ebssnapshot
