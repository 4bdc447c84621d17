package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"go.yaml.in/yaml/v3"

	"github.com/remedy-sec/remedy/crossaccount"
	"github.com/remedy-sec/remedy/deploy"
	"github.com/remedy-sec/remedy/remediate"
)

// rolesCheckAction names the sessions `remedy roles check` assumes (their
// session name, source identity and tags). No remediator has it.
const rolesCheckAction = "remedy-roles-check"

func runRoles(ctx context.Context, args []string, stdout, stderr io.Writer, extra func(deploy.Config) []remediate.Remediator) error {
	if len(args) == 0 || args[0] != "check" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprint(stderr, rolesUsage)
			return nil
		}
		return usageErr("want a subcommand: roles check")
	}
	return runRolesCheck(ctx, args[1:], stdout, stderr, extra, nil)
}

const rolesUsage = `Usage: remedy roles check --accounts FILE [--remediators a,b] [--endpoint URL] [--json]

For each account of the registry, assumes the remediation role (the
registry's role_template or role_arn, with the account's external id,
as remedy plan and the engine do) and reads the role's own permissions:
its inline policies and the default versions of its attached managed
policies. It compares the actions they allow with those of the policy
'remedy iam-policy' prints for the registered remediators, and reports
per account:

  missing  actions the remediators need that the role does not allow
           (or that a Deny statement takes away): fixes that would fail;
  excess   actions the role allows that no remediator declares: access to
           remove. A wildcard (s3:*, s3:Get*) is excess, though it covers
           every action it matches; an Allow with NotAction is excess.

Only actions are compared, not resources or conditions. The role reads
itself: the policy 'remedy iam-policy' prints allows iam:ListRolePolicies,
GetRolePolicy and ListAttachedRolePolicies on the role and iam:GetPolicy
and GetPolicyVersion on the account's managed policies; no remediator's
session has them. AWS managed policies (arn:aws:iam::aws:policy/...) are
read with the caller's own credentials. The caller's own AWS credentials
(environment, profile) assume the roles.

Exit status: 0 when every account's role allows exactly what the
remediators need, 1 when one lacks or exceeds it or could not be read, 2
on a usage or registry error.

Flags:
`

func runRolesCheck(ctx context.Context, args []string, stdout, stderr io.Writer, extra func(deploy.Config) []remediate.Remediator, assume crossaccount.AssumeRoleAPI) error {
	fs := flag.NewFlagSet("roles check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	accountsPath := fs.String("accounts", "", "account registry `FILE` (YAML: role template, external ids, regions); required")
	only := fs.String("remediators", "", "comma-separated `ACTIONS` the roles should allow (default: every registered remediator)")
	endpoint := fs.String("endpoint", "", "send every AWS call to `URL` (moto, LocalStack); default: AWS")
	region := fs.String("region", "", "region of the STS endpoint (default: from the environment, else us-east-1)")
	asJSON := fs.Bool("json", false, "print the result as one JSON document")
	fs.Usage = func() {
		fmt.Fprint(stderr, rolesUsage)
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
	if *accountsPath == "" {
		return usageErr("--accounts FILE is required: it says which role and external id to use in each account")
	}
	reg, err := builtins(builtinOptions{Only: splitList(*only), Extra: extra})
	if err != nil {
		return err
	}
	specs := reg.Specs()

	base, err := loadAWS(ctx, *region, *endpoint)
	if err != nil {
		return err
	}
	src, err := os.ReadFile(*accountsPath)
	if err != nil {
		return usageErr("%v", err)
	}
	accounts, err := crossaccount.ReadAccounts(ctx, strings.NewReader(string(src)), func(o *crossaccount.LoadOptions) {
		o.Resolvers = map[string]crossaccount.Resolver{"ssm": crossaccount.SSMResolver{Client: ssm.NewFromConfig(base)}}
	})
	if err != nil {
		return usageErr("%s: %v", *accountsPath, err)
	}
	// crossaccount.Accounts does not tell an account's regions, and a
	// session is only made for an allowed one: read them from the file
	// ReadAccounts has just validated.
	var declared crossaccount.AccountsConfig
	if err := yaml.Unmarshal(src, &declared); err != nil {
		return usageErr("%s: %v", *accountsPath, err)
	}

	if assume == nil {
		assume = sts.NewFromConfig(base)
	}
	cache, err := crossaccount.New(assume, accounts, func(o *crossaccount.Options) {
		o.Base = aws.Config{BaseEndpoint: base.BaseEndpoint, HTTPClient: base.HTTPClient, Retryer: base.Retryer}
	})
	if err != nil {
		return err
	}
	c := roleChecker{cache: cache, operator: iam.NewFromConfig(base), specs: specs}
	var results []roleResult
	for _, id := range accounts.IDs() {
		role, _ := accounts.RoleARN(id)
		region := sessionRegion(declared, id, base.Region)
		fmt.Fprintf(stderr, "remedy roles check: %s (%s)\n", id, role)
		results = append(results, c.check(ctx, id, role, region))
	}

	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(struct {
			Accounts []roleResult `json:"accounts"`
		}{results}); err != nil {
			return err
		}
	} else {
		printRoleResults(stdout, results)
	}
	var drifted, failed int
	for _, r := range results {
		switch r.Status {
		case roleDrift:
			drifted++
		case roleError:
			failed++
		}
	}
	if drifted+failed > 0 {
		return fmt.Errorf("%d of %d accounts: %d drifted from what the remediators declare, %d could not be checked", drifted+failed, len(results), drifted, failed)
	}
	return nil
}

// sessionRegion is a region the registry allows for account id, in which
// the check's session is made (IAM itself is global): the first listed, or
// fallback when the account allows any.
func sessionRegion(c crossaccount.AccountsConfig, id, fallback string) string {
	regions := c.Regions
	for _, a := range c.Accounts {
		if a.ID == id && len(a.Regions) > 0 {
			regions = a.Regions
		}
	}
	if len(regions) == 0 || slices.Contains(regions, "*") {
		return fallback
	}
	return slices.Min(regions)
}

// Statuses of a roleResult.
const (
	roleOK    = "ok"
	roleDrift = "drift"
	roleError = "error"
)

// roleResult is what roles check found in one account.
type roleResult struct {
	Account string `json:"account"`
	Role    string `json:"role"`
	// Status is ok, drift or error.
	Status string `json:"status"`
	// Missing are the actions the remediators need that the role does not
	// allow: fixes that would fail.
	Missing []string `json:"missing,omitempty"`
	// Excess are the grants no remediator needs: access to remove.
	Excess []grant `json:"excess,omitempty"`
	// Error says why the role could not be read.
	Error string `json:"error,omitempty"`
}

// grant is an action pattern a role allows, and the policy it is in.
type grant struct {
	// Action is an action pattern ("s3:*"), or "NotAction: a, b" for an
	// Allow statement with NotAction.
	Action string `json:"action"`
	// Policy names the policy: "inline NAME" or a managed policy's ARN.
	Policy string `json:"policy"`
}

func printRoleResults(w io.Writer, results []roleResult) {
	for _, r := range results {
		switch r.Status {
		case roleError:
			fmt.Fprintf(w, "%s  %s  error: %s\n", r.Account, r.Role, r.Error)
			continue
		default:
			fmt.Fprintf(w, "%s  %s  %s\n", r.Account, r.Role, r.Status)
		}
		for _, a := range r.Missing {
			fmt.Fprintf(w, "  missing  %s  (a fix that needs it would fail)\n", a)
		}
		for _, g := range r.Excess {
			fmt.Fprintf(w, "  excess   %s  (%s; no remediator needs it)\n", g.Action, g.Policy)
		}
	}
}

// roleChecker reads deployed roles and compares them with specs.
type roleChecker struct {
	cache *crossaccount.Cache
	// operator reads AWS managed policies, the same in every account.
	operator *iam.Client
	specs    []remediate.Spec
}

func (c roleChecker) check(ctx context.Context, account, roleARN, region string) roleResult {
	res := roleResult{Account: account, Role: roleARN}
	fail := func(err error) roleResult {
		res.Status, res.Error = roleError, err.Error()
		return res
	}
	roleRes := roleARN[strings.Index(roleARN, ":role/")+len(":role/"):] // path/name
	want, err := rolePolicy(c.specs, account, roleRes, []string{"*"})
	if err != nil {
		return fail(err)
	}
	partition := strings.SplitN(roleARN, ":", 3)[1]
	spec := remediate.Spec{
		Action:        rolesCheckAction,
		ResourceTypes: []string{"role", "policy"},
		Resources: map[string][]string{
			"role":   {"arn:" + remediate.PatternPartition + ":iam::" + remediate.PatternAccount + ":role/" + roleRes + "*"},
			"policy": {"arn:" + remediate.PatternPartition + ":iam::" + remediate.PatternAccount + ":policy/*"},
		},
		IAMActions: slices.Concat(roleReadActions, policyReadActions),
	}
	f := &remediate.Finding{
		ID:       rolesCheckAction + "-" + account,
		Resource: remediate.Resource{Account: account, Region: region, ARN: roleARN, Type: "role"},
	}
	cfg, err := c.cache.Config(ctx, f, spec)
	if err != nil {
		return fail(fmt.Errorf("assume the role: %w", err))
	}
	docs, err := readRolePolicies(ctx, iam.NewFromConfig(cfg), c.operator, roleARN, partition)
	if err != nil {
		return fail(err)
	}
	var needed []string
	for _, st := range want.Statement {
		needed = append(needed, st.Action...)
	}
	res.Missing, res.Excess = compareActions(slices.Compact(slices.Sorted(slices.Values(needed))), docs)
	res.Status = roleOK
	if len(res.Missing) > 0 || len(res.Excess) > 0 {
		res.Status = roleDrift
	}
	return res
}

// namedPolicy is a policy document and where it came from.
type namedPolicy struct {
	name string // "inline NAME" or the managed policy's ARN
	doc  string
}

// readRolePolicies returns the inline policies of the role and the default
// versions of its attached managed policies. AWS managed ones are read
// with operator.
func readRolePolicies(ctx context.Context, self, operator *iam.Client, roleARN, partition string) ([]namedPolicy, error) {
	name := roleARN[strings.LastIndexByte(roleARN, '/')+1:]
	var out []namedPolicy
	inline := iam.NewListRolePoliciesPaginator(self, &iam.ListRolePoliciesInput{RoleName: aws.String(name)})
	for inline.HasMorePages() {
		page, err := inline.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the role's inline policies: %w", err)
		}
		for _, p := range page.PolicyNames {
			got, err := self.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(p)})
			if err != nil {
				return nil, fmt.Errorf("read inline policy %s: %w", p, err)
			}
			out = append(out, namedPolicy{name: "inline " + p, doc: aws.ToString(got.PolicyDocument)})
		}
	}
	attached := iam.NewListAttachedRolePoliciesPaginator(self, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(name)})
	for attached.HasMorePages() {
		page, err := attached.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the role's attached policies: %w", err)
		}
		for _, p := range page.AttachedPolicies {
			arn := aws.ToString(p.PolicyArn)
			client := self
			if strings.HasPrefix(arn, "arn:"+partition+":iam::aws:policy/") {
				client = operator
			}
			pol, err := client.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(arn)})
			if err != nil {
				return nil, fmt.Errorf("read attached policy %s: %w", arn, err)
			}
			v, err := client.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(arn), VersionId: pol.Policy.DefaultVersionId})
			if err != nil {
				return nil, fmt.Errorf("read attached policy %s version %s: %w", arn, aws.ToString(pol.Policy.DefaultVersionId), err)
			}
			out = append(out, namedPolicy{name: arn, doc: aws.ToString(v.PolicyVersion.Document)})
		}
	}
	return out, nil
}

// compareActions returns the needed actions that docs do not allow, and
// the grants of docs that are not needed. An Allow grants its Action
// patterns, or with NotAction every action but those; a Deny takes its
// actions away whatever its conditions, so that an action it may deny
// counts as missing: the check errs towards reporting a fix that could
// fail. Resources and conditions are not compared.
func compareActions(needed []string, docs []namedPolicy) (missing []string, excess []grant) {
	var sts []policyStatement
	var bad []grant
	for _, d := range docs {
		parsed, err := parsePolicy(d.doc)
		if err != nil {
			// A document we cannot read grants we know not what: report it
			// as excess so that the role is looked at.
			bad = append(bad, grant{Action: "unreadable policy: " + err.Error(), Policy: d.name})
			continue
		}
		for _, s := range parsed {
			sts = append(sts, s)
			if !s.allow {
				continue
			}
			if s.not {
				excess = append(excess, grant{Action: "NotAction: " + strings.Join(s.actions, ", "), Policy: d.name})
				continue
			}
			for _, a := range s.actions {
				if !slices.ContainsFunc(needed, func(n string) bool { return strings.EqualFold(n, a) }) &&
					!slices.ContainsFunc(excess, func(g grant) bool { return strings.EqualFold(g.Action, a) && g.Policy == d.name }) {
					excess = append(excess, grant{Action: a, Policy: d.name})
				}
			}
		}
	}
	matches := func(s policyStatement, action string) bool {
		m := slices.ContainsFunc(s.actions, func(p string) bool { return actionMatch(p, action) })
		return m != s.not
	}
	for _, n := range needed {
		allowed, denied := false, false
		for _, s := range sts {
			if matches(s, n) {
				if s.allow {
					allowed = true
				} else {
					denied = true
				}
			}
		}
		if !allowed || denied {
			missing = append(missing, n)
		}
	}
	return missing, append(excess, bad...)
}

// policyStatement is the part of an IAM policy statement the check reads.
type policyStatement struct {
	allow   bool     // Effect Allow, else Deny
	not     bool     // actions are NotAction
	actions []string // patterns, as written
}

// parsePolicy reads the statements of a policy document as IAM returns it:
// URL-encoded (RFC 3986) by AWS, plain JSON by some emulators.
func parsePolicy(doc string) ([]policyStatement, error) {
	doc = strings.TrimSpace(doc)
	if !strings.HasPrefix(doc, "{") {
		d, err := url.PathUnescape(doc)
		if err != nil {
			return nil, fmt.Errorf("not URL-encoded JSON: %w", err)
		}
		doc = d
	}
	var p struct {
		Statement oneOrMany[struct {
			Effect    string            `json:"Effect"`
			Action    oneOrMany[string] `json:"Action"`
			NotAction oneOrMany[string] `json:"NotAction"`
		}] `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return nil, err
	}
	var out []policyStatement
	for _, s := range p.Statement {
		var ps policyStatement
		switch s.Effect {
		case "Allow":
			ps.allow = true
		case "Deny":
		default:
			return nil, fmt.Errorf("statement with Effect %q", s.Effect)
		}
		ps.actions, ps.not = s.Action, len(s.NotAction) > 0
		if ps.not {
			ps.actions = s.NotAction
		}
		out = append(out, ps)
	}
	return out, nil
}

// oneOrMany decodes a JSON value that IAM allows as one element or a list.
type oneOrMany[T any] []T

func (o *oneOrMany[T]) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '[' {
		return json.Unmarshal(b, (*[]T)(o))
	}
	var one T
	if err := json.Unmarshal(b, &one); err != nil {
		return err
	}
	*o = []T{one}
	return nil
}

// actionMatch reports whether the IAM action pattern p (with * and ?
// wildcards, compared case-insensitively as IAM does) matches action.
func actionMatch(p, action string) bool {
	p, action = strings.ToLower(p), strings.ToLower(action)
	// Classic wildcard matching with backtracking to the last *.
	pi, ai, star, mark := 0, 0, -1, 0
	for ai < len(action) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == action[ai]):
			pi++
			ai++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ai
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ai = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
