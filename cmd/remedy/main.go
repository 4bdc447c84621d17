// Command remedy is Remedy's operator CLI, over the built-in remediators:
// decide (a what-if run of a policy), plan (what a fix would change,
// read-only), iam-policy (the customer role's least-privilege policy) and
// replay (the dead-letter queue). Run remedy -h for the commands, and see
// package cli to build a remedy with your own remediators.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/remedy-sec/remedy/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := cli.Main(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
