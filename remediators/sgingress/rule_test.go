package sgingress

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/google/go-cmp/cmp"
)

const group = "sg-0123456789abcdef0"

// sgr returns an ingress rule of group with id "sgr-N" from cidr, which
// holds a colon for IPv6.
func sgr(n int, proto string, from, to int32, cidr string) types.SecurityGroupRule {
	r := types.SecurityGroupRule{
		SecurityGroupRuleId: aws.String(fmt.Sprintf("sgr-%d", n)), GroupId: aws.String(group), IpProtocol: aws.String(proto),
		FromPort: aws.Int32(from), ToPort: aws.Int32(to), IsEgress: aws.Bool(false),
	}
	switch {
	case cidr == "":
	case strings.Contains(cidr, ":"):
		r.CidrIpv6 = aws.String(cidr)
	default:
		r.CidrIpv4 = aws.String(cidr)
	}
	return r
}

// rule is the evidence of sgr(n, proto, from, to, cidr).
func rule(n int, proto string, from, to int32, cidr string) Rule {
	return Rule{ID: fmt.Sprintf("sgr-%d", n), Protocol: proto, FromPort: from, ToPort: to, CIDR: cidr}
}

func TestAssess(t *testing.T) {
	defaults := DefaultPorts()
	egress := sgr(1, "tcp", 22, 22, "0.0.0.0/0")
	egress.IsEgress = aws.Bool(true)
	withRef := func(r types.SecurityGroupRule, ref *types.ReferencedSecurityGroup, owner string) types.SecurityGroupRule {
		r.ReferencedGroupInfo = ref
		if owner != "" {
			r.GroupOwnerId = aws.String(owner)
		}
		return r
	}
	prefixList := sgr(9, "tcp", 22, 22, "")
	prefixList.PrefixListId = aws.String("pl-0123")
	tests := []struct {
		name  string
		rules []types.SecurityGroupRule
		ports []int32
		want  State
	}{
		// One rule from the whole space.
		{"ssh from anywhere", []types.SecurityGroupRule{sgr(1, "tcp", 22, 22, "0.0.0.0/0")}, defaults,
			State{PublicRules: []Rule{rule(1, "tcp", 22, 22, "0.0.0.0/0")}}},
		{"rdp from anywhere v6", []types.SecurityGroupRule{sgr(1, "tcp", 3389, 3389, "::/0")}, defaults,
			State{PublicRules: []Rule{rule(1, "tcp", 3389, 3389, "::/0")}}},
		{"udp rdp", []types.SecurityGroupRule{sgr(1, "udp", 3389, 3389, "0.0.0.0/0")}, defaults,
			State{PublicRules: []Rule{rule(1, "udp", 3389, 3389, "0.0.0.0/0")}}},
		{"protocol number", []types.SecurityGroupRule{sgr(1, "6", 22, 22, "0.0.0.0/0")}, defaults,
			State{PublicRules: []Rule{rule(1, "6", 22, 22, "0.0.0.0/0")}}},
		{"range holding 22", []types.SecurityGroupRule{sgr(1, "tcp", 0, 1024, "0.0.0.0/0")}, defaults,
			State{PublicRules: []Rule{rule(1, "tcp", 0, 1024, "0.0.0.0/0")}}},
		{"all traffic", []types.SecurityGroupRule{sgr(1, "-1", -1, -1, "0.0.0.0/0")}, defaults,
			State{PublicRules: []Rule{rule(1, "-1", -1, -1, "0.0.0.0/0")}}},
		{"all traffic, other ports configured", []types.SecurityGroupRule{sgr(1, "-1", -1, -1, "::/0")}, []int32{443},
			State{PublicRules: []Rule{rule(1, "-1", -1, -1, "::/0")}}},
		{"https", []types.SecurityGroupRule{sgr(1, "tcp", 443, 443, "0.0.0.0/0")}, defaults, State{}},
		{"configured https", []types.SecurityGroupRule{sgr(1, "tcp", 443, 443, "0.0.0.0/0")}, []int32{443},
			State{PublicRules: []Rule{rule(1, "tcp", 443, 443, "0.0.0.0/0")}}},
		{"private cidr", []types.SecurityGroupRule{sgr(1, "tcp", 22, 22, "10.0.0.0/8")}, defaults, State{}},
		{"host cidr", []types.SecurityGroupRule{sgr(1, "tcp", 22, 22, "203.0.113.7/32")}, defaults, State{}},
		{"half the internet", []types.SecurityGroupRule{sgr(1, "tcp", 22, 22, "0.0.0.0/1")}, defaults, State{}},
		{"v6 host", []types.SecurityGroupRule{sgr(1, "tcp", 22, 22, "2001:db8::/32")}, defaults, State{}},
		{"egress", []types.SecurityGroupRule{egress}, defaults, State{}},
		{"icmp", []types.SecurityGroupRule{sgr(1, "icmp", -1, -1, "0.0.0.0/0")}, defaults, State{}},

		// Several rules whose ranges together cover the whole space.
		{"two halves of IPv4", []types.SecurityGroupRule{sgr(1, "tcp", 22, 22, "0.0.0.0/1"), sgr(2, "tcp", 22, 22, "128.0.0.0/1")}, defaults,
			State{PublicRules: []Rule{rule(1, "tcp", 22, 22, "0.0.0.0/1"), rule(2, "tcp", 22, 22, "128.0.0.0/1")}}},
		{"two halves of IPv6", []types.SecurityGroupRule{sgr(1, "tcp", 3389, 3389, "::/1"), sgr(2, "tcp", 3389, 3389, "8000::/1")}, defaults,
			State{PublicRules: []Rule{rule(1, "tcp", 3389, 3389, "::/1"), rule(2, "tcp", 3389, 3389, "8000::/1")}}},
		{"four quarters, unordered", []types.SecurityGroupRule{
			sgr(1, "tcp", 22, 22, "192.0.0.0/2"), sgr(2, "tcp", 22, 22, "0.0.0.0/2"), sgr(3, "tcp", 22, 22, "128.0.0.0/2"), sgr(4, "tcp", 22, 22, "64.0.0.0/2"),
		}, defaults, State{PublicRules: []Rule{
			rule(1, "tcp", 22, 22, "192.0.0.0/2"), rule(2, "tcp", 22, 22, "0.0.0.0/2"), rule(3, "tcp", 22, 22, "128.0.0.0/2"), rule(4, "tcp", 22, 22, "64.0.0.0/2"),
		}}},
		{"three quarters is not all", []types.SecurityGroupRule{sgr(1, "tcp", 22, 22, "0.0.0.0/1"), sgr(2, "tcp", 22, 22, "128.0.0.0/2")}, defaults, State{}},
		{"the last address missing", []types.SecurityGroupRule{sgr(1, "tcp", 22, 22, "0.0.0.0/1"), sgr(2, "tcp", 22, 22, "128.0.0.0/2"),
			sgr(3, "tcp", 22, 22, "192.0.0.0/3"), sgr(4, "tcp", 22, 22, "224.0.0.0/4"), sgr(5, "tcp", 22, 22, "240.0.0.0/5")}, defaults, State{}},
		{"halves on different rules' port ranges", []types.SecurityGroupRule{sgr(1, "tcp", 0, 65535, "0.0.0.0/1"), sgr(2, "tcp", 20, 30, "128.0.0.0/1")}, defaults,
			State{PublicRules: []Rule{rule(1, "tcp", 0, 65535, "0.0.0.0/1"), rule(2, "tcp", 20, 30, "128.0.0.0/1")}}},
		{"all traffic with a tcp half", []types.SecurityGroupRule{sgr(1, "-1", -1, -1, "0.0.0.0/1"), sgr(2, "tcp", 22, 22, "128.0.0.0/1")}, defaults,
			State{PublicRules: []Rule{rule(1, "-1", -1, -1, "0.0.0.0/1"), rule(2, "tcp", 22, 22, "128.0.0.0/1")}}},
		{"halves on different ports are not a cover", []types.SecurityGroupRule{sgr(1, "tcp", 22, 22, "0.0.0.0/1"), sgr(2, "tcp", 3389, 3389, "128.0.0.0/1")}, defaults, State{}},
		{"halves on different protocols are not a cover", []types.SecurityGroupRule{sgr(1, "tcp", 22, 22, "0.0.0.0/1"), sgr(2, "udp", 22, 22, "128.0.0.0/1")}, defaults, State{}},
		{"halves of different families are not a cover", []types.SecurityGroupRule{sgr(1, "tcp", 22, 22, "0.0.0.0/1"), sgr(2, "tcp", 22, 22, "8000::/1")}, defaults, State{}},
		{"halves on an unconfigured port", []types.SecurityGroupRule{sgr(1, "tcp", 443, 443, "0.0.0.0/1"), sgr(2, "tcp", 443, 443, "128.0.0.0/1")}, defaults, State{}},
		{"non-canonical range", []types.SecurityGroupRule{sgr(1, "tcp", 22, 22, "10.1.2.3/1"), sgr(2, "tcp", 22, 22, "128.0.0.0/1")}, defaults,
			State{PublicRules: []Rule{rule(1, "tcp", 22, 22, "10.1.2.3/1"), rule(2, "tcp", 22, 22, "128.0.0.0/1")}}},

		// Ranges inside the cover stay unless needed to break it.
		{"office host inside a half stays", []types.SecurityGroupRule{
			sgr(1, "tcp", 22, 22, "0.0.0.0/1"), sgr(2, "tcp", 22, 22, "10.0.0.0/8"), sgr(3, "tcp", 22, 22, "128.0.0.0/1"), sgr(4, "tcp", 22, 22, "203.0.113.7/32"),
		}, defaults, State{PublicRules: []Rule{rule(1, "tcp", 22, 22, "0.0.0.0/1"), rule(3, "tcp", 22, 22, "128.0.0.0/1")}}},
		{"private range beside 0.0.0.0/0 stays", []types.SecurityGroupRule{sgr(1, "tcp", 22, 22, "10.0.0.0/8"), sgr(2, "tcp", 22, 22, "0.0.0.0/0")}, defaults,
			State{PublicRules: []Rule{rule(2, "tcp", 22, 22, "0.0.0.0/0")}}},
		{"a second cover inside the first goes too", []types.SecurityGroupRule{
			sgr(1, "tcp", 22, 22, "0.0.0.0/0"), sgr(2, "tcp", 22, 22, "0.0.0.0/1"), sgr(3, "tcp", 22, 22, "128.0.0.0/1"), sgr(4, "tcp", 22, 22, "10.0.0.0/8"),
		}, defaults, State{PublicRules: []Rule{rule(1, "tcp", 22, 22, "0.0.0.0/0"), rule(2, "tcp", 22, 22, "0.0.0.0/1"), rule(3, "tcp", 22, 22, "128.0.0.0/1")}}},
		{"the same range twice", []types.SecurityGroupRule{sgr(1, "tcp", 22, 22, "0.0.0.0/0"), sgr(2, "tcp", 0, 100, "0.0.0.0/0")}, defaults,
			State{PublicRules: []Rule{rule(1, "tcp", 22, 22, "0.0.0.0/0"), rule(2, "tcp", 0, 100, "0.0.0.0/0")}}},

		// Sources it cannot judge.
		{"prefix list", []types.SecurityGroupRule{prefixList}, defaults,
			State{Unjudged: []Unjudged{{ID: "sgr-9", Protocol: "tcp", FromPort: 22, ToPort: 22, Source: "prefix list pl-0123"}}}},
		{"prefix list beside a public rule", []types.SecurityGroupRule{prefixList, sgr(1, "tcp", 22, 22, "0.0.0.0/0")}, defaults,
			State{PublicRules: []Rule{rule(1, "tcp", 22, 22, "0.0.0.0/0")}, Unjudged: []Unjudged{{ID: "sgr-9", Protocol: "tcp", FromPort: 22, ToPort: 22, Source: "prefix list pl-0123"}}}},
		{"prefix list on an unconfigured port", []types.SecurityGroupRule{prefixList}, []int32{443}, State{}},
		{"other group", []types.SecurityGroupRule{withRef(sgr(8, "tcp", 22, 22, ""), &types.ReferencedSecurityGroup{GroupId: aws.String("sg-0fedcba9876543210"), UserId: aws.String("111122223333")}, "")}, defaults,
			State{Unjudged: []Unjudged{{ID: "sgr-8", Protocol: "tcp", FromPort: 22, ToPort: 22, Source: "security group sg-0fedcba9876543210 of account 111122223333"}}}},
		{"own group", []types.SecurityGroupRule{withRef(sgr(8, "-1", -1, -1, ""), &types.ReferencedSecurityGroup{GroupId: aws.String(group), UserId: aws.String("111122223333")}, "111122223333")}, defaults, State{}},
		{"own group id through a peering", []types.SecurityGroupRule{withRef(sgr(8, "tcp", 22, 22, ""), &types.ReferencedSecurityGroup{GroupId: aws.String(group), VpcPeeringConnectionId: aws.String("pcx-1")}, "")}, defaults,
			State{Unjudged: []Unjudged{{ID: "sgr-8", Protocol: "tcp", FromPort: 22, ToPort: 22, Source: "security group " + group + " through peering connection pcx-1"}}}},
		{"own group id of another account", []types.SecurityGroupRule{withRef(sgr(8, "tcp", 22, 22, ""), &types.ReferencedSecurityGroup{GroupId: aws.String(group), UserId: aws.String("444455556666")}, "111122223333")}, defaults,
			State{Unjudged: []Unjudged{{ID: "sgr-8", Protocol: "tcp", FromPort: 22, ToPort: 22, Source: "security group " + group + " of account 444455556666"}}}},
		{"unparseable range", []types.SecurityGroupRule{sgr(7, "tcp", 22, 22, "0.0.0.0/33")}, defaults,
			State{Unjudged: []Unjudged{{ID: "sgr-7", Protocol: "tcp", FromPort: 22, ToPort: 22, Source: `IPv4 range "0.0.0.0/33"`}}}},
		{"IPv6 range in the IPv4 field", []types.SecurityGroupRule{func() types.SecurityGroupRule {
			r := sgr(7, "tcp", 22, 22, "")
			r.CidrIpv4 = aws.String("::/0")
			return r
		}()}, defaults, State{Unjudged: []Unjudged{{ID: "sgr-7", Protocol: "tcp", FromPort: 22, ToPort: 22, Source: `IPv4 range "::/0"`}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			want.GroupID = group
			if want.PublicRules == nil {
				want.PublicRules = []Rule{}
			}
			if diff := cmp.Diff(want, assess(group, tt.rules, tt.ports)); diff != "" {
				t.Errorf("assess (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPermission(t *testing.T) {
	tests := []struct {
		name string
		in   Rule
		want types.IpPermission
	}{
		{"tcp v4", Rule{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDR: "0.0.0.0/0", Description: "ssh"},
			types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0"), Description: aws.String("ssh")}}}},
		{"all v6", Rule{Protocol: "-1", FromPort: -1, ToPort: -1, CIDR: "::/0"},
			types.IpPermission{IpProtocol: aws.String("-1"), Ipv6Ranges: []types.Ipv6Range{{CidrIpv6: aws.String("::/0")}}}},
		{"half of v6", Rule{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDR: "8000::/1"},
			types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), Ipv6Ranges: []types.Ipv6Range{{CidrIpv6: aws.String("8000::/1")}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.in.permission(), cmp.AllowUnexported(types.IpPermission{}, types.IpRange{}, types.Ipv6Range{})); diff != "" {
				t.Errorf("permission (-want +got):\n%s", diff)
			}
		})
	}
}
