// Package sgingress revokes the ingress rules of a security group that
// open sensitive ports to the whole internet: 0.0.0.0/0 or ::/0, or any
// set of ranges that together cover all of IPv4 or all of IPv6.
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
// The exposure is the union of the group's ranges. For each configured
// port (Options.Ports, 22 and 3389 by default), protocol (TCP, UDP) and
// address family, the remediator joins the ranges of the ingress rules
// that allow it: TCP or UDP rules whose port range holds the port, and
// all-traffic rules (protocol -1). When they cover the whole family,
// 0.0.0.0/0 alone or 0.0.0.0/1 with 128.0.0.0/1 alike, the rules making
// up that cover are revoked: every one whose range does not lie strictly
// inside another of them, and, should the ranges left still cover the
// family, the outermost of those in turn, until they do not. A narrower
// range inside a revoked one (10.0.0.0/8 beside 0.0.0.0/1 and
// 128.0.0.0/1, an office /32) stays. A rule such as TCP 0-65535 from
// 0.0.0.0/0 exposes port 22 and is revoked whole: a rule cannot be revoked
// in part. Ranges that cover only part of a family (0.0.0.0/1 alone) and
// other rules are left alone.
//
// A rule on a configured port whose source is a prefix list, a security
// group other than the group itself, or a range that does not parse cannot
// be judged: its sources may reach the internet or not. Such a group is never called compliant. When
// it has no public range, Plan returns a permanent error wrapping
// ErrCannotJudge and changes nothing, and the engine sends the finding to
// review; when it has one too, Apply revokes the public rules, leaves the
// references alone, and Verify reports them (ErrCannotJudge), so the
// finding still reaches a person. A rule from the group itself (its own
// members, as in a VPC's default group) is judged not to be exposure.
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
