// Command worker runs Remedy's engine as a long-running SQS consumer, for
// ECS, Kubernetes or any host that is not Lambda. It is configured exactly
// like examples/lambda (see package internal/deploy), plus
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
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/remedy-sec/remedy/adapters/sqsworker"
	"github.com/remedy-sec/remedy/deploy"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "remedy worker: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	cfg, err := deploy.FromEnv(os.Getenv)
	if err != nil {
		return err
	}
	if cfg.QueueURL == "" {
		return errors.New("REMEDY_QUEUE_URL is not set: name the queue to read")
	}
	d, err := cfg.Build(ctx, os.Stdout, os.Stderr)
	if err != nil {
		return err
	}
	w := sqsworker.New(sqs.NewFromConfig(d.AWS), cfg.QueueURL, d.Engine, func(o *sqsworker.Options) {
		o.Concurrency = cfg.Concurrency
		o.MaxReceiveCount = cfg.MaxReceiveCount
		o.RetryBase = cfg.RetryBase
		o.VisibilityTimeout = cfg.VisibilityTimeout // zero: sqsworker's default
		o.Logger = d.Logger
	})
	d.Logger.Info("worker started", slog.String("queue", cfg.QueueURL), slog.Int("concurrency", cfg.Concurrency))
	start := time.Now()
	err = w.Run(ctx)
	// Rejections the review route still counts are sent before exit.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	if ferr := d.Flush(fctx); ferr != nil {
		d.Logger.Warn("could not send the review route's pending rejection counts", slog.Any("error", ferr))
	}
	cancel()
	s := w.Stats()
	d.Logger.Info("worker stopped", slog.Duration("ran", time.Since(start)),
		slog.Int64("received", s.Received), slog.Int64("acked", s.Acked), slog.Int64("retried", s.Retried),
		slog.Int64("released", s.Released), slog.Int64("errors", s.Errors))
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
