package sgingress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

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

// ErrCannotJudge is wrapped by the permanent error Plan returns (and the
// error Verify returns) when an ingress rule on a configured port has a
// source the remediator cannot judge: a prefix list, or a security group
// other than the group itself. Whether that source reaches the internet
// is for a person to decide, so the finding goes to review rather than
// being called compliant.
var ErrCannotJudge = errors.New("sgingress: security group has ingress sources the remediator cannot judge")

// Options configure a Remediator.
type Options struct {
	// Ports whose exposure to the internet is revoked. Empty means
	// DefaultPorts. All-traffic rules (protocol -1) expose every port, so
	// they count on each of them.
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
	_ remediate.Rollbacker = (*Remediator)(nil)
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

// Unjudged is an ingress rule on a configured port whose source the
// remediator cannot judge.
type Unjudged struct {
	// ID is the security-group rule id, such as "sgr-0123…".
	ID       string `json:"id"`
	Protocol string `json:"protocol"`
	FromPort int32  `json:"from_port"`
	ToPort   int32  `json:"to_port"`
	// Source names what the rule allows, such as "prefix list pl-0123…"
	// or "security group sg-0123… of account 111122223333".
	Source string `json:"source"`
}

// State is what the remediator reads and writes, as it appears in
// Plan.Before, Plan.After, Plan.Rollback, Result.After and
// Result.Rollback.
type State struct {
	GroupID string `json:"group_id"`
	// PublicRules are the group's ingress rules that together open a
	// configured port to the internet (see the package documentation).
	// In Plan.Rollback they are the rules Apply will revoke, in
	// Result.Rollback the rules it revoked.
	PublicRules []Rule `json:"public_rules"`
	// Unjudged are the ingress rules on a configured port whose source
	// the remediator cannot judge; it never changes them.
	Unjudged []Unjudged `json:"unjudged,omitempty"`
}

// Spec describes the remediator.
func (r *Remediator) Spec() remediate.Spec {
	return remediate.Spec{
		Action:        Action,
		Description:   "Revokes the security-group ingress rules whose ranges together open a sensitive port to all of IPv4 or IPv6.",
		ResourceTypes: []string{ResourceType},
		// Revoking by rule id acts on the group and on its rules.
		Resources: map[string][]string{ResourceType: {
			"arn:{partition}:ec2:{region}:{account}:security-group/*",
			"arn:{partition}:ec2:{region}:{account}:security-group-rule/*",
		}},
		IAMActions: []string{
			"ec2:DescribeSecurityGroups",
			"ec2:DescribeSecurityGroupRules",
			"ec2:RevokeSecurityGroupIngress",
			"ec2:AuthorizeSecurityGroupIngress",
		},
	}
}

// Plan reads the group's ingress rules and returns the public ones on
// configured ports. It changes nothing. A group with no public rule but a
// rule on a configured port whose source it cannot judge is not
// compliant: Plan returns a permanent error wrapping ErrCannotJudge.
func (r *Remediator) Plan(ctx context.Context, t remediate.Target) (remediate.Plan, error) {
	group, err := groupOf(t)
	if err != nil {
		return remediate.Plan{}, err
	}
	before, err := r.read(ctx, r.client(t), group)
	if err != nil {
		return remediate.Plan{}, err
	}
	if len(before.PublicRules) == 0 && len(before.Unjudged) > 0 {
		return remediate.Plan{}, remediate.Permanent(cannotJudge(group, before.Unjudged))
	}
	p := remediate.Plan{Compliant: len(before.PublicRules) == 0, Before: evidence.JSON(before), Data: before}
	if p.Compliant {
		p.After = p.Before
		return p, nil
	}
	for _, rule := range before.PublicRules {
		p.Changes = append(p.Changes, fmt.Sprintf("revoke ingress rule %s of %s: %s from %s", rule.ID, group, rule.ports(), rule.CIDR))
	}
	p.After = evidence.JSON(State{GroupID: group, PublicRules: []Rule{}, Unjudged: before.Unjudged})
	p.Rollback = evidence.JSON(State{GroupID: group, PublicRules: before.PublicRules})
	return p, nil
}

// cannotJudge is the error that lists the rules of group whose sources
// the remediator cannot judge.
func cannotJudge(group string, rules []Unjudged) error {
	parts := make([]string, 0, len(rules))
	for _, u := range rules {
		parts = append(parts, fmt.Sprintf("%s (%s from %s)", u.ID, Rule{Protocol: u.Protocol, FromPort: u.FromPort, ToPort: u.ToPort}.ports(), u.Source))
	}
	return fmt.Errorf("%w: %s allows %s on a configured port; check whether those sources reach the internet and fix the group by hand",
		ErrCannotJudge, group, strings.Join(parts, ", "))
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
// left, whether or not Plan saw it, or a permanent one wrapping
// ErrCannotJudge if a rule on a configured port has a source it cannot
// judge: the revocation was made, and a person must look at the rest.
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
	if len(s.Unjudged) != 0 {
		return remediate.Permanent(cannotJudge(group, s.Unjudged))
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

// read returns the group's public ingress rules on configured ports, and
// those whose sources it cannot judge. It describes the group first:
// DescribeSecurityGroupRules filtered on a group that does not exist
// returns no rules, which would read as compliant.
func (r *Remediator) read(ctx context.Context, c *ec2.Client, group string) (State, error) {
	if _, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{group}}); err != nil {
		return State{}, remediate.ClassifyAWS(fmt.Errorf("sgingress: describe security group %s: %w", group, err))
	}
	var rules []types.SecurityGroupRule
	pages := ec2.NewDescribeSecurityGroupRulesPaginator(c, &ec2.DescribeSecurityGroupRulesInput{
		Filters: []types.Filter{{Name: aws.String("group-id"), Values: []string{group}}},
	})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return State{}, remediate.ClassifyAWS(fmt.Errorf("sgingress: describe rules of security group %s: %w", group, err))
		}
		for _, sr := range out.SecurityGroupRules {
			if aws.ToString(sr.GroupId) == group {
				rules = append(rules, sr)
			}
		}
	}
	return assess(group, rules, r.opts.Ports), nil
}

// cidrRule is an ingress rule whose source is an IPv4 or IPv6 range.
type cidrRule struct {
	index  int // in assess's list of ranges
	rule   Rule
	prefix netip.Prefix // masked
}

// assess returns the state of group, whose rules are rules, for ports.
//
// For each configured port, protocol (TCP, UDP) and address family, the
// ingress ranges allowed on it are joined. When they cover the whole
// family (0.0.0.0/0 alone, or 0.0.0.0/1 with 128.0.0.0/1, or any other
// cover), the rules making up the cover are public: every such range
// that does not lie strictly inside another one of them, and, should the
// ranges left still cover the family, the outermost of those in turn,
// until they do not. A range inside a public one (a /32 for an office
// inside a /1) is left alone unless it is needed to break the cover.
//
// Rules whose source is a prefix list, another security group or a range
// that does not parse are unjudged when they allow a configured port; a
// reference to the group itself (its own members) is not.
func assess(group string, rules []types.SecurityGroupRule, ports []int32) State {
	s := State{GroupID: group, PublicRules: []Rule{}}
	var ranges []cidrRule
	for _, sr := range rules {
		if aws.ToBool(sr.IsEgress) {
			continue
		}
		rule := Rule{
			ID:          aws.ToString(sr.SecurityGroupRuleId),
			Protocol:    aws.ToString(sr.IpProtocol),
			FromPort:    aws.ToInt32(sr.FromPort),
			ToPort:      aws.ToInt32(sr.ToPort),
			Description: aws.ToString(sr.Description),
		}
		if rule.Protocol == "all" {
			rule.Protocol = "-1"
		}
		if rule.Protocol == "-1" {
			rule.FromPort, rule.ToPort = -1, -1
		}
		if !slices.ContainsFunc(ports, func(p int32) bool { return rule.allows("tcp", p) || rule.allows("udp", p) }) {
			continue
		}
		if prefix, ok := cidrOf(sr); ok {
			// As AWS has it, so that Rollback authorizes the same range.
			rule.CIDR = aws.ToString(sr.CidrIpv4) + aws.ToString(sr.CidrIpv6)
			ranges = append(ranges, cidrRule{index: len(ranges), rule: rule, prefix: prefix})
			continue
		}
		if src := unjudgedSource(group, sr); src != "" {
			s.Unjudged = append(s.Unjudged, Unjudged{ID: rule.ID, Protocol: rule.Protocol, FromPort: rule.FromPort, ToPort: rule.ToPort, Source: src})
		}
	}
	public := make([]bool, len(ranges))
	for _, proto := range []string{"tcp", "udp"} {
		for _, port := range ports {
			for _, v6 := range []bool{false, true} {
				var on []cidrRule
				for _, c := range ranges {
					if c.prefix.Addr().Is6() == v6 && c.rule.allows(proto, port) {
						on = append(on, c)
					}
				}
				for _, c := range exposure(on) {
					public[c.index] = true
				}
			}
		}
	}
	for _, c := range ranges {
		if public[c.index] {
			s.PublicRules = append(s.PublicRules, c.rule)
		}
	}
	return s
}

// cidrOf returns the masked source range of sr, if its source is one
// that parses as a range of its field's family.
func cidrOf(sr types.SecurityGroupRule) (netip.Prefix, bool) {
	if v := aws.ToString(sr.CidrIpv4); v != "" {
		p, err := netip.ParsePrefix(v)
		return p.Masked(), err == nil && p.Addr().Is4()
	}
	if v := aws.ToString(sr.CidrIpv6); v != "" {
		p, err := netip.ParsePrefix(v)
		return p.Masked(), err == nil && p.Addr().Is6()
	}
	return netip.Prefix{}, false
}

// unjudgedSource describes the source of sr, which is not a range that
// parses, or returns "" when that source is the group itself.
func unjudgedSource(group string, sr types.SecurityGroupRule) string {
	switch {
	case aws.ToString(sr.CidrIpv4) != "":
		return "IPv4 range " + strconv.Quote(aws.ToString(sr.CidrIpv4))
	case aws.ToString(sr.CidrIpv6) != "":
		return "IPv6 range " + strconv.Quote(aws.ToString(sr.CidrIpv6))
	case aws.ToString(sr.PrefixListId) != "":
		return "prefix list " + aws.ToString(sr.PrefixListId)
	case sr.ReferencedGroupInfo != nil:
		ref := sr.ReferencedGroupInfo
		id, user, peering := aws.ToString(ref.GroupId), aws.ToString(ref.UserId), aws.ToString(ref.VpcPeeringConnectionId)
		owner := aws.ToString(sr.GroupOwnerId)
		if id == group && peering == "" && (user == "" || owner == "" || user == owner) {
			return "" // the group's own members
		}
		src := "security group " + id
		if user != "" {
			src += " of account " + user
		}
		if peering != "" {
			src += " through peering connection " + peering
		}
		return src
	}
	return "an unknown source"
}

// exposure returns the rules of on (all on one port, protocol and
// family) that make up a cover of the whole family, or none if their
// ranges do not cover it. See assess.
func exposure(on []cidrRule) []cidrRule {
	var out []cidrRule
	for covers(on) {
		var inner []cidrRule
		for _, c := range on {
			if slices.ContainsFunc(on, func(d cidrRule) bool {
				return d.prefix.Bits() < c.prefix.Bits() && d.prefix.Contains(c.prefix.Addr())
			}) {
				inner = append(inner, c)
			} else {
				out = append(out, c)
			}
		}
		on = inner
	}
	return out
}

// covers reports whether the ranges of on, all of one family, together
// hold every address of it.
func covers(on []cidrRule) bool {
	if len(on) == 0 {
		return false
	}
	ps := make([]netip.Prefix, 0, len(on))
	for _, c := range on {
		ps = append(ps, c.prefix)
	}
	slices.SortFunc(ps, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	next := netip.IPv4Unspecified() // the first address not yet covered
	if ps[0].Addr().Is6() {
		next = netip.IPv6Unspecified()
	}
	for _, p := range ps {
		if next.Less(p.Addr()) {
			return false // a gap before p
		}
		if last := lastAddr(p); !last.Less(next) {
			if next = last.Next(); !next.IsValid() {
				return true // covered up to the family's last address
			}
		}
	}
	return false
}

// lastAddr returns the last address of the masked prefix p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// allows reports whether r allows traffic of proto ("tcp" or "udp") to
// port.
func (r Rule) allows(proto string, port int32) bool {
	switch r.Protocol {
	case "-1":
		return true
	case "tcp", "6":
		return proto == "tcp" && r.FromPort <= port && port <= r.ToPort
	case "udp", "17":
		return proto == "udp" && r.FromPort <= port && port <= r.ToPort
	}
	return false
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
	if strings.Contains(r.CIDR, ":") {
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
