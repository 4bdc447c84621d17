// Command worker runs Remedy's engine as a long-running SQS consumer, for
// ECS, Kubernetes or any host that is not Lambda. It is configured exactly
// like examples/lambda (see package deploy), plus
// REMEDY_QUEUE_URL, and stops gracefully on SIGTERM or interrupt: it
// stops receiving, lets in-flight findings finish (up to 20 s), gives the
// unfinished ones back to the queue and exits 0.
//
//	REMEDY_QUEUE_URL=https://sqs.eu-west-1.amazonaws.com/123456789012/remedy-findings \
//	REMEDY_MODE=apply go run ./examples/worker
//
// # Running the worker on ECS or Kubernetes
//
// Dockerfile builds a static image that runs as a non-root user and holds
// the worker with examples/lambda's policy and account registry. ecs.yaml
// runs it as an ECS Fargate service, kubernetes.yaml as a Deployment with
// an IRSA ServiceAccount; both read the queue and write to the tables and
// review topic of the examples/lambda/template.yaml stack. Customer
// accounts must trust the worker's role: deploy customer-role.yaml with
// PlatformRoleName set to its name (remedy-worker in ecs.yaml). Both
// manifests leave 45 s between SIGTERM and SIGKILL, more than the 20 s
// drain; manifests_test.go checks that, and that they set only variables
// the worker reads.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/remedy-sec/remedy/deploy"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	// A team's own worker adds its remediators here:
	//	deploy.Worker(ctx, func(c *deploy.Config) { c.Remediators = append(c.Remediators, mine.New()) })
	if err := deploy.Worker(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "remedy worker: %v\n", err)
		os.Exit(1)
	}
}
