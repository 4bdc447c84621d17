package cli

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/remedy-sec/remedy/remediate"
)

func iamPolicyOf(t *testing.T, args ...string) iamPolicy {
	t.Helper()
	code, out, errOut := runCLI(t, "", append([]string{"iam-policy"}, args...)...)
	if code != exitOK {
		t.Fatalf("remedy iam-policy %v: exit %d, stderr:\n%s", args, code, errOut)
	}
	var p iamPolicy
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("output is not a policy document: %v\n%s", err, out)
	}
	return p
}

// actionsOf returns every action the policy allows, with the resources
// each is allowed on.
func actionsOf(p iamPolicy) map[string][]string {
	out := map[string][]string{}
	for _, st := range p.Statement {
		for _, a := range st.Action {
			out[a] = append(out[a], st.Resource...)
		}
	}
	return out
}

// TestIAMPolicyCoversEveryDeclaredAction: the policy allows exactly the
// actions the built-ins declare and the role's reads of its own policies,
// each in one statement, and never a write action on "*".
func TestIAMPolicyCoversEveryDeclaredAction(t *testing.T) {
	reg, err := builtins(builtinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Concat(roleReadActions, policyReadActions)
	for _, s := range reg.Specs() {
		want = append(want, s.IAMActions...)
	}
	want = slices.Compact(slices.Sorted(slices.Values(want)))

	p := iamPolicyOf(t)
	if p.Version != "2012-10-17" {
		t.Errorf("Version %q", p.Version)
	}
	got := actionsOf(p)
	var names []string
	for a, res := range got {
		names = append(names, a)
		seen := 0
		for _, st := range p.Statement {
			if slices.Contains(st.Action, a) {
				seen++
			}
		}
		if seen != 1 {
			t.Errorf("%s appears in %d statements, want 1", a, seen)
		}
		name := a[strings.Index(a, ":")+1:]
		readOnly := strings.HasPrefix(name, "Describe") || strings.HasPrefix(name, "Get") || strings.HasPrefix(name, "List")
		if slices.Contains(res, "*") && !readOnly {
			t.Errorf("write action %s is allowed on Resource *", a)
		}
	}
	slices.Sort(names)
	if d := cmp.Diff(want, names); d != "" {
		t.Errorf("allowed actions differ from the declared ones (-declared +allowed):\n%s", d)
	}
	for _, st := range p.Statement {
		if st.Effect != "Allow" || len(st.Resource) == 0 {
			t.Errorf("statement %+v", st)
		}
	}
}

func TestIAMPolicyOneRemediatorAccountRegions(t *testing.T) {
	p := iamPolicyOf(t, "--remediators", "s3-block-public-access", "--account", "111111111111", "--regions", "us-east-1,eu-west-1", "--role", "security/Fixer")
	want := iamPolicy{Version: "2012-10-17", Statement: []iamStatement{{
		Effect:   "Allow",
		Action:   []string{"iam:GetPolicy", "iam:GetPolicyVersion"},
		Resource: []string{"arn:aws:iam::111111111111:policy/*"},
	}, {
		Effect:   "Allow",
		Action:   []string{"iam:GetRolePolicy", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies"},
		Resource: []string{"arn:aws:iam::111111111111:role/security/Fixer"},
	}, {
		Effect:   "Allow",
		Action:   []string{"s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock"},
		Resource: []string{"arn:aws:s3:::*"},
		Condition: map[string]map[string][]string{"StringEquals": {
			"aws:RequestedRegion": {"eu-west-1", "us-east-1"},
			"aws:ResourceAccount": {"111111111111"},
		}},
	}}}
	if d := cmp.Diff(want, p); d != "" {
		t.Errorf("policy (-want +got):\n%s", d)
	}
	// Two remediators of one service and type share a statement.
	p = iamPolicyOf(t, "--remediators", "s3-block-public-access, s3-default-encryption", "--account", "111111111111")
	if len(p.Statement) != 3 || len(p.Statement[2].Action) != 4 {
		t.Errorf("S3 remediators: %+v, want the two IAM reads and one S3 statement with four actions", p.Statement)
	}
}

func TestIAMPolicyUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--remediators", "no-such-action"},
		{"--account", "12345"},
		{"--regions", "US East"},
		{"--role", "no spaces"},
		{"--role", "/leading-slash"},
		{"extra"},
	} {
		code, out, errOut := runCLI(t, "", append([]string{"iam-policy"}, args...)...)
		if code == exitOK || out != "" {
			t.Errorf("iam-policy %v: exit %d, stdout %q; want an error and no policy", args, code, out)
		}
		if !strings.Contains(errOut, "remedy iam-policy:") {
			t.Errorf("iam-policy %v: stderr %q does not say what failed", args, errOut)
		}
	}
}

// TestCustomerRoleTemplateMatches: the permissions of the customer-role
// template are exactly what `remedy iam-policy` prints, so the template
// cannot drift from the remediators' declarations.
func TestCustomerRoleTemplateMatches(t *testing.T) {
	src, err := os.ReadFile("../examples/lambda/customer-role.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var tmpl struct {
		Resources map[string]struct {
			Type       string `yaml:"Type"`
			Properties struct {
				Policies []struct {
					PolicyDocument any `yaml:"PolicyDocument"`
				} `yaml:"Policies"`
			} `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(src, &tmpl); err != nil {
		t.Fatalf("customer-role.yaml: %v", err)
	}
	var doc any
	for name, r := range tmpl.Resources {
		if r.Type != "AWS::IAM::Role" {
			continue
		}
		for _, p := range r.Properties.Policies {
			if doc != nil {
				t.Fatalf("%s: more than one inline policy; the test compares one", name)
			}
			doc = resolveSub(p.PolicyDocument)
		}
	}
	if doc == nil {
		t.Fatal("customer-role.yaml has no IAM role with an inline policy")
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var got iamPolicy
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("the template's policy is not a policy document: %v", err)
	}
	if d := cmp.Diff(iamPolicyOf(t, "--role", "${RoleName}"), got); d != "" {
		t.Errorf("customer-role.yaml differs from `remedy iam-policy` (-generated +template); regenerate it:\n%s", d)
	}
}

// resolveSub replaces each {"Fn::Sub": s} in a decoded template by s, so
// that the template's policy compares with the generated one, which
// writes ${AWS::AccountId} literally.
func resolveSub(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if s, ok := x["Fn::Sub"].(string); ok && len(x) == 1 {
			return s
		}
		out := map[string]any{}
		for k, e := range x {
			out[k] = resolveSub(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = resolveSub(e)
		}
		return out
	}
	return v
}

// TestCustomerPolicyFromDeclarations: the customer-role policy scopes a
// remediator's actions to the ARN patterns it declares, whatever its
// service, and refuses a remediator that declares none rather than
// allowing its actions on every resource of the service.
func TestCustomerPolicyFromDeclarations(t *testing.T) {
	rds := remediate.Spec{
		Action: "rds-private", ResourceTypes: []string{"dbInstance"},
		Resources:  map[string][]string{"dbInstance": {"arn:{partition}:rds:{region}:{account}:db:*"}},
		IAMActions: []string{"rds:ModifyDBInstance", "rds:DescribeDBInstances"},
	}
	p, err := customerPolicy([]remediate.Spec{rds}, cfnAccount, []string{"*"})
	if err != nil {
		t.Fatal(err)
	}
	want := iamPolicy{Version: "2012-10-17", Statement: []iamStatement{{
		Effect: "Allow", Action: []string{"rds:DescribeDBInstances", "rds:ModifyDBInstance"},
		Resource: []string{"arn:aws:rds:*:${AWS::AccountId}:db:*"},
	}}}
	if d := cmp.Diff(want, p); d != "" {
		t.Errorf("policy (-want +got):\n%s", d)
	}

	undeclared := rds
	undeclared.Resources = nil
	if _, err := customerPolicy([]remediate.Spec{undeclared}, cfnAccount, []string{"*"}); err == nil ||
		!strings.Contains(err.Error(), `rds-private`) || !strings.Contains(err.Error(), `no ARN pattern for resource type "dbInstance"`) {
		t.Errorf("customerPolicy of a Spec without resources: error %v, want one naming the action and what to declare", err)
	}
}
