// Command remedy is Remedy's operator CLI.
//
//	remedy decide [--policy FILE] [--accounts FILE] [--summary] [FILE|DIR|-]...
//
// decide reads Wiz message bodies (raw or SNS-wrapped) and prints what the
// deployed engine would decide for each — the same policy, account
// environments, built-in remediators and checks, in decide-only mode —
// changing nothing: a what-if run of a policy over exported findings
// before anyone turns automation on.
//
// Exit status: 0 when every input was decided (rejections included), 1
// when an input could not be read or decided, 2 on a usage or policy
// error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

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
  remedy plan --endpoint URL [--policy FILE] FILE
      Show what a fix would change for a finding, reading live state
      (against moto or AWS). Changes nothing.
  remedy iam-policy [--remediators a,b,...]
      Print the least-privilege customer-role policy for the remediators.
  remedy replay --dlq URL --to URL [--filter ...] [--dry-run]
      List dead-letter messages with their last failure reason and re-send
      the selected ones.

Run 'remedy <command> -h' for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var err error
	switch args[0] {
	case "decide":
		err = runDecide(ctx, args[1:], stdin, stdout, stderr)
	case "plan":
		err = runPlan(ctx, args[1:], stdout, stderr)
	case "iam-policy":
		err = runIAMPolicy(ctx, args[1:], stdout, stderr)
	case "replay":
		err = runReplay(ctx, args[1:], stdout, stderr)
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
