// Command remedy is the team's own build of Remedy's operator CLI: decide,
// plan, iam-policy and replay over the built-in remediators plus
// s3versioning, so that a what-if run of a policy, a plan and the
// customer role's policy know the team's action.
//
//	remedy decide --policy policy.yaml --accounts accounts.yaml findings/
//	REMEDY_S3_PATH_STYLE=true remedy plan --accounts accounts.yaml --policy policy.yaml --endpoint http://127.0.0.1:5000 finding.json
//	remedy iam-policy --account 111111111111
//
// Against an emulator that serves buckets on a path (moto), set
// REMEDY_S3_PATH_STYLE=true as for the worker: --endpoint makes the
// built-in remediators address buckets by path, but this main builds
// s3versioning before the command line is read.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/remedy-sec/remedy/cli"

	"example.com/remedy-custom/s3versioning"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var pathStyle bool
	if v := os.Getenv("REMEDY_S3_PATH_STYLE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			fmt.Fprintf(os.Stderr, "remedy: REMEDY_S3_PATH_STYLE=%q: want true or false\n", v)
			os.Exit(2)
		}
		pathStyle = b
	}
	code := cli.Main(ctx, os.Args[1:], func(o *cli.Options) {
		o.Remediators = append(o.Remediators, s3versioning.New(func(o *s3versioning.Options) { o.UsePathStyle = pathStyle }))
	})
	stop()
	os.Exit(code)
}
