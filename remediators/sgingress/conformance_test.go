package sgingress_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/google/go-cmp/cmp"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
	"github.com/remedy-sec/remedy/remediators/sgingress"
)

var moto *mototest.Server

func TestMain(m *testing.M) { os.Exit(mototest.Main(m, &moto)) }

const region = "us-east-1"

var seq atomic.Int64 // unique group names across the tests of this binary

func finding(group string) *remediate.Finding {
	a := "arn:aws:ec2:" + region + ":" + mototest.DefaultAccount + ":security-group/" + group
	return &remediate.Finding{
		ID: "finding-" + group, Source: "test",
		Resource: remediate.Resource{ID: a, ARN: a, Type: sgingress.ResourceType, Cloud: "AWS", Account: mototest.DefaultAccount, Region: region},
	}
}

// createGroup creates a security group with perms as its ingress rules.
func createGroup(t *testing.T, cfg aws.Config, perms ...types.IpPermission) string {
	t.Helper()
	c := ec2.NewFromConfig(cfg)
	out, err := c.CreateSecurityGroup(t.Context(), &ec2.CreateSecurityGroupInput{
		GroupName:   aws.String(fmt.Sprintf("remedy-test-%d", seq.Add(1))),
		Description: aws.String("remedy test"),
	})
	if err != nil {
		t.Fatalf("CreateSecurityGroup: %v", err)
	}
	if len(perms) > 0 {
		if _, err := c.AuthorizeSecurityGroupIngress(t.Context(), &ec2.AuthorizeSecurityGroupIngressInput{GroupId: out.GroupId, IpPermissions: perms}); err != nil {
			t.Fatalf("AuthorizeSecurityGroupIngress: %v", err)
		}
	}
	return *out.GroupId
}

func perm(proto string, from, to int32, cidr string) types.IpPermission {
	p := types.IpPermission{IpProtocol: aws.String(proto)}
	if proto != "-1" {
		p.FromPort, p.ToPort = aws.Int32(from), aws.Int32(to)
	}
	if strings.Contains(cidr, ":") {
		p.Ipv6Ranges = []types.Ipv6Range{{CidrIpv6: aws.String(cidr)}}
	} else {
		p.IpRanges = []types.IpRange{{CidrIp: aws.String(cidr)}}
	}
	return p
}

// ingress reads the group's ingress rules as "proto from-to source"
// strings, sorted, without the remediator. A source is a CIDR, a prefix
// list id or a security group id.
func ingress(t *testing.T, cfg aws.Config, group string) []string {
	t.Helper()
	out, err := ec2.NewFromConfig(cfg).DescribeSecurityGroups(t.Context(), &ec2.DescribeSecurityGroupsInput{GroupIds: []string{group}})
	if err != nil {
		t.Fatalf("DescribeSecurityGroups: %v", err)
	}
	var rules []string
	for _, p := range out.SecurityGroups[0].IpPermissions {
		for _, r := range p.IpRanges {
			rules = append(rules, fmt.Sprintf("%s %d-%d %s", aws.ToString(p.IpProtocol), aws.ToInt32(p.FromPort), aws.ToInt32(p.ToPort), aws.ToString(r.CidrIp)))
		}
		for _, r := range p.Ipv6Ranges {
			rules = append(rules, fmt.Sprintf("%s %d-%d %s", aws.ToString(p.IpProtocol), aws.ToInt32(p.FromPort), aws.ToInt32(p.ToPort), aws.ToString(r.CidrIpv6)))
		}
		for _, r := range p.PrefixListIds {
			rules = append(rules, fmt.Sprintf("%s %d-%d %s", aws.ToString(p.IpProtocol), aws.ToInt32(p.FromPort), aws.ToInt32(p.ToPort), aws.ToString(r.PrefixListId)))
		}
		for _, r := range p.UserIdGroupPairs {
			rules = append(rules, fmt.Sprintf("%s %d-%d %s", aws.ToString(p.IpProtocol), aws.ToInt32(p.FromPort), aws.ToInt32(p.ToPort), aws.ToString(r.GroupId)))
		}
	}
	slices.Sort(rules)
	return rules
}

func TestConformance(t *testing.T) {
	srv := mototest.Require(t, moto)
	remediatetest.Run(t, remediatetest.Harness{
		Remediator: sgingress.New(),
		AWS:        srv.Config(region),
		NewNonCompliant: func(t *testing.T, cfg aws.Config) *remediate.Finding {
			return finding(createGroup(t, cfg, perm("tcp", 22, 22, "0.0.0.0/0"), perm("tcp", 443, 443, "0.0.0.0/0")))
		},
		Compliant: func(t *testing.T, cfg aws.Config, f *remediate.Finding) bool {
			group := f.Resource.ARN[strings.LastIndex(f.Resource.ARN, "/")+1:]
			return !slices.Contains(ingress(t, cfg, group), "tcp 22-22 0.0.0.0/0")
		},
		NewMissing: func(t *testing.T, cfg aws.Config) *remediate.Finding {
			return finding("sg-0123456789abcdef0")
		},
	})
}

// TestRevokesOnlyConfiguredPublicRules checks, against moto, which rules
// go and which stay, for the default ports and for configured ones.
func TestRevokesOnlyConfiguredPublicRules(t *testing.T) {
	srv := mototest.Require(t, moto)
	cfg := srv.Config(region)
	rules := []types.IpPermission{
		perm("tcp", 22, 22, "0.0.0.0/0"),
		perm("tcp", 22, 22, "10.0.0.0/8"),
		perm("tcp", 3389, 3389, "::/0"),
		perm("udp", 3389, 3389, "0.0.0.0/0"),
		perm("tcp", 443, 443, "0.0.0.0/0"),
		perm("tcp", 5432, 5432, "0.0.0.0/0"),
		perm("tcp", 1000, 2000, "0.0.0.0/0"),
		perm("tcp", 0, 65535, "203.0.113.7/32"),
		perm("icmp", -1, -1, "0.0.0.0/0"),
	}
	all := []string{
		"icmp -1--1 0.0.0.0/0",
		"tcp 0-65535 203.0.113.7/32",
		"tcp 1000-2000 0.0.0.0/0",
		"tcp 22-22 0.0.0.0/0",
		"tcp 22-22 10.0.0.0/8",
		"tcp 3389-3389 ::/0",
		"tcp 443-443 0.0.0.0/0",
		"tcp 5432-5432 0.0.0.0/0",
		"udp 3389-3389 0.0.0.0/0",
	}
	without := func(gone ...string) []string {
		return slices.DeleteFunc(slices.Clone(all), func(s string) bool { return slices.Contains(gone, s) })
	}
	tests := []struct {
		name  string
		ports []int32
		want  []string
	}{
		{"default ports", nil, without("tcp 22-22 0.0.0.0/0", "tcp 3389-3389 ::/0", "udp 3389-3389 0.0.0.0/0")},
		{"5432 only", []int32{5432}, without("tcp 5432-5432 0.0.0.0/0")},
		{"port inside a range", []int32{1500}, without("tcp 1000-2000 0.0.0.0/0")},
		{"no public rule on the port", []int32{8080}, all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			group := createGroup(t, cfg, rules...)
			if diff := cmp.Diff(all, ingress(t, cfg, group)); diff != "" {
				t.Fatalf("set-up rules (-want +got):\n%s", diff)
			}
			r := sgingress.New(func(o *sgingress.Options) { o.Ports = tt.ports })
			tg := remediate.Target{Finding: finding(group), AWS: cfg}
			p, err := r.Plan(t.Context(), tg)
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			if _, err := r.Apply(t.Context(), tg, p); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if diff := cmp.Diff(tt.want, ingress(t, cfg, group)); diff != "" {
				t.Errorf("rules after Apply (-want +got):\n%s", diff)
			}
			if err := r.Verify(t.Context(), tg, p); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

// TestAllTrafficRule checks that an all-traffic rule from anywhere is
// revoked and restored.
func TestAllTrafficRule(t *testing.T) {
	srv := mototest.Require(t, moto)
	cfg := srv.Config(region)
	group := createGroup(t, cfg, perm("-1", 0, 0, "0.0.0.0/0"), perm("tcp", 80, 80, "0.0.0.0/0"))
	before := ingress(t, cfg, group)
	r := sgingress.New()
	tg := remediate.Target{Finding: finding(group), AWS: cfg}
	p, err := r.Plan(t.Context(), tg)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	if len(p.Changes) != 1 {
		t.Fatalf("Plan.Changes = %q, want one revocation", p.Changes)
	}
	res, err := r.Apply(t.Context(), tg, p)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if diff := cmp.Diff([]string{"tcp 80-80 0.0.0.0/0"}, ingress(t, cfg, group)); diff != "" {
		t.Errorf("rules after Apply (-want +got):\n%s", diff)
	}
	if err := r.Rollback(t.Context(), tg, res.Rollback); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if diff := cmp.Diff(before, ingress(t, cfg, group)); diff != "" {
		t.Errorf("rules after Rollback (-want +got):\n%s", diff)
	}
}

// TestApplyWithStalePlan checks that a rule revoked by someone else
// between Plan and Apply does not fail Apply.
func TestApplyWithStalePlan(t *testing.T) {
	srv := mototest.Require(t, moto)
	cfg := srv.Config(region)
	group := createGroup(t, cfg, perm("tcp", 22, 22, "0.0.0.0/0"), perm("tcp", 3389, 3389, "0.0.0.0/0"))
	r := sgingress.New()
	tg := remediate.Target{Finding: finding(group), AWS: cfg}
	p, err := r.Plan(t.Context(), tg)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	if _, err := ec2.NewFromConfig(cfg).RevokeSecurityGroupIngress(t.Context(), &ec2.RevokeSecurityGroupIngressInput{
		GroupId: aws.String(group), IpPermissions: []types.IpPermission{perm("tcp", 22, 22, "0.0.0.0/0")},
	}); err != nil {
		t.Fatalf("RevokeSecurityGroupIngress: %v", err)
	}
	res, err := r.Apply(t.Context(), tg, p)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if got := ingress(t, cfg, group); len(got) != 0 {
		t.Errorf("rules after Apply = %q, want none", got)
	}
	var rb sgingress.State
	if err := json.Unmarshal(res.Rollback, &rb); err != nil {
		t.Fatal(err)
	}
	if len(rb.PublicRules) != 1 || rb.PublicRules[0].FromPort != 3389 {
		t.Errorf("rollback rules = %+v, want only the 3389 rule Apply revoked", rb.PublicRules)
	}
}

// TestUnionOfRangesIsPublic checks, against moto, that ranges which
// together cover all of IPv4 or IPv6 on a configured port are revoked as
// one exposure, that a narrower range inside them and covers on other
// ports stay, and that rollback restores every revoked rule.
func TestUnionOfRangesIsPublic(t *testing.T) {
	srv := mototest.Require(t, moto)
	cfg := srv.Config(region)
	group := createGroup(t, cfg,
		perm("tcp", 22, 22, "0.0.0.0/1"),
		perm("tcp", 22, 22, "128.0.0.0/1"),
		perm("tcp", 22, 22, "10.0.0.0/8"),
		perm("tcp", 3389, 3389, "::/1"),
		perm("-1", 0, 0, "8000::/1"),
		perm("tcp", 443, 443, "0.0.0.0/1"),
		perm("tcp", 443, 443, "128.0.0.0/1"),
		perm("tcp", 5432, 5432, "0.0.0.0/1"),
		perm("tcp", 5432, 5432, "128.0.0.0/2"),
	)
	before := ingress(t, cfg, group)
	r := sgingress.New(func(o *sgingress.Options) { o.Ports = []int32{22, 3389, 5432} })
	tg := remediate.Target{Finding: finding(group), AWS: cfg}
	p, err := r.Plan(t.Context(), tg)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	if p.Compliant || len(p.Changes) != 4 {
		t.Fatalf("Plan = compliant %v, changes %q; want the 4 rules of the two covers revoked", p.Compliant, p.Changes)
	}
	res, err := r.Apply(t.Context(), tg, p)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	want := []string{
		"tcp 22-22 10.0.0.0/8",
		"tcp 443-443 0.0.0.0/1",
		"tcp 443-443 128.0.0.0/1",
		"tcp 5432-5432 0.0.0.0/1",
		"tcp 5432-5432 128.0.0.0/2",
	}
	if diff := cmp.Diff(want, ingress(t, cfg, group)); diff != "" {
		t.Errorf("rules after Apply (-want +got):\n%s", diff)
	}
	if err := r.Verify(t.Context(), tg, p); err != nil {
		t.Errorf("Verify: %v", err)
	}
	// The intent kept before Apply can undo the change as well.
	if diff := cmp.Diff(string(res.Rollback), string(p.Rollback)); diff != "" {
		t.Errorf("Plan.Rollback differs from Result.Rollback (-result +plan):\n%s", diff)
	}
	if err := r.Rollback(t.Context(), tg, p.Rollback); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if diff := cmp.Diff(before, ingress(t, cfg, group)); diff != "" {
		t.Errorf("rules after Rollback (-want +got):\n%s", diff)
	}
}

// TestUnjudgedSourcesGoToReview checks, against moto, that a prefix list
// or another security group allowed on a configured port is never read
// as compliant: alone, Plan returns a permanent error wrapping
// ErrCannotJudge and nothing is written; beside a public range, the range
// is revoked, the reference is kept, and Verify reports it. The group's
// own members and a prefix list on another port are no obstacle.
func TestUnjudgedSourcesGoToReview(t *testing.T) {
	srv := mototest.Require(t, moto)
	cfg := srv.Config(region)
	c := ec2.NewFromConfig(cfg)
	pl, err := c.CreateManagedPrefixList(t.Context(), &ec2.CreateManagedPrefixListInput{
		PrefixListName: aws.String(fmt.Sprintf("remedy-test-%d", seq.Add(1))), AddressFamily: aws.String("IPv4"), MaxEntries: aws.Int32(5),
		Entries: []types.AddPrefixListEntry{{Cidr: aws.String("0.0.0.0/0")}},
	})
	if err != nil {
		t.Fatalf("CreateManagedPrefixList: %v", err)
	}
	plID := aws.ToString(pl.PrefixList.PrefixListId)
	other := createGroup(t, cfg)
	fromPrefixList := func(port int32) types.IpPermission {
		return types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port), PrefixListIds: []types.PrefixListId{{PrefixListId: aws.String(plID)}}}
	}
	fromGroup := func(proto string, port int32, g string) types.IpPermission {
		p := types.IpPermission{IpProtocol: aws.String(proto), UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: aws.String(g)}}}
		if proto != "-1" {
			p.FromPort, p.ToPort = aws.Int32(port), aws.Int32(port)
		}
		return p
	}

	t.Run("alone", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			perm types.IpPermission
		}{
			{"prefix list", fromPrefixList(22)},
			{"other group", fromGroup("tcp", 3389, other)},
			{"all traffic from other group", fromGroup("-1", 0, other)},
		} {
			t.Run(tt.name, func(t *testing.T) {
				group := createGroup(t, cfg, tt.perm)
				before := ingress(t, cfg, group)
				rcfg, rec := remediatetest.Record(cfg)
				r := sgingress.New()
				tg := remediate.Target{Finding: finding(group), AWS: rcfg}
				p, err := r.Plan(t.Context(), tg)
				if !errors.Is(err, sgingress.ErrCannotJudge) || !remediate.IsPermanent(err) {
					t.Fatalf("Plan = compliant %v, %v; want a permanent error wrapping ErrCannotJudge", p.Compliant, err)
				}
				if _, err := r.Apply(t.Context(), tg, remediate.Plan{}); !errors.Is(err, sgingress.ErrCannotJudge) {
					t.Errorf("Apply without a plan = %v; want ErrCannotJudge", err)
				}
				for _, op := range rec.Operations() {
					if !op.ReadOnly() {
						t.Errorf("wrote %s", op)
					}
				}
				if diff := cmp.Diff(before, ingress(t, cfg, group)); diff != "" {
					t.Errorf("rules changed (-want +got):\n%s", diff)
				}
			})
		}
	})

	t.Run("judged", func(t *testing.T) {
		group := createGroup(t, cfg, fromPrefixList(443))
		c := ec2.NewFromConfig(cfg)
		if _, err := c.AuthorizeSecurityGroupIngress(t.Context(), &ec2.AuthorizeSecurityGroupIngressInput{
			GroupId: aws.String(group), IpPermissions: []types.IpPermission{fromGroup("-1", 0, group)},
		}); err != nil {
			t.Fatalf("AuthorizeSecurityGroupIngress: %v", err)
		}
		p, err := sgingress.New().Plan(t.Context(), remediate.Target{Finding: finding(group), AWS: cfg})
		if err != nil || !p.Compliant {
			t.Errorf("own members and a prefix list on another port: Plan = compliant %v, %v; want compliant", p.Compliant, err)
		}
	})

	t.Run("beside a public range", func(t *testing.T) {
		group := createGroup(t, cfg, fromPrefixList(22), perm("tcp", 22, 22, "0.0.0.0/0"))
		r := sgingress.New()
		tg := remediate.Target{Finding: finding(group), AWS: cfg}
		p, err := r.Plan(t.Context(), tg)
		if err != nil {
			t.Fatalf("Plan: %v", err)
		}
		if len(p.Changes) != 1 || !strings.Contains(p.Changes[0], "0.0.0.0/0") {
			t.Fatalf("Plan.Changes = %q, want the 0.0.0.0/0 rule revoked", p.Changes)
		}
		if _, err := r.Apply(t.Context(), tg, p); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if diff := cmp.Diff([]string{"tcp 22-22 " + plID}, ingress(t, cfg, group)); diff != "" {
			t.Errorf("rules after Apply (-want +got):\n%s", diff)
		}
		if err := r.Verify(t.Context(), tg, p); !errors.Is(err, sgingress.ErrCannotJudge) || !strings.Contains(err.Error(), plID) {
			t.Errorf("Verify = %v; want ErrCannotJudge naming %s", err, plID)
		}
	})
}
