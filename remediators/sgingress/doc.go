// Package sgingress revokes the ingress rules of a security group that
// are open to the whole internet (0.0.0.0/0 or ::/0) on sensitive ports.
//
// The remediator's action is "sg-revoke-public-ingress"; it fixes
// resources of the native type "securityGroup". The finding's resource is
// read from its ARN (arn:aws:ec2:REGION:ACCOUNT:security-group/sg-…) or
// its id; they must agree.
//
//	r := sgingress.New(func(o *sgingress.Options) { o.Ports = []int32{22, 3389, 5432} })
//	plan, err := r.Plan(ctx, target)       // ec2:DescribeSecurityGroups, ec2:DescribeSecurityGroupRules
//	res, err := r.Apply(ctx, target, plan) // ec2:RevokeSecurityGroupIngress
//	err = r.Rollback(ctx, target, res.Rollback) // ec2:AuthorizeSecurityGroupIngress
//
// A rule is revoked when all of these hold: it is an ingress rule; its
// source is exactly 0.0.0.0/0 or ::/0 (not a narrower CIDR, a prefix list
// or another group); and it is an all-traffic rule (protocol -1), or a TCP
// or UDP rule whose port range holds one of Options.Ports (22 and 3389 by
// default). A rule such as TCP 0-65535 from 0.0.0.0/0 exposes port 22 and
// is revoked whole: a rule cannot be revoked in part. Other rules are left
// alone.
//
// Rules are revoked by security-group rule id, all in one call, so either
// every planned rule goes or none does. InvalidPermission.NotFound (or
// InvalidSecurityGroupRuleId.NotFound) means a rule is already gone: the
// remediator reads the group again and revokes the planned rules that are
// left, so applying twice is harmless.
//
// Rollback authorizes the revoked rules again (protocol, ports, CIDR and
// description); AWS gives them new rule ids, and rule tags are not
// restored. A rule that already exists (InvalidPermission.Duplicate) is
// left as it is.
package sgingress
