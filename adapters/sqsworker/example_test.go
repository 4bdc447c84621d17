package sqsworker_test

import (
	"context"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/remedy-sec/remedy/adapters/sqsworker"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/eligibility"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediators/s3publicaccess"
	"github.com/remedy-sec/remedy/remediators/sgingress"
	"github.com/remedy-sec/remedy/wizpayload"
)

// A worker on ECS or Kubernetes consumes the findings queue until SIGTERM,
// then drains within the orchestrator's grace period.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	policy, err := eligibility.Load("policy.yaml")
	if err != nil {
		log.Fatal(err)
	}
	reg, err := remediate.NewRegistry(s3publicaccess.New(), sgingress.New())
	if err != nil {
		log.Fatal(err)
	}
	engine, err := remediate.NewEngine(remediate.Options{
		Parser:   wizpayload.New(),
		Enricher: policy,
		Policy:   policy,
		Registry: reg,
		Audit:    audit.NewJSONLines(os.Stdout),
		// ModeDecideOnly changes nothing; ModeApply and ModeDryRun also need
		// Options.Credentials, a *crossaccount.Cache.
		Mode:            remediate.ModeDecideOnly,
		MaxReceiveCount: 5, // the queue's redrive policy
	})
	if err != nil {
		log.Fatal(err)
	}

	queueURL := "https://sqs.eu-west-1.amazonaws.com/123456789012/remedy-findings"
	w := sqsworker.New(sqs.NewFromConfig(cfg), queueURL, engine, func(o *sqsworker.Options) {
		o.Concurrency = 16
		// Below the grace period between SIGTERM and SIGKILL (Kubernetes
		// terminationGracePeriodSeconds, ECS stopTimeout: 30 s by default),
		// so unfinished messages are given back rather than cut off.
		o.DrainTimeout = 20 * time.Second
		o.Logger = slog.Default()
	})
	if err := w.Run(ctx); err != nil {
		log.Fatal(err) // the queue does not exist, or access is denied
	}
	s := w.Stats()
	log.Printf("stopped: %d received, %d acknowledged, %d retried, %d released", s.Received, s.Acked, s.Retried, s.Released)
}
