package crossaccount

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/remediate"
)

const acct = "111111111111"

// declared are ARN patterns of resource types, as remediators declare
// them in Spec.Resources.
var declared = map[string][]string{
	"bucket":        {"arn:{partition}:s3:::*"},
	"securityGroup": {"arn:{partition}:ec2:{region}:{account}:security-group/*", "arn:{partition}:ec2:{region}:{account}:security-group-rule/*"},
	"snapshot":      {"arn:{partition}:ec2:{region}::snapshot/*"},
	"volume":        {"arn:{partition}:ec2:{region}:{account}:volume/*"},
	"instance":      {"arn:{partition}:ec2:{region}:{account}:instance/*"},
	"image":         {"arn:{partition}:ec2:{region}::image/*"},
	"vpc":           {"arn:{partition}:ec2:{region}:{account}:vpc/*"},
	"networkAcl":    {"arn:{partition}:ec2:{region}:{account}:network-acl/*"},
	"kmsKey":        {"arn:{partition}:kms:{region}:{account}:key/*"},
	"AWS::KMS::Key": {"arn:{partition}:kms:{region}:{account}:key/*"},
	"role":          {"arn:{partition}:iam::{account}:role/*"},
	"dbInstance":    {"arn:{partition}:rds:{region}:{account}:db:*"},
}

// resourcesOf returns the declared patterns of types, for Spec.Resources.
func resourcesOf(types ...string) map[string][]string {
	out := make(map[string][]string, len(types))
	for _, t := range types {
		out[t] = declared[t]
	}
	return out
}

var (
	s3Spec = remediate.Spec{
		Action:        "s3-block-public-access",
		ResourceTypes: []string{"bucket"},
		Resources:     resourcesOf("bucket"),
		IAMActions:    []string{"s3:PutBucketPublicAccessBlock", "s3:GetBucketPublicAccessBlock"},
	}
	sgSpec = remediate.Spec{
		Action:        "sg-ingress",
		ResourceTypes: []string{"securityGroup"},
		Resources:     resourcesOf("securityGroup"),
		IAMActions:    []string{"ec2:DescribeSecurityGroupRules", "ec2:RevokeSecurityGroupIngress", "ec2:DescribeSecurityGroups"},
	}
)

func allow(actions, resources []string, cond map[string][]string) statement {
	st := statement{Effect: "Allow", Action: actions, Resource: resources}
	if cond != nil {
		st.Condition = map[string]map[string][]string{"StringEquals": cond}
	}
	return st
}

func TestSessionPolicyJSON(t *testing.T) {
	got, err := SessionPolicy(s3Spec, Scope{Account: acct, Regions: []string{"us-east-1", "eu-west-1"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetBucketPublicAccessBlock","s3:PutBucketPublicAccessBlock"],` +
		`"Resource":["arn:aws:s3:::*"],"Condition":{"StringEquals":{"aws:RequestedRegion":["eu-west-1","us-east-1"],"aws:ResourceAccount":["111111111111"]}}}]}`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SessionPolicy mismatch (-want +got):\n%s", diff)
	}
}

func TestSessionPolicy(t *testing.T) {
	sgARN := "arn:aws:ec2:eu-west-1:" + acct + ":security-group/sg-0123"
	tests := []struct {
		name string
		spec remediate.Spec
		sc   Scope
		want []statement
	}{
		{
			name: "shared security groups, any region",
			spec: sgSpec,
			sc:   Scope{Account: acct},
			want: []statement{
				allow([]string{"ec2:RevokeSecurityGroupIngress"}, []string{
					"arn:aws:ec2:*:" + acct + ":security-group-rule/*", "arn:aws:ec2:*:" + acct + ":security-group/*",
				}, nil),
				allow([]string{"ec2:DescribeSecurityGroupRules", "ec2:DescribeSecurityGroups"}, []string{"*"}, nil),
			},
		},
		{
			name: "strict: the finding's security group, its region",
			spec: sgSpec,
			sc:   Scope{Account: acct, Regions: []string{"eu-west-1"}, ResourceARN: sgARN},
			want: []statement{
				allow([]string{"ec2:RevokeSecurityGroupIngress"}, []string{sgARN}, map[string][]string{"aws:RequestedRegion": {"eu-west-1"}}),
				allow([]string{"ec2:DescribeSecurityGroupRules", "ec2:DescribeSecurityGroups"}, []string{"*"}, map[string][]string{"aws:RequestedRegion": {"eu-west-1"}}),
			},
		},
		{
			name: "strict: a bucket ARN has no account, so aws:ResourceAccount holds it",
			spec: s3Spec,
			sc:   Scope{Account: acct, Regions: []string{"us-east-1"}, ResourceARN: "arn:aws:s3:::my-bucket"},
			want: []statement{
				allow([]string{"s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock"}, []string{"arn:aws:s3:::my-bucket"},
					map[string][]string{"aws:RequestedRegion": {"us-east-1"}, "aws:ResourceAccount": {acct}}),
			},
		},
		{
			name: "KMS keys in one region",
			spec: remediate.Spec{Action: "kms-rotation", ResourceTypes: []string{"AWS::KMS::Key"}, Resources: resourcesOf("AWS::KMS::Key"), IAMActions: []string{"kms:EnableKeyRotation", "kms:GetKeyRotationStatus", "kms:DescribeKey"}},
			sc:   Scope{Account: acct, Regions: []string{"us-east-1"}},
			want: []statement{
				allow([]string{"kms:DescribeKey", "kms:EnableKeyRotation", "kms:GetKeyRotationStatus"}, []string{"arn:aws:kms:us-east-1:" + acct + ":key/*"},
					map[string][]string{"aws:RequestedRegion": {"us-east-1"}}),
			},
		},
		{
			name: "EBS snapshots have no account in their ARN",
			spec: remediate.Spec{Action: "ebs-snapshot-private", ResourceTypes: []string{"snapshot"}, Resources: resourcesOf("snapshot"), IAMActions: []string{"ec2:ModifySnapshotAttribute", "ec2:DescribeSnapshotAttribute"}},
			sc:   Scope{Account: acct, Regions: []string{"*"}},
			want: []statement{
				allow([]string{"ec2:ModifySnapshotAttribute"}, []string{"arn:aws:ec2:*::snapshot/*"}, map[string][]string{"aws:ResourceAccount": {acct}}),
				allow([]string{"ec2:DescribeSnapshotAttribute"}, []string{"*"}, nil),
			},
		},
		{
			name: "a type of a service the old table did not know: its declared pattern",
			spec: remediate.Spec{Action: "x", ResourceTypes: []string{"gizmo"}, Resources: map[string][]string{"gizmo": {"arn:{partition}:gizmos:{region}:{account}:gizmo/*"}}, IAMActions: []string{"gizmos:ModifyGizmo"}},
			sc:   Scope{Account: acct, Regions: []string{"us-east-1", "us-west-2"}},
			want: []statement{
				allow([]string{"gizmos:ModifyGizmo"}, []string{"arn:aws:gizmos:*:" + acct + ":gizmo/*"}, map[string][]string{"aws:RequestedRegion": {"us-east-1", "us-west-2"}}),
			},
		},
		{
			name: "strict, second service scoped by type; IAM is global",
			spec: remediate.Spec{Action: "s3-encrypt", ResourceTypes: []string{"bucket", "role"}, Resources: resourcesOf("bucket", "role"), IAMActions: []string{"s3:PutEncryptionConfiguration", "iam:GetRole"}},
			sc:   Scope{Partition: "aws-cn", Account: acct, Regions: []string{"cn-north-1"}, ResourceARN: "arn:aws-cn:s3:::b"},
			want: []statement{
				allow([]string{"iam:GetRole"}, []string{"arn:aws-cn:iam::" + acct + ":role/*"}, nil),
				allow([]string{"s3:PutEncryptionConfiguration"}, []string{"arn:aws-cn:s3:::b"}, map[string][]string{"aws:RequestedRegion": {"cn-north-1"}, "aws:ResourceAccount": {acct}}),
			},
		},
		{
			name: "duplicate actions are declared once",
			spec: remediate.Spec{Action: "x", ResourceTypes: []string{"bucket"}, Resources: resourcesOf("bucket"), IAMActions: []string{"s3:GetBucketAcl", "s3:GetBucketAcl"}},
			sc:   Scope{Account: acct, Regions: []string{"*"}},
			want: []statement{
				allow([]string{"s3:GetBucketAcl"}, []string{"arn:aws:s3:::*"}, map[string][]string{"aws:ResourceAccount": {acct}}),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustPolicy(t, tt.spec, tt.sc)
			if diff := cmp.Diff(policyDoc{Version: "2012-10-17", Statement: tt.want}, got); diff != "" {
				t.Errorf("SessionPolicy mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// mustPolicy generates, parses and checks a policy against the rules that
// hold for every policy: it fits, and "*" goes only with read-only
// actions that need it.
func mustPolicy(t *testing.T, s remediate.Spec, sc Scope) policyDoc {
	t.Helper()
	p, err := SessionPolicy(s, sc)
	if err != nil {
		t.Fatalf("SessionPolicy: %v", err)
	}
	checkPolicy(t, p)
	var doc policyDoc
	if err := json.Unmarshal([]byte(p), &doc); err != nil {
		t.Fatalf("policy is not JSON: %v\n%s", err, p)
	}
	return doc
}

func checkPolicy(t *testing.T, p string) {
	t.Helper()
	if len(p) > MaxPolicySize {
		t.Errorf("policy has %d characters, more than %d", len(p), MaxPolicySize)
	}
	var doc policyDoc
	if err := json.Unmarshal([]byte(p), &doc); err != nil {
		t.Fatalf("policy is not JSON: %v\n%s", err, p)
	}
	for _, st := range doc.Statement {
		for _, r := range st.Resource {
			if r != "*" && !strings.HasPrefix(r, "arn:") {
				t.Errorf("resource %q is neither * nor an ARN", r)
			}
			if r != "*" {
				continue
			}
			for _, a := range st.Action {
				svc, name, _ := strings.Cut(a, ":")
				if !needsAnyResource(svc, name) {
					t.Errorf(`action %s has "Resource": "*": %s`, a, p)
				}
			}
		}
	}
}

func TestSessionPolicyErrors(t *testing.T) {
	tests := []struct {
		name string
		spec remediate.Spec
		sc   Scope
		want string
	}{
		{"bad account", s3Spec, Scope{Account: "12345"}, "not 12 digits"},
		{"no actions", remediate.Spec{Action: "x"}, Scope{Account: acct}, "declares no IAM action"},
		{"bare star", remediate.Spec{Action: "x", IAMActions: []string{"*"}}, Scope{Account: acct}, "not service:Action"},
		{"service star", remediate.Spec{Action: "x", IAMActions: []string{"s3:*"}}, Scope{Account: acct}, "not a wildcard"},
		{"malformed action", remediate.Spec{Action: "x", IAMActions: []string{"S3:Get Bucket"}}, Scope{Account: acct}, "not service:Action"},
		{"resource in another account", sgSpec, Scope{Account: acct, ResourceARN: "arn:aws:ec2:us-east-1:222222222222:security-group/sg-1"}, "belongs to account 222222222222"},
		{"resource in another partition", s3Spec, Scope{Account: acct, ResourceARN: "arn:aws-cn:s3:::b"}, "partition"},
		{"resource not an ARN", s3Spec, Scope{Account: acct, ResourceARN: "my-bucket"}, "not an ARN"},
		{"bad region", s3Spec, Scope{Account: acct, Regions: []string{"us east"}}, "bad region"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := SessionPolicy(tt.spec, tt.sc)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("SessionPolicy error = %v, want one containing %q", err, tt.want)
			}
			if !remediate.IsPermanent(err) {
				t.Errorf("error %v is not permanent", err)
			}
		})
	}
}

// manyActions returns n distinct ec2 write actions of realistic length.
func manyActions(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("ec2:ModifyInstanceAttributeNumber%03d", i)
	}
	return out
}

func TestSessionPolicyFallsBackToCoarserScope(t *testing.T) {
	types := []string{"securityGroup", "snapshot", "volume", "instance", "image", "vpc", "networkAcl"}
	sgARN := "arn:aws:ec2:us-east-1:" + acct + ":security-group/sg-0123"
	tests := []struct {
		name    string
		actions int
		types   []string
		sc      Scope
		want    []string // Resource of the ec2 statement
	}{
		{"fits: the finding's resource", 40, types, Scope{Account: acct, Regions: []string{"us-east-1"}, ResourceARN: sgARN}, []string{sgARN}},
		{"fits: declared types", 38, types, Scope{Account: acct, Regions: []string{"us-east-1"}}, []string{
			"arn:aws:ec2:us-east-1:" + acct + ":instance/*", "arn:aws:ec2:us-east-1:" + acct + ":network-acl/*",
			"arn:aws:ec2:us-east-1:" + acct + ":security-group-rule/*", "arn:aws:ec2:us-east-1:" + acct + ":security-group/*",
			"arn:aws:ec2:us-east-1:" + acct + ":volume/*", "arn:aws:ec2:us-east-1:" + acct + ":vpc/*",
			"arn:aws:ec2:us-east-1::image/*", "arn:aws:ec2:us-east-1::snapshot/*",
		}},
		{"too long with types: the whole service in the account", 40, types, Scope{Account: acct, Regions: []string{"us-east-1"}}, []string{
			"arn:aws:ec2:us-east-1:" + acct + ":*", "arn:aws:ec2:us-east-1::image/*", "arn:aws:ec2:us-east-1::snapshot/*",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := remediate.Spec{Action: "x", ResourceTypes: tt.types, Resources: resourcesOf(tt.types...), IAMActions: manyActions(tt.actions)}
			doc := mustPolicy(t, spec, tt.sc)
			if diff := cmp.Diff(tt.want, doc.Statement[0].Resource); diff != "" {
				t.Errorf("Resource mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestStrictSessionPolicyNeverWidens: a strict policy too long for its
// resource is refused, never rebuilt for the account's resources of the
// type or the whole service.
func TestStrictSessionPolicyNeverWidens(t *testing.T) {
	types := []string{"securityGroup", "snapshot", "volume", "instance", "image", "vpc", "networkAcl"}
	spec := remediate.Spec{Action: "x", ResourceTypes: types, Resources: resourcesOf(types...), IAMActions: manyActions(44)}
	_, err := SessionPolicy(spec, Scope{
		Account: acct, Regions: []string{"us-east-1"},
		ResourceARN: "arn:aws:ec2:us-east-1:" + acct + ":security-group/sg-" + strings.Repeat("0", 150),
	})
	if !errors.Is(err, ErrPolicyTooLarge) || !remediate.IsPermanent(err) {
		t.Fatalf("strict SessionPolicy too long for its resource: error %v, want a permanent ErrPolicyTooLarge", err)
	}
}

func TestSessionPolicyTooLarge(t *testing.T) {
	spec := remediate.Spec{Action: "x", ResourceTypes: []string{"securityGroup"}, Resources: resourcesOf("securityGroup"), IAMActions: manyActions(80)}
	_, err := SessionPolicy(spec, Scope{Account: acct, Regions: []string{"us-east-1"}})
	if !errors.Is(err, ErrPolicyTooLarge) || !remediate.IsPermanent(err) {
		t.Fatalf("SessionPolicy error = %v, want a permanent ErrPolicyTooLarge", err)
	}
}

func TestARNAccount(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"arn:aws:ec2:us-east-1:111111111111:security-group/sg-1", "111111111111", true},
		{"arn:aws:s3:::bucket", "", true},
		{"arn:aws:ec2:us-east-1::snapshot/snap-1", "", true},
		{"arn:aws:iam::111111111111:role/a:b", "111111111111", true},
		{"arn:aws:s3", "", false},
		{"sg-1", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := arnAccount(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("arnAccount(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestSessionPolicyRefusesWildcardResource checks that a resource ARN
// holding an IAM wildcard never widens a strict session to every resource
// it matches: SessionPolicy fails, and Config makes no AssumeRole call.
func TestSessionPolicyRefusesWildcardResource(t *testing.T) {
	accs, err := LoadAccounts(context.Background(), AccountsConfig{Regions: []string{"*"}, Accounts: []Account{{ID: acct, ExternalID: "ext-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		spec remediate.Spec
		arn  string
	}{
		{"every bucket", s3Spec, "arn:aws:s3:::*"},
		{"bucket prefix", s3Spec, "arn:aws:s3:::payments-*"},
		{"one-character wildcard", s3Spec, "arn:aws:s3:::payments-export?"},
		{"every security group", sgSpec, "arn:aws:ec2:us-east-1:" + acct + ":security-group/*"},
		{"wildcard region", sgSpec, "arn:aws:ec2:*:" + acct + ":security-group/sg-0123456789abcdef0"},
	}
	type result struct {
		Policy    string
		Permanent bool
		Calls     int
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			policy, err := SessionPolicy(tt.spec, Scope{Account: acct, Regions: []string{"us-east-1"}, ResourceARN: tt.arn})
			calls := 0
			api := AssumeRoleAPIFunc(func(context.Context, *sts.AssumeRoleInput, ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
				calls++
				return nil, errors.New("unreachable")
			})
			c, cerr := New(api, accs, func(o *Options) { o.Mode = Strict })
			if cerr != nil {
				t.Fatal(cerr)
			}
			f := &remediate.Finding{ID: "f1", Resource: remediate.Resource{ID: tt.arn, ARN: tt.arn, Account: acct, Region: "us-east-1"}}
			_, cerr = c.Config(context.Background(), f, tt.spec)
			want := result{Permanent: true}
			got := result{Policy: policy, Permanent: remediate.IsPermanent(err) && remediate.IsPermanent(cerr), Calls: calls}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s\nSessionPolicy error: %v\nConfig error: %v", diff, err, cerr)
			}
		})
	}
}

// TestStrictSessionOfBareID checks that a strict session for a finding
// that names its resource by a bare id (a bucket name, "sg-…", "snap-…",
// a key id) is scoped to the ARN built from that id and the finding's
// partition, account and region, and that a finding for which no ARN can
// be built is refused before any AssumeRole call, never given a session
// scoped to every resource of its type in the account.
func TestStrictSessionOfBareID(t *testing.T) {
	const china = "222222222222"
	accs, err := LoadAccounts(context.Background(), AccountsConfig{Regions: []string{"*"}, Accounts: []Account{
		{ID: acct, ExternalID: "ext-1"},
		{ID: china, RoleARN: "arn:aws-cn:iam::" + china + ":role/remedy", ExternalID: "ext-2"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	snapSpec := remediate.Spec{Action: "ebs-snapshot-private", ResourceTypes: []string{"snapshot"}, Resources: resourcesOf("snapshot"), IAMActions: []string{"ec2:ModifySnapshotAttribute", "ec2:DescribeSnapshotAttribute"}}
	keySpec := remediate.Spec{Action: "kms-enable-rotation", ResourceTypes: []string{"kmsKey"}, Resources: resourcesOf("kmsKey"), IAMActions: []string{"kms:EnableKeyRotation", "kms:GetKeyRotationStatus"}}
	const keyID = "1234abcd-12ab-34cd-56ef-1234567890ab"
	tests := []struct {
		name    string
		spec    remediate.Spec
		res     remediate.Resource
		want    []string // Resource of the first statement; nil: refused
		wantErr string
	}{
		{"bucket name", s3Spec, remediate.Resource{ID: "victim", Type: "bucket", Account: acct, Region: "us-east-1"},
			[]string{"arn:aws:s3:::victim"}, ""},
		{"bucket name in China", s3Spec, remediate.Resource{ID: "victim", Type: "bucket", Account: china, Region: "cn-north-1"},
			[]string{"arn:aws-cn:s3:::victim"}, ""},
		{"security group id", sgSpec, remediate.Resource{ID: "sg-0123456789abcdef0", Type: "securityGroup", Account: acct, Region: "eu-west-1"},
			[]string{"arn:aws:ec2:eu-west-1:" + acct + ":security-group/sg-0123456789abcdef0"}, ""},
		{"snapshot id", snapSpec, remediate.Resource{ID: "snap-0123456789abcdef0", Type: "snapshot", Account: acct, Region: "us-east-1"},
			[]string{"arn:aws:ec2:us-east-1::snapshot/snap-0123456789abcdef0"}, ""},
		{"key id", keySpec, remediate.Resource{ID: keyID, Type: "kmsKey", Account: acct, Region: "us-east-1"},
			[]string{"arn:aws:kms:us-east-1:" + acct + ":key/" + keyID}, ""},
		{"ARN in the id field", sgSpec, remediate.Resource{ID: "arn:aws:ec2:us-east-1:" + acct + ":security-group/sg-0123456789abcdef0", Type: "securityGroup", Account: acct, Region: "us-east-1"},
			[]string{"arn:aws:ec2:us-east-1:" + acct + ":security-group/sg-0123456789abcdef0"}, ""},

		{"undeclared type", remediate.Spec{Action: "x", ResourceTypes: []string{"gizmo"}, IAMActions: []string{"rds:ModifyDBInstance"}},
			remediate.Resource{ID: "gizmo-1", Type: "gizmo", Account: acct, Region: "us-east-1"}, nil, `no ARN pattern for resource type "gizmo"`},
		{"pattern with a wildcard before the id", remediate.Spec{Action: "x", ResourceTypes: []string{"object"}, Resources: map[string][]string{"object": {"arn:{partition}:s3:::*/*"}}, IAMActions: []string{"s3:PutObjectAcl"}},
			remediate.Resource{ID: "key", Type: "object", Account: acct, Region: "us-east-1"}, nil, "has a wildcard other than the id's"},
		{"no type", s3Spec, remediate.Resource{ID: "victim", Account: acct, Region: "us-east-1"}, nil, "not one whose ARN can be built"},
		{"type of another service", s3Spec, remediate.Resource{ID: "sg-0123456789abcdef0", Type: "securityGroup", Account: acct, Region: "us-east-1"}, nil, "not one whose ARN can be built"},
		{"no id", s3Spec, remediate.Resource{Name: "victim", Type: "bucket", Account: acct, Region: "us-east-1"}, nil, "names no resource id"},
		{"wildcard id", s3Spec, remediate.Resource{ID: "victim*", Type: "bucket", Account: acct, Region: "us-east-1"}, nil, "neither an ARN nor a bare resource id"},
		{"id with a path", sgSpec, remediate.Resource{ID: "sg-0123456789abcdef0/x", Type: "securityGroup", Account: acct, Region: "us-east-1"}, nil, "neither an ARN nor a bare resource id"},
		{"id with a colon", s3Spec, remediate.Resource{ID: "s3:victim", Type: "bucket", Account: acct, Region: "us-east-1"}, nil, "neither an ARN nor a bare resource id"},
	}
	type result struct {
		Resource  []string
		Calls     int
		Permanent bool
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var policies []string
			api := AssumeRoleAPIFunc(func(_ context.Context, in *sts.AssumeRoleInput, _ ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
				policies = append(policies, *in.Policy)
				exp := time.Now().Add(time.Hour)
				return &sts.AssumeRoleOutput{Credentials: &ststypes.Credentials{
					AccessKeyId: aws.String("a"), SecretAccessKey: aws.String("s"), SessionToken: aws.String("t"), Expiration: &exp,
				}}, nil
			})
			c, err := New(api, accs, func(o *Options) { o.Mode = Strict })
			if err != nil {
				t.Fatal(err)
			}
			tt.res.Cloud = "AWS"
			_, err = c.Config(context.Background(), &remediate.Finding{ID: "f1", Resource: tt.res}, tt.spec)
			got := result{Calls: len(policies), Permanent: remediate.IsPermanent(err)}
			if len(policies) == 1 {
				checkPolicy(t, policies[0])
				var doc policyDoc
				if err := json.Unmarshal([]byte(policies[0]), &doc); err != nil {
					t.Fatal(err)
				}
				got.Resource = doc.Statement[0].Resource
			}
			want := result{Resource: tt.want, Calls: 1}
			if tt.want == nil {
				want = result{Permanent: true}
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Config error = %v, want one containing %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Errorf("Config: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s\npolicies: %q", diff, policies)
			}
		})
	}
}

// TestStrictSessionPerResource checks that a strict session is reused
// only for the resource it was built for: the same finding id naming
// another bare id gets a new session, scoped to that resource.
func TestStrictSessionPerResource(t *testing.T) {
	accs, err := LoadAccounts(context.Background(), AccountsConfig{Regions: []string{"*"}, Accounts: []Account{{ID: acct, ExternalID: "ext-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	var policies []string
	api := AssumeRoleAPIFunc(func(_ context.Context, in *sts.AssumeRoleInput, _ ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
		policies = append(policies, *in.Policy)
		exp := time.Now().Add(time.Hour)
		return &sts.AssumeRoleOutput{Credentials: &ststypes.Credentials{
			AccessKeyId: aws.String("a"), SecretAccessKey: aws.String("s"), SessionToken: aws.String("t"), Expiration: &exp,
		}}, nil
	})
	c, err := New(api, accs, func(o *Options) { o.Mode = Strict })
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, bucket := range []string{"bucket-a", "bucket-a", "bucket-b"} {
		f := &remediate.Finding{ID: "f1", Resource: remediate.Resource{ID: bucket, Type: "bucket", Cloud: "AWS", Account: acct, Region: "us-east-1"}}
		if _, err := c.Config(context.Background(), f, s3Spec); err != nil {
			t.Fatalf("Config %s: %v", bucket, err)
		}
	}
	for _, p := range policies {
		var doc policyDoc
		if err := json.Unmarshal([]byte(p), &doc); err != nil {
			t.Fatal(err)
		}
		got = append(got, doc.Statement[0].Resource...)
	}
	if diff := cmp.Diff([]string{"arn:aws:s3:::bucket-a", "arn:aws:s3:::bucket-b"}, got); diff != "" {
		t.Errorf("session resources (-want +got):\n%s", diff)
	}
}

// TestUndeclaredResourcesNeverWiden: a Spec that does not declare the
// resources of an action AWS scopes gets no session policy, and no
// session in either mode (no AssumeRole call), rather than one on every
// resource of the service; the error names what to declare. A read-only
// action AWS cannot scope needs no declaration.
func TestUndeclaredResourcesNeverWiden(t *testing.T) {
	accs, err := LoadAccounts(context.Background(), AccountsConfig{Regions: []string{"*"}, Accounts: []Account{{ID: acct, ExternalID: "ext-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	noResources := s3Spec
	noResources.Resources = nil
	kmsUndeclared := s3Spec
	kmsUndeclared.IAMActions = append([]string{"kms:DescribeKey"}, s3Spec.IAMActions...)
	unscopedOther := s3Spec
	unscopedOther.IAMActions = append([]string{"sts:GetCallerIdentity", "ec2:DescribeRegions"}, s3Spec.IAMActions...)
	tests := []struct {
		name string
		spec remediate.Spec
		want string // substring of the error; "" means a session
	}{
		{"no resources declared", noResources, `Spec().Resources has no ARN pattern for resource type "bucket"`},
		{"a scoped action of an undeclared service", kmsUndeclared, `declares kms:DescribeKey, which act on resources, but none of its Spec.Resources patterns is of service "kms"`},
		{"read-only actions AWS cannot scope", unscopedOther, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := SessionPolicy(tt.spec, Scope{Account: acct})
			check := func(what string, err error) {
				t.Helper()
				switch {
				case tt.want == "" && err != nil:
					t.Errorf("%s: %v", what, err)
				case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !remediate.IsPermanent(err)):
					t.Errorf("%s error = %v, want a permanent one containing %q", what, err, tt.want)
				}
			}
			check("SessionPolicy", err)
			for _, mode := range []Mode{Shared, Strict} {
				calls := 0
				api := AssumeRoleAPIFunc(func(context.Context, *sts.AssumeRoleInput, ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
					calls++
					exp := time.Now().Add(time.Hour)
					return &sts.AssumeRoleOutput{Credentials: &ststypes.Credentials{
						AccessKeyId: aws.String("a"), SecretAccessKey: aws.String("s"), SessionToken: aws.String("t"), Expiration: &exp,
					}}, nil
				})
				c, err := New(api, accs, func(o *Options) { o.Mode = mode })
				if err != nil {
					t.Fatal(err)
				}
				f := &remediate.Finding{ID: "f1", Resource: remediate.Resource{ID: "victim", Type: "bucket", Cloud: "AWS", Account: acct, Region: "us-east-1"}}
				_, err = c.Config(context.Background(), f, tt.spec)
				check(mode.String()+" Config", err)
				if want := map[bool]int{true: 0, false: 1}[tt.want != ""]; calls != want {
					t.Errorf("%s: %d AssumeRole calls, want %d", mode, calls, want)
				}
			}
		})
	}
}
