package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/remedy-sec/remedy/crossaccount"
	"github.com/remedy-sec/remedy/deploy"
	"github.com/remedy-sec/remedy/remediate"
)

// cfnAccount is what --account defaults to: the CloudFormation pseudo
// parameter, for a policy pasted into Fn::Sub in a customer template.
const cfnAccount = "${AWS::AccountId}"

// placeholderAccount stands for the account while the policy is built:
// crossaccount.SessionPolicy wants 12 digits, and the real value (such as
// ${AWS::AccountId}) is put in afterwards, string by string.
const placeholderAccount = "000000000000"

func runIAMPolicy(_ context.Context, args []string, stdout, stderr io.Writer, extra func(deploy.Config) []remediate.Remediator) error {
	fs := flag.NewFlagSet("iam-policy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	only := fs.String("remediators", "", "comma-separated `ACTIONS` to include (default: every registered remediator)")
	account := fs.String("account", cfnAccount, "customer `ACCOUNT` id written into ARNs and conditions; the default is CloudFormation's pseudo parameter, for use in Fn::Sub")
	regions := fs.String("regions", "*", "comma-separated `REGIONS` Remedy may act in; * allows any")
	role := fs.String("role", defaultRoleName, "`NAME` (with its path, if any) of the role the policy is for: `remedy roles check` reads this role's own policies")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: remedy iam-policy [--remediators a,b] [--account ID] [--regions r1,r2] [--role NAME]

Prints the least-privilege permissions policy of the customer account's
remediation role, as JSON: every IAM action the registered remediators
(the built-ins and any this remedy binary adds) declare, on the account's resources they declare (the ARN patterns of
the types they fix). It is the union of the session policies Remedy
passes to AssumeRole, so a session can never need more than the role
allows, plus read access to the role's own policies (iam:ListRolePolicies,
GetRolePolicy, ListAttachedRolePolicies on the role; GetPolicy and
GetPolicyVersion on the account's managed policies) for
'remedy roles check'.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageErr("%v", err)
	}
	if fs.NArg() != 0 {
		return usageErr("unexpected arguments %q", fs.Args())
	}
	if *account != cfnAccount && (len(*account) != 12 || strings.Trim(*account, "0123456789") != "") {
		return usageErr("--account %q is not a 12-digit account id", *account)
	}
	if !isRoleName(*role) {
		return usageErr("--role %q is not a role name (letters, digits and +=,.@_- with an optional path/), nor a ${Name} substitution", *role)
	}
	reg, err := builtins(builtinOptions{Only: splitList(*only), Extra: extra})
	if err != nil {
		return err
	}
	doc, err := rolePolicy(reg.Specs(), *account, *role, splitList(*regions))
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err = stdout.Write(buf.Bytes())
	return err
}

// iamPolicy is an IAM policy document as the customer role holds it.
type iamPolicy struct {
	Version   string         `json:"Version"`
	Statement []iamStatement `json:"Statement"`
}

type iamStatement struct {
	Effect    string                         `json:"Effect"`
	Action    []string                       `json:"Action"`
	Resource  []string                       `json:"Resource"`
	Condition map[string]map[string][]string `json:"Condition,omitempty"`
}

// customerPolicy returns the union of the shared-mode session policies
// of specs, built from the same declarations (Spec.IAMActions and
// Spec.Resources) as every session's: statements that apply to the same resources under the same
// conditions are merged, and their actions sorted. account replaces the
// placeholder in every ARN and condition.
func customerPolicy(specs []remediate.Spec, account string, regions []string) (iamPolicy, error) {
	if len(specs) == 0 {
		return iamPolicy{}, errors.New("no remediator selected")
	}
	out := iamPolicy{Version: "2012-10-17"}
	index := map[string]int{} // resources+condition → statement
	for _, s := range specs {
		js, err := crossaccount.SessionPolicy(s, crossaccount.Scope{Account: placeholderAccount, Regions: regions})
		if err != nil {
			return iamPolicy{}, fmt.Errorf("policy for %s: %w", s.Action, err)
		}
		var p iamPolicy
		if err := json.Unmarshal([]byte(js), &p); err != nil {
			return iamPolicy{}, fmt.Errorf("policy for %s: %w", s.Action, err)
		}
		for _, st := range p.Statement {
			st.Resource = replaceAll(st.Resource, account)
			for _, c := range st.Condition {
				for k, v := range c {
					c[k] = replaceAll(v, account)
				}
			}
			key, err := json.Marshal([]any{st.Effect, st.Resource, st.Condition})
			if err != nil {
				return iamPolicy{}, err
			}
			if i, ok := index[string(key)]; ok {
				merged := append(out.Statement[i].Action, st.Action...)
				out.Statement[i].Action = slices.Compact(slices.Sorted(slices.Values(merged)))
				continue
			}
			index[string(key)] = len(out.Statement)
			st.Action = slices.Sorted(slices.Values(st.Action))
			out.Statement = append(out.Statement, st)
		}
	}
	sortStatements(out.Statement)
	return out, nil
}

// sortStatements puts statements in a stable order that reads well:
// scoped statements by their first resource, the unscoped read-only one
// ("*") last.
func sortStatements(sts []iamStatement) {
	slices.SortStableFunc(sts, func(a, b iamStatement) int {
		return cmp.Or(cmp.Compare(resourceRank(a), resourceRank(b)), strings.Compare(a.Resource[0], b.Resource[0]))
	})
}

// defaultRoleName is the role of crossaccount.DefaultRoleTemplate and of
// examples/lambda/customer-role.yaml.
const defaultRoleName = "RemedyRemediation"

// rolePolicy is the whole permissions policy of the customer role named
// role: what the remediators of specs declare (customerPolicy) and the
// role's read access to its own policies (selfReadStatements).
func rolePolicy(specs []remediate.Spec, account, role string, regions []string) (iamPolicy, error) {
	p, err := customerPolicy(specs, account, regions)
	if err != nil {
		return iamPolicy{}, err
	}
	p.Statement = append(p.Statement, selfReadStatements(account, role)...)
	sortStatements(p.Statement)
	return p, nil
}

// selfReadStatements let `remedy roles check`, through the role itself,
// read the role's inline and attached policies: the list and inline-policy
// reads on the role alone, and the managed-policy reads on the account's
// customer managed policies (IAM has no condition that limits them to
// those attached to the role). No remediator's session policy holds these
// actions, so a fix's session never has them. AWS managed policies
// (arn:aws:iam::aws:policy/...) are the same in every account and are read
// with the operator's own credentials instead.
func selfReadStatements(account, role string) []iamStatement {
	return []iamStatement{
		{Effect: "Allow", Action: slices.Clone(roleReadActions), Resource: []string{"arn:aws:iam::" + account + ":role/" + role}},
		{Effect: "Allow", Action: slices.Clone(policyReadActions), Resource: []string{"arn:aws:iam::" + account + ":policy/*"}},
	}
}

// The IAM reads of selfReadStatements, sorted.
var (
	roleReadActions   = []string{"iam:GetRolePolicy", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies"}
	policyReadActions = []string{"iam:GetPolicy", "iam:GetPolicyVersion"}
)

// isRoleName reports whether s is an IAM role name, optionally after a
// path ("team/RemedyRemediation"), or a CloudFormation substitution such
// as ${RoleName}.
func isRoleName(s string) bool {
	if strings.HasPrefix(s, "${") && strings.HasSuffix(s, "}") && len(s) > 3 {
		return !strings.ContainsAny(s[2:len(s)-1], "${}")
	}
	path, name := "", s
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		path, name = s[:i], s[i+1:]
	}
	if name == "" || len(name) > 64 || strings.HasPrefix(s, "/") || strings.Contains(path, "//") {
		return false
	}
	for _, c := range path + name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("+=,.@_-/", c)) {
			return false
		}
	}
	return true
}

func resourceRank(s iamStatement) int {
	if slices.Contains(s.Resource, "*") {
		return 1
	}
	return 0
}

func replaceAll(ss []string, account string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ReplaceAll(s, placeholderAccount, account)
	}
	return out
}
