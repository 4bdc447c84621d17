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
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: remedy iam-policy [--remediators a,b] [--account ID] [--regions r1,r2]

Prints the least-privilege permissions policy of the customer account's
remediation role, as JSON: every IAM action the registered remediators
(the built-ins and any this remedy binary adds) declare, on the account's resources they declare (the ARN patterns of
the types they fix). It is the union of the session policies Remedy
passes to AssumeRole, so a session can never need more than the role
allows.

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
	reg, err := builtins(builtinOptions{Only: splitList(*only), Extra: extra})
	if err != nil {
		return err
	}
	doc, err := customerPolicy(reg.Specs(), *account, splitList(*regions))
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
	// A stable order that reads well: scoped statements by their first
	// resource, the unscoped read-only one ("*") last.
	slices.SortStableFunc(out.Statement, func(a, b iamStatement) int {
		return cmp.Or(cmp.Compare(resourceRank(a), resourceRank(b)), strings.Compare(a.Resource[0], b.Resource[0]))
	})
	return out, nil
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
