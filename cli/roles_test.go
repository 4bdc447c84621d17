package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/crossaccount"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

// The customer accounts of TestRolesCheckAgainstMoto, apart from those
// of other tests on the shared server.
const (
	rolesExact    = "444444444401" // the generated policy, verbatim
	rolesDrifted  = "444444444402" // one action short, one too many
	rolesDenied   = "444444444403" // AssumeRole refused
	rolesNoRole   = "444444444404" // no role deployed
	rolesWildcard = "444444444405" // s3:* in place of the S3 actions
	rolesExtID    = "ext-roles-check"
)

// TestRolesCheckAgainstMoto deploys remediation roles in customer
// accounts on moto, through real IAM and STS calls, and checks what
// `remedy roles check` says of each: a role with the policy `remedy
// iam-policy` prints passes; a drifted one (s3:PutBucketPublicAccessBlock
// taken out of the inline policy, iam:PassRole granted by an attached
// managed policy) fails naming both; a role with s3:* is excess but
// misses nothing; and an account whose role cannot be assumed, or has no
// role, is an error for that account alone.
func TestRolesCheckAgainstMoto(t *testing.T) {
	srv := mototest.Require(t, moto)
	ctx := mototest.Context(t)
	rolesEnv(t)

	exact := iamPolicyOf(t, "--account", rolesExact)
	deployRole(t, srv, rolesExact, exact, nil)

	drifted := withoutAction(iamPolicyOf(t, "--account", rolesDrifted), "s3:PutBucketPublicAccessBlock")
	extra := iamPolicy{Version: "2012-10-17", Statement: []iamStatement{{Effect: "Allow", Action: []string{"iam:PassRole"}, Resource: []string{"*"}}}}
	deployRole(t, srv, rolesDrifted, drifted, &extra)

	wild := iamPolicyOf(t, "--account", rolesWildcard)
	for i, st := range wild.Statement {
		if strings.HasPrefix(st.Action[0], "s3:") {
			wild.Statement[i].Action = []string{"s3:*"}
		}
	}
	deployRole(t, srv, rolesWildcard, wild, nil)
	// The denied account's role exists and is right: only AssumeRole fails.
	deployRole(t, srv, rolesDenied, iamPolicyOf(t, "--account", rolesDenied), nil)

	accounts := writeRegistry(t, rolesExact, rolesDrifted, rolesDenied, rolesNoRole, rolesWildcard)
	// moto checks no trust policy unless IAM is enforced on the whole
	// server (see TestIAMPolicyEnforced), so the refusal STS gives a
	// platform its customer does not trust is made here, for one account.
	base := sts.NewFromConfig(srv.Config("us-east-1"))
	assume := crossaccount.AssumeRoleAPIFunc(func(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
		if strings.Contains(aws.ToString(in.RoleArn), "::"+rolesDenied+":") {
			return nil, &smithy.GenericAPIError{Code: "AccessDenied", Message: "User: arn:aws:iam::123456789012:user/moto is not authorized to perform: sts:AssumeRole on resource: " + aws.ToString(in.RoleArn)}
		}
		return base.AssumeRole(ctx, in, optFns...)
	})
	var out, errOut bytes.Buffer
	err := runRolesCheck(ctx, []string{"--accounts", accounts, "--endpoint", srv.URL, "--json"}, &out, &errOut, nil, assume)
	if err == nil || !strings.Contains(err.Error(), "4 of 5 accounts: 2 drifted") {
		t.Errorf("roles check: %v; want an error counting 2 drifted and 2 unchecked accounts", err)
	}
	var got struct{ Accounts []roleResult }
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("--json output: %v\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	t.Logf("roles check --json:\n%s", out.String())
	role := func(account string) string { return "arn:aws:iam::" + account + ":role/RemedyRemediation" }
	// Errors are compared by what they must name.
	errs := map[string]string{}
	for i, r := range got.Accounts {
		if r.Error != "" {
			errs[r.Account] = r.Error
			got.Accounts[i].Error = "(error)"
		}
	}
	want := []roleResult{
		{Account: rolesExact, Role: role(rolesExact), Status: roleOK},
		{Account: rolesDrifted, Role: role(rolesDrifted), Status: roleDrift,
			Missing: []string{"s3:PutBucketPublicAccessBlock"},
			Excess:  []grant{{Action: "iam:PassRole", Policy: "arn:aws:iam::" + rolesDrifted + ":policy/remedy-extra"}}},
		{Account: rolesDenied, Role: role(rolesDenied), Status: roleError, Error: "(error)"},
		{Account: rolesNoRole, Role: role(rolesNoRole), Status: roleError, Error: "(error)"},
		{Account: rolesWildcard, Role: role(rolesWildcard), Status: roleDrift,
			Excess: []grant{{Action: "s3:*", Policy: "inline remedy-remediators"}}},
	}
	if d := cmp.Diff(want, got.Accounts); d != "" {
		t.Errorf("roles check (-want +got):\n%s", d)
	}
	for account, wantErr := range map[string]string{rolesDenied: "AccessDenied", rolesNoRole: "NoSuchEntity"} {
		if !strings.Contains(errs[account], wantErr) {
			t.Errorf("account %s: error %q, want one naming %s", account, errs[account], wantErr)
		}
	}

	t.Run("text", func(t *testing.T) {
		code, out, errOut := runCLI(t, "", "roles", "check", "--accounts", writeRegistry(t, rolesExact, rolesDrifted), "--endpoint", srv.URL)
		if code != exitInput {
			t.Errorf("exit %d, want %d; stderr:\n%s", code, exitInput, errOut)
		}
		for _, line := range []string{
			rolesExact + "  " + role(rolesExact) + "  ok\n",
			rolesDrifted + "  " + role(rolesDrifted) + "  drift\n",
			"  missing  s3:PutBucketPublicAccessBlock  (a fix that needs it would fail)\n",
			"  excess   iam:PassRole  (arn:aws:iam::" + rolesDrifted + ":policy/remedy-extra; no remediator needs it)\n",
		} {
			if !strings.Contains(out, line) {
				t.Errorf("output lacks %q:\n%s", line, out)
			}
		}
	})

	t.Run("every role matches", func(t *testing.T) {
		code, out, errOut := runCLI(t, "", "roles", "check", "--accounts", writeRegistry(t, rolesExact), "--endpoint", srv.URL)
		if code != exitOK || out != rolesExact+"  "+role(rolesExact)+"  ok\n" {
			t.Errorf("exit %d, stdout %q; want 0 and the account ok; stderr:\n%s", code, out, errOut)
		}
	})

	t.Run("fewer remediators", func(t *testing.T) {
		// The exact role holds more than one remediator needs.
		var out, errOut bytes.Buffer
		err := runRolesCheck(ctx, []string{"--accounts", writeRegistry(t, rolesExact), "--endpoint", srv.URL, "--json", "--remediators", "s3-block-public-access"}, &out, &errOut, nil, nil)
		if err == nil {
			t.Error("roles check --remediators s3-block-public-access passed a role that allows every built-in's actions")
		}
		var got struct{ Accounts []roleResult }
		if err := json.Unmarshal(out.Bytes(), &got); err != nil || len(got.Accounts) != 1 {
			t.Fatalf("--json output: %v\n%s", err, out.String())
		}
		var excess []string
		for _, g := range got.Accounts[0].Excess {
			excess = append(excess, g.Action)
		}
		if got.Accounts[0].Missing != nil || !slices.Contains(excess, "kms:EnableKeyRotation") || slices.Contains(excess, "s3:PutBucketPublicAccessBlock") {
			t.Errorf("missing %q, excess %q; want nothing missing and the other remediators' actions excess", got.Accounts[0].Missing, excess)
		}
	})
}

// rolesEnv gives the command moto's credentials and no configuration
// files, as an operator's environment would give real ones.
func rolesEnv(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
}

// deployRole creates the remediation role in account, trusted with
// rolesExtID, with p as its inline policy and, when given, managed
// attached as a customer managed policy.
func deployRole(t *testing.T, srv *mototest.Server, account string, p iamPolicy, managed *iamPolicy) {
	t.Helper()
	ctx := mototest.Context(t)
	if _, err := srv.CreateRole(ctx, account, defaultRoleName, rolesExtID); err != nil {
		t.Fatal(err)
	}
	cfg, err := srv.AccountConfig(ctx, account, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	c := iam.NewFromConfig(cfg)
	doc, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{
		RoleName: aws.String(defaultRoleName), PolicyName: aws.String("remedy-remediators"), PolicyDocument: aws.String(string(doc)),
	}); err != nil {
		t.Fatal(err)
	}
	if managed == nil {
		return
	}
	if doc, err = json.Marshal(managed); err != nil {
		t.Fatal(err)
	}
	created, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("remedy-extra"), PolicyDocument: aws.String(string(doc))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(defaultRoleName), PolicyArn: created.Policy.Arn}); err != nil {
		t.Fatal(err)
	}
}

// writeRegistry writes an account registry of ids with the default role
// template and returns its path.
func writeRegistry(t *testing.T, ids ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("regions: [us-east-1]\naccounts:\n")
	for _, id := range ids {
		fmt.Fprintf(&b, "  - id: %q\n    external_id: %s\n", id, rolesExtID)
	}
	path := filepath.Join(t.TempDir(), "accounts.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCompareActions covers what IAM policies can say beyond a list of
// actions: wildcards in any case, NotAction, Deny, documents URL-encoded
// as AWS returns them, and a document that cannot be read.
func TestCompareActions(t *testing.T) {
	needed := []string{"s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock", "kms:EnableKeyRotation"}
	doc := func(statements string) string { return `{"Version":"2012-10-17","Statement":` + statements + `}` }
	tests := []struct {
		name        string
		docs        []namedPolicy
		missing     []string
		excess      []grant
		wantMissing bool
	}{{
		name: "exact, one statement object, one action string",
		docs: []namedPolicy{
			{"inline a", doc(`[{"Effect":"Allow","Action":["s3:GetBucketPublicAccessBlock","s3:putbucketpublicaccessblock"],"Resource":"*"}]`)},
			{"inline b", doc(`{"Effect":"Allow","Action":"kms:EnableKeyRotation","Resource":"*"}`)},
		},
	}, {
		name:   "wildcards cover but are excess",
		docs:   []namedPolicy{{"p", doc(`[{"Effect":"Allow","Action":["S3:*BucketPublicAccess?lock","kms:*"],"Resource":"*"}]`)}},
		excess: []grant{{"S3:*BucketPublicAccess?lock", "p"}, {"kms:*", "p"}},
	}, {
		name:    "a wildcard that does not match",
		docs:    []namedPolicy{{"p", doc(`[{"Effect":"Allow","Action":["s3:Get*","kms:EnableKeyRotation"],"Resource":"*"}]`)}},
		missing: []string{"s3:PutBucketPublicAccessBlock"},
		excess:  []grant{{"s3:Get*", "p"}},
	}, {
		name:    "Deny takes away",
		docs:    []namedPolicy{{"p", doc(`[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"s3:Put*","Resource":"*"}]`)}},
		missing: []string{"s3:PutBucketPublicAccessBlock"},
		excess:  []grant{{"*", "p"}},
	}, {
		name:    "NotAction",
		docs:    []namedPolicy{{"p", doc(`[{"Effect":"Allow","NotAction":["kms:*","iam:*"],"Resource":"*"}]`)}},
		missing: []string{"kms:EnableKeyRotation"},
		excess:  []grant{{"NotAction: kms:*, iam:*", "p"}},
	}, {
		name:   "URL-encoded as AWS returns it",
		docs:   []namedPolicy{{"p", url.PathEscape(doc(`[{"Effect":"Allow","Action":["s3:GetBucketPublicAccessBlock","s3:PutBucketPublicAccessBlock","kms:EnableKeyRotation","iam:PassRole"],"Resource":"*"}]`))}},
		excess: []grant{{"iam:PassRole", "p"}},
	}, {
		name:        "unreadable",
		docs:        []namedPolicy{{"p", `{"Statement":[{"Effect":"Maybe"}]}`}},
		wantMissing: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			missing, excess := compareActions(needed, tt.docs)
			if tt.wantMissing {
				if len(missing) != len(needed) || len(excess) != 1 || !strings.HasPrefix(excess[0].Action, "unreadable policy:") {
					t.Errorf("missing %q, excess %q; want every action missing and the policy reported unreadable", missing, excess)
				}
				return
			}
			if d := cmp.Diff(tt.missing, missing); d != "" {
				t.Errorf("missing (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.excess, excess); d != "" {
				t.Errorf("excess (-want +got):\n%s", d)
			}
		})
	}
}

func TestRolesCheckUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"roles"},
		{"roles", "list"},
		{"roles", "check"},
		{"roles", "check", "--accounts", "/no/such/file"},
		{"roles", "check", "--accounts", "x", "--remediators", "no-such-action"},
		{"roles", "check", "--accounts", "x", "extra"},
	} {
		code, out, errOut := runCLI(t, "", args...)
		if code != exitUsage || out != "" || !strings.Contains(errOut, "remedy roles:") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and an error", args, code, out, errOut)
		}
	}
}
