// Command worker is the team's own Remedy worker: Remedy's long-polling
// SQS worker with the built-in remediators plus s3versioning. It is
// configured by the environment variables of package deploy
// (REMEDY_QUEUE_URL, REMEDY_MODE, REMEDY_POLICY_FILE, …), stops
// gracefully on SIGTERM or interrupt, and with REMEDY_EXIT_WHEN_IDLE=true
// exits once the queue is empty.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/remedy-sec/remedy/deploy"

	"example.com/remedy-custom/s3versioning"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := deploy.Worker(ctx, func(c *deploy.Config) {
		c.Remediators = append(c.Remediators, s3versioning.New(func(o *s3versioning.Options) {
			o.UsePathStyle = c.PathStyleS3 // REMEDY_S3_PATH_STYLE
		}))
	}); err != nil {
		fmt.Fprintf(os.Stderr, "worker: %v\n", err)
		os.Exit(1)
	}
}
