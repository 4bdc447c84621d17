// Command remedy is the team's own build of Remedy's operator CLI: decide,
// plan, iam-policy and replay over the built-in remediators plus
// s3versioning, so that a what-if run of a policy, a plan and the
// customer role's policy know the team's action.
//
//	remedy decide --policy policy.yaml --accounts accounts.yaml findings/
//	remedy plan --accounts accounts.yaml --policy policy.yaml --endpoint http://127.0.0.1:5000 finding.json
//	remedy iam-policy --account 111111111111
//
// plan --endpoint makes every remediator, s3versioning too, address
// buckets by path, as emulators such as moto need.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/remedy-sec/remedy/cli"
	"github.com/remedy-sec/remedy/deploy"
	"github.com/remedy-sec/remedy/remediate"

	"example.com/remedy-custom/s3versioning"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := cli.Main(ctx, os.Args[1:], func(o *cli.Options) {
		o.Remediators = func(cfg deploy.Config) []remediate.Remediator {
			return []remediate.Remediator{s3versioning.New(func(o *s3versioning.Options) { o.UsePathStyle = cfg.PathStyleS3 })}
		}
	})
	stop()
	os.Exit(code)
}
