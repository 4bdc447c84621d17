// Package cli runs the commands of Remedy's operator CLI, remedy, over
// the built-in remediators and any a team adds, so that a team builds its
// own remedy binary in one main and decide, plan and iam-policy know its
// actions:
//
//	func main() {
//		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//		defer stop()
//		os.Exit(cli.Main(ctx, os.Args[1:], func(o *cli.Options) {
//			o.Remediators = func(cfg deploy.Config) []remediate.Remediator {
//				return []remediate.Remediator{rdspublic.New()}
//			}
//		}))
//	}
//
// The commands:
//
//	remedy decide [--policy FILE] [--accounts FILE] [--summary] [FILE|DIR|-]...
//	remedy plan --accounts FILE [--policy FILE] [--action NAME] [--endpoint URL] FILE|-
//	remedy iam-policy [--remediators a,b] [--account ID] [--regions r1,r2]
//	remedy replay --dlq URL --to URL [--audit-table NAME] [--filter k=v] [--dry-run]
//	remedy tables create [--audit-table NAME] [--idempotency-table NAME] [--endpoint URL]
//	remedy roles check --accounts FILE [--remediators a,b] [--endpoint URL] [--json]
//	remedy rollback --audit-table NAME --accounts FILE [--endpoint URL] [--dry-run] RECORD_ID
//	remedy report --audit-table NAME [--account ID] --since D [--format markdown|html] [--endpoint URL]
//	remedy exception add|list|revoke --table NAME ...
//	remedy approve --approver NAME [--approval-table T] [--queue-url URL] [--key-param P] [--plan-hash H] [--expires 1h] REQUEST_ID
//
// decide reads Wiz message bodies (raw or SNS-wrapped) and prints what the
// deployed engine would decide for each — the same policy, account
// environments, remediators and checks, in decide-only mode — changing
// nothing: a what-if run of a policy over exported findings before anyone
// turns automation on.
//
// Exit status: 0 when every input was decided (rejections included), 1
// when an input could not be read or decided, 2 on a usage or policy
// error.
//
// roles check watches least privilege over time: for each account of the
// registry it assumes the remediation role, reads the role's own inline
// and attached policies (the policy iam-policy prints lets the role read
// itself, and no remediator's session holds those reads), and compares
// the actions they allow with those the remediators declare. Missing
// actions are fixes that would fail, excess ones (wildcards included)
// access to remove; either, or a role that cannot be read, exits 1.
//
// rollback undoes an applied fix from its audit record in the DynamoDB
// audit table (remediate.Engine.Rollback): it assumes the role of the
// record's account with the remediator's session policy, as the fix did,
// refuses — showing the difference — when live state is not the state the
// fix left, and otherwise restores the prior state and reads it back. It
// writes its own record, linked by rollback_of, to the same table, and
// exits 0 only when the fix was rolled back (or, with --dry-run, would be).
//
// approve lets a person approve the concrete plan of an approval request
// (a fix the policy requires approval for, or a sensitive one): it shows
// the request's plan from the approval table, signs an approval with the
// HMAC key in SSM and sends it to the findings queue, where the engine
// verifies it, plans again against live state and applies only the plan
// that was approved.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/remedy-sec/remedy/deploy"
	"github.com/remedy-sec/remedy/remediate"
)

// Options configure Main.
type Options struct {
	// Remediators, if set, returns the remediators registered beside
	// Remedy's built-ins for every command — decide and plan run them,
	// iam-policy prints what they declare — configured by cfg as the
	// command line says: cfg.PathStyleS3 is true for plan --endpoint (an
	// emulator such as moto).
	Remediators func(cfg deploy.Config) []remediate.Remediator
	// Stdin, Stdout and Stderr default to the process's.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Main runs the command args names (os.Args[1:]) and returns the exit
// status.
func Main(ctx context.Context, args []string, optFns ...func(*Options)) int {
	o := Options{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	for _, fn := range optFns {
		fn(&o)
	}
	return run(ctx, args, o)
}

// Exit codes.
const (
	exitOK    = 0
	exitInput = 1 // an input could not be read or decided
	exitUsage = 2 // bad flags, arguments or policy
)

// errUsage marks errors that exit with exitUsage.
var errUsage = errors.New("usage")

const usage = `remedy — guardrailed auto-remediation of cloud security findings

Usage:
  remedy decide [--policy FILE] [--accounts FILE] [--summary] [FILE|DIR|-]...
      Decide each Wiz message body (raw or SNS-wrapped) as the deployed
      engine would and print one JSON line per input. Changes nothing.
  remedy plan --accounts FILE [--policy FILE] [--action NAME] [--endpoint URL] FILE|-
      Show what a fix would change for a finding, reading live state
      (against AWS, or moto with --endpoint). Changes nothing.
  remedy iam-policy [--remediators a,b] [--account ID] [--regions r1,r2]
      Print the least-privilege customer-role policy for the remediators.
  remedy replay --dlq URL --to URL [--audit-table NAME] [--filter k=v] [--dry-run]
      List dead-letter messages with their last failure reason and re-send
      the selected ones.
  remedy tables create [--audit-table NAME] [--idempotency-table NAME] [--endpoint URL]
      Create the audit and idempotency DynamoDB tables as the reference
      template declares them.
  remedy roles check --accounts FILE [--remediators a,b] [--endpoint URL] [--json]
      Compare each account's deployed remediation role with what the
      remediators declare: missing actions (fixes that would fail) and
      excess ones (access to remove). Exit 1 on either.
  remedy rollback --audit-table NAME --accounts FILE [--endpoint URL] [--dry-run] RECORD_ID
      Undo an applied fix from its audit record, through the same role and
      session policy; refuses when the resource changed since the fix.
  remedy report --audit-table NAME [--account ID] --since D [--format markdown|html] [--endpoint URL]
      Report per account and control from the audit table: outcomes, time
      to fix, open reviews, failed fixes — Markdown or a self-contained
      HTML page, every number naming its audit record ids.
  remedy exception add --table NAME --owner O --reason R --expires DATE [--resource ARN] [--control ID] [--account ID] [--tag K=V]
  remedy exception list --table NAME [--json]
  remedy exception revoke --table NAME ID
      Keep the exception store the engine reads beside the policy file:
      scoped, owned, expiring exceptions; list shows active and expired.
  remedy approve --approver NAME [--approval-table T] [--queue-url URL] [--key-param P] [--plan-hash H] [--expires 1h] REQUEST_ID
      Approve the plan of an approval request: show it, sign an approval
      (HMAC key in SSM) and send it to the findings queue; the engine plans
      again and applies only if the plan is unchanged.

Run 'remedy <command> -h' for a command's flags.
`

func run(ctx context.Context, args []string, o Options) int {
	stdin, stdout, stderr := o.Stdin, o.Stdout, o.Stderr
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var err error
	switch args[0] {
	case "decide":
		err = runDecide(ctx, args[1:], stdin, stdout, stderr, o.Remediators)
	case "plan":
		err = runPlan(ctx, args[1:], stdin, stdout, stderr, o.Remediators)
	case "iam-policy":
		err = runIAMPolicy(ctx, args[1:], stdout, stderr, o.Remediators)
	case "replay":
		err = runReplay(ctx, args[1:], stdout, stderr)
	case "tables":
		err = runTables(ctx, args[1:], stdout, stderr)
	case "roles":
		err = runRoles(ctx, args[1:], stdout, stderr, o.Remediators)
	case "rollback":
		err = runRollback(ctx, args[1:], stdout, stderr, o.Remediators)
	case "report":
		err = runReport(ctx, args[1:], stdout, stderr)
	case "exception":
		err = runException(ctx, args[1:], stdout, stderr)
	case "approve":
		err = runApprove(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "remedy: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "remedy %s: %v\n", args[0], err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "remedy %s: %v\n", args[0], err)
		return exitInput
	}
}

// usageErr wraps a message so that it exits with exitUsage.
func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, args...)...)
}
