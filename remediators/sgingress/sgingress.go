package sgingress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediators/internal/evidence"
	"github.com/remedy-sec/remedy/remediators/internal/resource"
)

// Action is the remediator's action name.
const Action = "sg-revoke-public-ingress"

// ResourceType is the native resource type it fixes.
const ResourceType = "securityGroup"

// DefaultPorts are the ports checked when Options.Ports is empty: SSH and
// RDP.
func DefaultPorts() []int32 { return []int32{22, 3389} }

// ErrNotCompliant is returned by Verify when the group still has a public
// ingress rule on a configured port.
var ErrNotCompliant = errors.New("sgingress: security group allows public ingress")

// Options configure a Remediator.
type Options struct {
	// Ports whose exposure to the internet is revoked. Empty means
	// DefaultPorts. All-traffic rules are always revoked: they expose
	// every port.
	Ports []int32
	// ClientOptions are applied to every EC2 client the remediator builds.
	ClientOptions []func(*ec2.Options)
}

// Remediator revokes public ingress rules on configured ports. Build it
// with New; it is safe for concurrent use.
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
	if len(o.Ports) == 0 {
		o.Ports = DefaultPorts()
	}
	o.Ports = slices.Clone(o.Ports)
	o.ClientOptions = slices.Clone(o.ClientOptions)
	return &Remediator{opts: o}
}

// Rule is one ingress rule, as evidence.
type Rule struct {
	// ID is the security-group rule id, such as "sgr-0123…".
	ID string `json:"id"`
	// Protocol is "tcp", "udp", "-1" (all traffic) or another protocol.
	Protocol string `json:"protocol"`
	// FromPort and ToPort bound the port range; -1 for all traffic.
	FromPort int32 `json:"from_port"`
	ToPort   int32 `json:"to_port"`
	// CIDR is the IPv4 or IPv6 source range.
	CIDR        string `json:"cidr"`
	Description string `json:"description,omitempty"`
}

// State is what the remediator reads and writes, as it appears in
// Plan.Before, Plan.After, Result.After and Result.Rollback.
type State struct {
	GroupID string `json:"group_id"`
	// PublicRules are the group's ingress rules open to the internet on a
	// configured port. In Result.Rollback they are the rules Apply
	// revoked.
	PublicRules []Rule `json:"public_rules"`
}

// Spec describes the remediator.
func (r *Remediator) Spec() remediate.Spec {
	return remediate.Spec{
		Action:        Action,
		Description:   "Revokes security-group ingress rules open to 0.0.0.0/0 or ::/0 on sensitive ports.",
		ResourceTypes: []string{ResourceType},
		IAMActions: []string{
			"ec2:DescribeSecurityGroups",
			"ec2:DescribeSecurityGroupRules",
			"ec2:RevokeSecurityGroupIngress",
			"ec2:AuthorizeSecurityGroupIngress",
		},
	}
}

// Plan reads the group's ingress rules and returns the public ones on
// configured ports. It changes nothing.
func (r *Remediator) Plan(ctx context.Context, t remediate.Target) (remediate.Plan, error) {
	group, err := groupOf(t)
	if err != nil {
		return remediate.Plan{}, err
	}
	before, err := r.read(ctx, r.client(t), group)
	if err != nil {
		return remediate.Plan{}, err
	}
	p := remediate.Plan{Compliant: len(before.PublicRules) == 0, Before: evidence.JSON(before), Data: before}
	if p.Compliant {
		p.After = p.Before
		return p, nil
	}
	for _, rule := range before.PublicRules {
		p.Changes = append(p.Changes, fmt.Sprintf("revoke ingress rule %s of %s: %s from %s", rule.ID, group, rule.ports(), rule.CIDR))
	}
	p.After = evidence.JSON(State{GroupID: group, PublicRules: []Rule{}})
	return p, nil
}

// Apply revokes the rules p planned to revoke. Rules already gone are
// skipped. Result.Rollback holds the rules it revoked.
func (r *Remediator) Apply(ctx context.Context, t remediate.Target, p remediate.Plan) (remediate.Result, error) {
	group, err := groupOf(t)
	if err != nil {
		return remediate.Result{}, err
	}
	planned, ok := p.Data.(State)
	if !ok || planned.GroupID != group {
		if p, err = r.Plan(ctx, t); err != nil {
			return remediate.Result{}, err
		}
		planned = p.Data.(State)
	}
	c := r.client(t)
	var ids []string
	revoke := planned.PublicRules
	// A rule can vanish between Plan and Apply, and one unknown id fails
	// the whole call; read again and revoke what is left. Two rounds are
	// enough unless rules keep changing under us, which is worth a retry.
	for range 3 {
		if len(revoke) == 0 {
			break
		}
		out, err := c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{
			GroupId:              aws.String(group),
			SecurityGroupRuleIds: ruleIDs(revoke),
		})
		if err == nil {
			ids = evidence.RequestIDs(ids, out.ResultMetadata)
			return remediate.Result{
				After:      evidence.JSON(State{GroupID: group, PublicRules: []Rule{}}),
				Rollback:   evidence.JSON(State{GroupID: group, PublicRules: revoke}),
				RequestIDs: ids,
			}, nil
		}
		if !ruleNotFound(err) {
			return remediate.Result{}, remediate.ClassifyAWS(fmt.Errorf("sgingress: revoke ingress rules %v of %s: %w", ruleIDs(revoke), group, err))
		}
		now, err := r.read(ctx, c, group)
		if err != nil {
			return remediate.Result{}, err
		}
		revoke = slices.DeleteFunc(slices.Clone(revoke), func(rule Rule) bool {
			return !slices.ContainsFunc(now.PublicRules, func(n Rule) bool { return n.ID == rule.ID })
		})
	}
	if len(revoke) != 0 {
		return remediate.Result{}, fmt.Errorf("sgingress: rules of %s kept changing while revoking them", group)
	}
	return remediate.Result{
		After:      evidence.JSON(State{GroupID: group, PublicRules: []Rule{}}),
		Rollback:   evidence.JSON(State{GroupID: group, PublicRules: []Rule{}}),
		RequestIDs: ids,
	}, nil
}

// Verify reads the group's rules back and returns an error wrapping
// ErrNotCompliant if any public ingress rule on a configured port is
// left, whether or not Plan saw it.
func (r *Remediator) Verify(ctx context.Context, t remediate.Target, _ remediate.Plan) error {
	group, err := groupOf(t)
	if err != nil {
		return err
	}
	s, err := r.read(ctx, r.client(t), group)
	if err != nil {
		return err
	}
	if len(s.PublicRules) != 0 {
		return fmt.Errorf("%w: %s still has %d public ingress rules: %v", ErrNotCompliant, group, len(s.PublicRules), ruleIDs(s.PublicRules))
	}
	return nil
}

// Rollback authorizes again the rules in rollback (a State from
// Result.Rollback). Rules that already exist are left as they are.
func (r *Remediator) Rollback(ctx context.Context, t remediate.Target, rollback json.RawMessage) error {
	group, err := groupOf(t)
	if err != nil {
		return err
	}
	var prior State
	if err := json.Unmarshal(rollback, &prior); err != nil {
		return remediate.Permanentf("sgingress: rollback data: %w", err)
	}
	if prior.GroupID != group {
		return remediate.Permanentf("sgingress: rollback data is for security group %q, not %q", prior.GroupID, group)
	}
	c := r.client(t)
	// One rule per call: AWS fails a whole call when one rule exists.
	for _, rule := range prior.PublicRules {
		_, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
			GroupId:       aws.String(group),
			IpPermissions: []types.IpPermission{rule.permission()},
		})
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "InvalidPermission.Duplicate" {
			continue
		}
		if err != nil {
			return remediate.ClassifyAWS(fmt.Errorf("sgingress: restore ingress rule %s of %s: %w", rule.ID, group, err))
		}
	}
	return nil
}

func (r *Remediator) client(t remediate.Target) *ec2.Client {
	return remediate.Client(t, "ec2", func() *ec2.Client { return ec2.NewFromConfig(t.AWS, r.opts.ClientOptions...) })
}

// read returns the group's public ingress rules on configured ports. It
// describes the group first: DescribeSecurityGroupRules filtered on a
// group that does not exist returns no rules, which would read as
// compliant.
func (r *Remediator) read(ctx context.Context, c *ec2.Client, group string) (State, error) {
	if _, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{group}}); err != nil {
		return State{}, remediate.ClassifyAWS(fmt.Errorf("sgingress: describe security group %s: %w", group, err))
	}
	s := State{GroupID: group, PublicRules: []Rule{}}
	pages := ec2.NewDescribeSecurityGroupRulesPaginator(c, &ec2.DescribeSecurityGroupRulesInput{
		Filters: []types.Filter{{Name: aws.String("group-id"), Values: []string{group}}},
	})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return State{}, remediate.ClassifyAWS(fmt.Errorf("sgingress: describe rules of security group %s: %w", group, err))
		}
		for _, sr := range out.SecurityGroupRules {
			if aws.ToString(sr.GroupId) != group {
				continue
			}
			if rule, ok := publicRule(sr, r.opts.Ports); ok {
				s.PublicRules = append(s.PublicRules, rule)
			}
		}
	}
	return s, nil
}

// publicRule reports whether sr is an ingress rule open to the internet
// on one of ports, and returns it as evidence.
func publicRule(sr types.SecurityGroupRule, ports []int32) (Rule, bool) {
	if aws.ToBool(sr.IsEgress) {
		return Rule{}, false
	}
	cidr := aws.ToString(sr.CidrIpv4)
	if cidr != "0.0.0.0/0" {
		cidr = aws.ToString(sr.CidrIpv6)
		if cidr != "::/0" {
			return Rule{}, false
		}
	}
	rule := Rule{
		ID:          aws.ToString(sr.SecurityGroupRuleId),
		Protocol:    aws.ToString(sr.IpProtocol),
		FromPort:    aws.ToInt32(sr.FromPort),
		ToPort:      aws.ToInt32(sr.ToPort),
		CIDR:        cidr,
		Description: aws.ToString(sr.Description),
	}
	switch rule.Protocol {
	case "-1", "all":
		rule.Protocol, rule.FromPort, rule.ToPort = "-1", -1, -1
		return rule, true
	case "tcp", "6", "udp", "17":
		for _, p := range ports {
			if rule.FromPort <= p && p <= rule.ToPort {
				return rule, true
			}
		}
	}
	return Rule{}, false
}

func (r Rule) ports() string {
	switch {
	case r.Protocol == "-1":
		return "all traffic"
	case r.FromPort == r.ToPort:
		return r.Protocol + " port " + strconv.Itoa(int(r.FromPort))
	default:
		return fmt.Sprintf("%s ports %d-%d", r.Protocol, r.FromPort, r.ToPort)
	}
}

// permission is the IpPermission that authorizes r again.
func (r Rule) permission() types.IpPermission {
	p := types.IpPermission{IpProtocol: aws.String(r.Protocol)}
	if r.Protocol != "-1" {
		p.FromPort, p.ToPort = aws.Int32(r.FromPort), aws.Int32(r.ToPort)
	}
	var desc *string
	if r.Description != "" {
		desc = aws.String(r.Description)
	}
	if r.CIDR == "::/0" {
		p.Ipv6Ranges = []types.Ipv6Range{{CidrIpv6: aws.String(r.CIDR), Description: desc}}
	} else {
		p.IpRanges = []types.IpRange{{CidrIp: aws.String(r.CIDR), Description: desc}}
	}
	return p
}

func ruleIDs(rules []Rule) []string {
	ids := make([]string, 0, len(rules))
	for _, r := range rules {
		ids = append(ids, r.ID)
	}
	return ids
}

// ruleNotFound reports whether err says a rule to revoke does not exist.
func ruleNotFound(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "InvalidPermission.NotFound", "InvalidSecurityGroupRuleId.NotFound":
		return true
	}
	return false
}

func groupOf(t remediate.Target) (string, error) {
	return resource.SecurityGroup().ID(t.Finding, t.AWS.Region)
}
