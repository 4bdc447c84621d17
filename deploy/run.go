package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/remedy-sec/remedy/adapters/awslambda"
	"github.com/remedy-sec/remedy/adapters/sqsworker"
)

// Lambda runs Remedy's Lambda function: the configuration from the
// environment (FromEnv), changed by optFns — add your own remediators to
// Config.Remediators there — then the engine (Build) behind the SQS
// handler of adapters/awslambda, with partial batch failures. It does
// not return. A configuration error is printed as the function's init
// error, and the process exits with status 1.
//
//	func main() {
//		deploy.Lambda(func(c *deploy.Config) {
//			c.Remediators = append(c.Remediators, rdspublic.New())
//		})
//	}
func Lambda(optFns ...func(*Config)) {
	ctx := context.Background()
	d, err := fromEnv(ctx, os.Stdout, os.Stderr, optFns)
	if err != nil {
		fmt.Fprintf(os.Stderr, "remedy: %v\n", err)
		os.Exit(1)
	}
	h := awslambda.NewSQSHandler(d.Engine, func(o *awslambda.Options) {
		o.Concurrency = d.Config.Concurrency
		o.Logger = d.Logger
		// Throttled records back off, and are requeued rather than
		// dead-lettered (REMEDY_MAX_REQUEUES).
		o.Queue = sqs.NewFromConfig(d.AWS)
		o.MaxReceiveCount = d.Config.MaxReceiveCount
		o.MaxRequeues = d.Config.MaxRequeues // zero: the default
	})
	lambda.StartWithOptions(h.Handle, lambda.WithContext(ctx))
}

// Worker runs Remedy's long-polling SQS worker on REMEDY_QUEUE_URL, with
// the configuration from the environment changed by optFns, as Lambda
// does. It returns nil when ctx is cancelled (give it a context that
// SIGTERM cancels), after the worker stopped receiving, let the findings
// in flight finish (up to 20 s) and gave the unfinished ones back to the
// queue; with REMEDY_EXIT_WHEN_IDLE, also once the queue is empty. Audit
// records go to stdout, logs to stderr.
//
//	func main() {
//		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
//		defer stop()
//		if err := deploy.Worker(ctx, func(c *deploy.Config) {
//			c.Remediators = append(c.Remediators, rdspublic.New())
//		}); err != nil {
//			fmt.Fprintln(os.Stderr, "worker:", err)
//			os.Exit(1)
//		}
//	}
func Worker(ctx context.Context, optFns ...func(*Config)) error {
	d, err := fromEnv(ctx, os.Stdout, os.Stderr, optFns)
	if err != nil {
		return err
	}
	cfg := d.Config
	if cfg.QueueURL == "" {
		return errors.New("deploy: REMEDY_QUEUE_URL is not set: name the queue the worker reads")
	}
	w := sqsworker.New(sqs.NewFromConfig(d.AWS), cfg.QueueURL, d.Engine, func(o *sqsworker.Options) {
		o.Concurrency = cfg.Concurrency
		o.MaxReceiveCount = cfg.MaxReceiveCount
		o.RetryBase = cfg.RetryBase
		o.VisibilityTimeout = cfg.VisibilityTimeout // zero: sqsworker's default
		o.ExitWhenIdle = cfg.ExitWhenIdle
		o.MaxRequeues = cfg.MaxRequeues // zero: sqsworker's default
		o.Logger = d.Logger
	})
	d.Logger.Info("worker started", slog.String("queue", cfg.QueueURL), slog.Int("concurrency", cfg.Concurrency),
		slog.Bool("exit_when_idle", cfg.ExitWhenIdle))
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

// fromEnv is FromEnv, then optFns, then Build.
func fromEnv(ctx context.Context, auditOut, logOut io.Writer, optFns []func(*Config)) (*Deployment, error) {
	c, err := FromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	for _, fn := range optFns {
		fn(&c)
	}
	return c.Build(ctx, auditOut, logOut)
}
