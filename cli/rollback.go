package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/remedy-sec/remedy/adapters/dynamo"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/crossaccount"
	"github.com/remedy-sec/remedy/deploy"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/wizpayload"
)

// errRollbackRefused is returned (exit 1) when the rollback was refused
// or failed; its record was written all the same.
var errRollbackRefused = errors.New("not rolled back")

func runRollback(ctx context.Context, args []string, stdout, stderr io.Writer, extra func(deploy.Config) []remediate.Remediator) error {
	fs := flag.NewFlagSet("rollback", flag.ContinueOnError)
	fs.SetOutput(stderr)
	auditTable := fs.String("audit-table", "", "DynamoDB audit `TABLE` to read the record from and write the rollback record to; required")
	accountsPath := fs.String("accounts", "", "account registry `FILE` (YAML: role template, external ids, regions), as the deployment uses; required")
	sessionMode := fs.String("session-mode", "shared", "STS session `MODE`, shared or strict, as the deployment's REMEDY_SESSION_MODE")
	endpoint := fs.String("endpoint", "", "send every AWS call to `URL` (moto, LocalStack); default: AWS")
	region := fs.String("region", "", "AWS `REGION` of the audit table and STS endpoint (default: from the environment, else us-east-1)")
	dryRun := fs.Bool("dry-run", false, "read live state and show what would be restored; change nothing and write no record")
	asJSON := fs.Bool("json", false, "print the rollback record as JSON")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: remedy rollback --audit-table TABLE --accounts FILE [--session-mode shared|strict] [--endpoint URL] [--dry-run] RECORD_ID

Undoes the change an audit record describes, from the rollback data in its
evidence. It reads the record from the audit table, assumes the remediation
role in the record's account as the fix did (STS, external id, the
remediator's scoped session policy; the caller's own AWS credentials
assume it) and reads live state. When the resource changed since the fix
— live state is not the record's evidence.after — it refuses and shows the
difference; otherwise it restores the prior state and reads it back.
Either way it writes a record of its own to the same table, linked to the
original by rollback_of: outcome rolled-back, review (refused) or failed.

Only a record with outcome applied, whose remediator can roll back and
kept rollback data, can be rolled back. With --dry-run nothing is changed
and no record is written.

Exit status: 0 when rolled back (or, with --dry-run, when it would be), 1
when refused, failed or the record could not be read, 2 on a usage error.

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
	var mode crossaccount.Mode
	switch {
	case fs.NArg() != 1:
		return usageErr("want exactly one RECORD_ID, got %d arguments", fs.NArg())
	case *auditTable == "":
		return usageErr("--audit-table TABLE is required: the record is read from it and the rollback record written to it")
	case *accountsPath == "":
		return usageErr("--accounts FILE is required: it says which role and external id to use in each account")
	case *sessionMode == "shared":
		mode = crossaccount.Shared
	case *sessionMode == "strict":
		mode = crossaccount.Strict
	default:
		return usageErr("--session-mode %q: want shared or strict", *sessionMode)
	}
	id := fs.Arg(0)

	base, err := loadAWS(ctx, *region, *endpoint)
	if err != nil {
		return err
	}
	table := dynamo.NewAuditSink(dynamodb.NewFromConfig(base), *auditTable)
	fmt.Fprintf(stderr, "reading record %s from %s\n", id, *auditTable)
	orig, err := table.Get(ctx, id)
	if err != nil {
		if errors.Is(err, dynamo.ErrNotFound) {
			return fmt.Errorf("no record %s in audit table %s; check the id (remedy rollback takes the id of the applied record)", id, *auditTable)
		}
		return err
	}
	accounts, creds, err := operatorCreds(ctx, *accountsPath, base, mode)
	if err != nil {
		return err
	}
	reg, err := builtins(builtinOptions{PathStyleS3: *endpoint != "", Extra: extra})
	if err != nil {
		return err
	}
	policy, err := loadPolicy("", accounts)
	if err != nil {
		return err
	}
	var sink audit.Sink = table
	engineMode := remediate.ModeApply
	if *dryRun {
		sink, engineMode = audit.Discard(), remediate.ModeDryRun
	}
	// The policy is not consulted: a rollback is an operator's decision.
	// The engine needs one to be built.
	eng, err := remediate.NewEngine(remediate.Options{
		Parser: wizpayload.New(), Policy: policy, Registry: reg,
		Credentials: creds, Mode: engineMode, Audit: sink,
	})
	if err != nil {
		return err
	}
	rec, err := eng.Rollback(ctx, orig)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rec); err != nil {
			return err
		}
	} else {
		printRollback(stdout, orig, rec)
	}
	switch remediate.Outcome(rec.Outcome) {
	case remediate.OutcomeRolledBack:
		fmt.Fprintf(stderr, "rolled back record %s; wrote record %s to %s\n", orig.ID, rec.ID, *auditTable)
		return nil
	case remediate.OutcomePlanned:
		fmt.Fprintf(stderr, "dry run: record %s would be rolled back; nothing was changed or written\n", orig.ID)
		return nil
	}
	if !*dryRun {
		fmt.Fprintf(stderr, "wrote record %s (outcome %s) to %s\n", rec.ID, rec.Outcome, *auditTable)
	}
	return fmt.Errorf("%w: %s", errRollbackRefused, rec.FailureReason)
}

func printRollback(w io.Writer, orig, r *audit.Record) {
	fmt.Fprintf(w, "record    %s (outcome %s, action %s, %s)\n", orig.ID, orig.Outcome, orNone(orig.Action), orig.Time.UTC().Format("2006-01-02T15:04:05Z"))
	fmt.Fprintf(w, "resource  %s (%s) in account %s, %s\n", orNone(r.Resource.ID), r.Resource.Type, r.Resource.Account, r.Resource.Region)
	fmt.Fprintf(w, "rollback  %s", r.Outcome)
	if r.DryRun {
		fmt.Fprint(w, " (dry run)")
	}
	fmt.Fprintf(w, ", record %s\n", r.ID)
	if r.FailureReason != "" {
		fmt.Fprintf(w, "          %s\n", r.FailureReason)
	}
	switch remediate.Outcome(r.Outcome) {
	case remediate.OutcomeReview:
		if len(r.Evidence.Before) > 0 {
			fmt.Fprintf(w, "fixed     %s\n", orig.Evidence.After)
			fmt.Fprintf(w, "live      %s\n", r.Evidence.Before)
		}
		for _, c := range r.Evidence.Changes {
			fmt.Fprintf(w, "differs   %s\n", c)
		}
	default:
		if len(r.Evidence.Before) > 0 {
			fmt.Fprintf(w, "live      %s\n", r.Evidence.Before)
		}
		label := "restored  "
		if r.DryRun {
			label = "restore   "
		}
		if len(r.Evidence.After) > 0 {
			fmt.Fprintf(w, "%s%s\n", label, r.Evidence.After)
		}
		for _, c := range r.Evidence.Changes {
			fmt.Fprintf(w, "change    %s\n", c)
		}
	}
	if len(r.Evidence.RequestIDs) > 0 {
		fmt.Fprintf(w, "requests  %s\n", strings.Join(r.Evidence.RequestIDs, " "))
	}
}
