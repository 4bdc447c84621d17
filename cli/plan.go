package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/crossaccount"
	"github.com/remedy-sec/remedy/deploy"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/wizpayload"
)

func runPlan(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, extra func(deploy.Config) []remediate.Remediator) error {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	accountsPath := fs.String("accounts", "", "account registry `FILE` (YAML: role template, external ids, regions); required")
	policyPath := fs.String("policy", "", "policy `FILE`; its playbook picks the action (default: the built-in default-deny policy)")
	action := fs.String("action", "", "plan this `ACTION` instead of the policy's playbook action")
	endpoint := fs.String("endpoint", "", "send every AWS call to `URL` (moto, LocalStack); default: AWS")
	region := fs.String("region", "", "region of the STS endpoint (default: from the environment, else us-east-1)")
	asJSON := fs.Bool("json", false, "print the audit record of the plan as JSON")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: remedy plan --accounts FILE [--policy FILE] [--action NAME] [--endpoint URL] FILE

Reads one Wiz message body, shows the policy's decision, assumes the
remediation role in the finding's account (STS, external id, scoped
session policy) and reads the live state to show what the fix would
change. It never changes anything: the engine runs in dry-run mode.
The caller's own AWS credentials (environment, profile) assume the role.

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
	if fs.NArg() != 1 {
		return usageErr("want exactly one finding FILE (or -), got %d arguments", fs.NArg())
	}
	if *accountsPath == "" {
		return usageErr("--accounts FILE is required: it says which role and external id to use in each account")
	}

	base, err := loadAWS(ctx, *region, *endpoint)
	if err != nil {
		return err
	}
	accounts, creds, err := operatorCreds(ctx, *accountsPath, base, crossaccount.Shared)
	if err != nil {
		return err
	}
	policy, err := loadPolicy(*policyPath, accounts)
	if err != nil {
		return err
	}
	body, err := readInput(fs.Arg(0), stdin)
	if err != nil {
		return err
	}

	reg, err := builtins(builtinOptions{PathStyleS3: *endpoint != "", Extra: extra})
	if err != nil {
		return err
	}

	// The policy's real decision is shown; the plan runs for its playbook
	// action (or --action) whatever the verdict, because a dry run reads
	// and never writes. The engine's own guards (concerns, resource type,
	// sensitive remediators) still apply.
	var decided remediate.Decision
	forPlan := remediate.PolicyFunc(func(ctx context.Context, f *remediate.Finding) (remediate.Decision, error) {
		d, err := policy.Decide(ctx, f)
		if err != nil {
			return d, err
		}
		decided = d
		a := d.Action
		if *action != "" {
			a = *action
		}
		if a == "" {
			return d, nil
		}
		// The policy's approval of a sensitive action holds for that action only.
		approved := d.SensitiveApproved && a == d.Action
		return remediate.Decision{Verdict: remediate.VerdictRemediate, Action: a, PolicyVersion: d.PolicyVersion, SensitiveApproved: approved}, nil
	})
	var rec *audit.Record
	eng, err := remediate.NewEngine(remediate.Options{
		Parser: wizpayload.New(), Enricher: policy, Policy: forPlan, Registry: reg,
		Credentials: creds, Mode: remediate.ModeDryRun,
		Audit: audit.SinkFunc(func(_ context.Context, r *audit.Record) error { rec = r; return nil }),
	})
	if err != nil {
		return err
	}
	if _, err := eng.Process(ctx, remediate.Message{ID: "remedy-plan", Body: body}); err != nil {
		return fmt.Errorf("plan did not finish (transient; try again): %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rec)
	}
	printPlan(stdout, rec, decided)
	return nil
}

func printPlan(w io.Writer, r *audit.Record, d remediate.Decision) {
	fmt.Fprintf(w, "finding   %s\nresource  %s (%s) in account %s, %s\n", orNone(r.Finding.ID), orNone(r.Resource.ID), r.Resource.Type, r.Resource.Account, r.Resource.Region)
	if r.Outcome == string(remediate.OutcomeRejected) {
		fmt.Fprintf(w, "payload   rejected: %s\n", r.FailureReason)
		return
	}
	fmt.Fprintf(w, "policy    %s", d.Verdict)
	if d.Action != "" {
		fmt.Fprintf(w, " (action %s)", d.Action)
	}
	fmt.Fprintln(w)
	for _, x := range d.Reasons {
		fmt.Fprintf(w, "          - %s → %s: %s\n", x.Check, x.Verdict, x.Message)
	}
	fmt.Fprintf(w, "plan      %s", r.Outcome)
	if r.Action != "" {
		fmt.Fprintf(w, " with %s", r.Action)
	}
	fmt.Fprintln(w)
	if r.FailureReason != "" {
		fmt.Fprintf(w, "          %s\n", r.FailureReason)
	}
	if len(r.Evidence.Before) > 0 {
		fmt.Fprintf(w, "before    %s\n", r.Evidence.Before)
	}
	if len(r.Evidence.After) > 0 {
		fmt.Fprintf(w, "after     %s\n", r.Evidence.After)
	}
	for _, c := range r.Evidence.Changes {
		fmt.Fprintf(w, "change    %s\n", c)
	}
	if len(r.Evidence.RequestIDs) > 0 {
		fmt.Fprintf(w, "requests  %s\n", strings.Join(r.Evidence.RequestIDs, " "))
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
