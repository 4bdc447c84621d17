package sgingress

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/google/go-cmp/cmp"
)

func TestPublicRule(t *testing.T) {
	rule := func(proto string, from, to int32, v4, v6 string, egress bool) types.SecurityGroupRule {
		r := types.SecurityGroupRule{
			SecurityGroupRuleId: aws.String("sgr-1"), IpProtocol: aws.String(proto),
			FromPort: aws.Int32(from), ToPort: aws.Int32(to), IsEgress: aws.Bool(egress),
		}
		if v4 != "" {
			r.CidrIpv4 = aws.String(v4)
		}
		if v6 != "" {
			r.CidrIpv6 = aws.String(v6)
		}
		return r
	}
	defaults := DefaultPorts()
	tests := []struct {
		name   string
		in     types.SecurityGroupRule
		ports  []int32
		want   Rule
		wantOK bool
	}{
		{"ssh from anywhere", rule("tcp", 22, 22, "0.0.0.0/0", "", false), defaults, Rule{ID: "sgr-1", Protocol: "tcp", FromPort: 22, ToPort: 22, CIDR: "0.0.0.0/0"}, true},
		{"rdp from anywhere v6", rule("tcp", 3389, 3389, "", "::/0", false), defaults, Rule{ID: "sgr-1", Protocol: "tcp", FromPort: 3389, ToPort: 3389, CIDR: "::/0"}, true},
		{"udp rdp", rule("udp", 3389, 3389, "0.0.0.0/0", "", false), defaults, Rule{ID: "sgr-1", Protocol: "udp", FromPort: 3389, ToPort: 3389, CIDR: "0.0.0.0/0"}, true},
		{"protocol number", rule("6", 22, 22, "0.0.0.0/0", "", false), defaults, Rule{ID: "sgr-1", Protocol: "6", FromPort: 22, ToPort: 22, CIDR: "0.0.0.0/0"}, true},
		{"range holding 22", rule("tcp", 0, 1024, "0.0.0.0/0", "", false), defaults, Rule{ID: "sgr-1", Protocol: "tcp", FromPort: 0, ToPort: 1024, CIDR: "0.0.0.0/0"}, true},
		{"all traffic", rule("-1", -1, -1, "0.0.0.0/0", "", false), defaults, Rule{ID: "sgr-1", Protocol: "-1", FromPort: -1, ToPort: -1, CIDR: "0.0.0.0/0"}, true},
		{"all traffic, other ports configured", rule("-1", -1, -1, "", "::/0", false), []int32{443}, Rule{ID: "sgr-1", Protocol: "-1", FromPort: -1, ToPort: -1, CIDR: "::/0"}, true},
		{"https", rule("tcp", 443, 443, "0.0.0.0/0", "", false), defaults, Rule{}, false},
		{"configured https", rule("tcp", 443, 443, "0.0.0.0/0", "", false), []int32{443}, Rule{ID: "sgr-1", Protocol: "tcp", FromPort: 443, ToPort: 443, CIDR: "0.0.0.0/0"}, true},
		{"private cidr", rule("tcp", 22, 22, "10.0.0.0/8", "", false), defaults, Rule{}, false},
		{"host cidr", rule("tcp", 22, 22, "203.0.113.7/32", "", false), defaults, Rule{}, false},
		{"half the internet", rule("tcp", 22, 22, "0.0.0.0/1", "", false), defaults, Rule{}, false},
		{"v6 host", rule("tcp", 22, 22, "", "2001:db8::/32", false), defaults, Rule{}, false},
		{"egress", rule("tcp", 22, 22, "0.0.0.0/0", "", true), defaults, Rule{}, false},
		{"icmp", rule("icmp", -1, -1, "0.0.0.0/0", "", false), defaults, Rule{}, false},
		{"group reference", types.SecurityGroupRule{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), IsEgress: aws.Bool(false), ReferencedGroupInfo: &types.ReferencedSecurityGroup{GroupId: aws.String("sg-2")}}, defaults, Rule{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := publicRule(tt.in, tt.ports)
			if ok != tt.wantOK {
				t.Fatalf("publicRule ok = %v, want %v", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("publicRule (-want +got):\n%s", diff)
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.in.permission(), cmp.AllowUnexported(types.IpPermission{}, types.IpRange{}, types.Ipv6Range{})); diff != "" {
				t.Errorf("permission (-want +got):\n%s", diff)
			}
		})
	}
}
