// Command demo runs Remedy's whole pipeline on this machine, visibly, with
// moto standing in for AWS (`make demo`):
//
//  1. starts moto_server on 127.0.0.1;
//  2. creates three customer accounts (production, staging, restricted)
//     with their remediation role, and misconfigured resources in them;
//  3. creates the platform's SNS topic, SQS queue with a dead-letter
//     queue, review topic and DynamoDB audit and idempotency tables;
//  4. publishes sample Wiz findings to the topic;
//  5. runs the SQS worker (the engine of examples/worker, in apply mode)
//     until the queue drains;
//  6. prints the decisions, the review inbox and the audit trail, and reads
//     every resource again to show what is now compliant.
//
// It needs moto_server (pip install 'moto[server]==5.2.1'; make demo
// installs it). Without Python, `go run ./examples/local` shows the
// decisions alone.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/remedy-sec/remedy/adapters/sqsworker"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/deploy"
	"github.com/remedy-sec/remedy/internal/scenario"
	"github.com/remedy-sec/remedy/internal/syncbuf"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

func main() {
	showAudit := flag.Bool("audit", true, "print the full audit trail (one JSON record per line)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, *showAudit); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		if errors.Is(err, mototest.ErrNotInstalled) {
			fmt.Fprintln(os.Stderr, "demo: without Python, `go run ./examples/local` shows the decisions alone")
		}
		os.Exit(1)
	}
}

const (
	prod       = "111111111111"
	staging    = "222222222222"
	restricted = "333333333333"
	owner      = "payments-team@example.com"
)

// resource is one misconfigured (or not) resource of the demo, with its
// finding.
type resource struct {
	account, bucket, group string
	finding                scenario.Finding
	note                   string
}

func run(ctx context.Context, out io.Writer, showAudit bool) error {
	step := func(format string, args ...any) { fmt.Fprintf(out, "==> "+format+"\n", args...) }
	info := func(format string, args ...any) { fmt.Fprintf(out, "    "+format+"\n", args...) }

	step("starting moto_server (AWS emulator) on 127.0.0.1")
	srv, err := mototest.Start()
	if err != nil {
		return err
	}
	defer srv.Close()
	info("moto is at %s", srv.URL)

	dir, err := os.MkdirTemp("", "remedy-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	step("creating the platform pipeline and three customer accounts")
	w, err := scenario.New(ctx, srv, dir, scenario.Options{Name: "demo", MaxReceiveCount: 3, Progress: info})
	if err != nil {
		return err
	}

	step("creating misconfigured resources in the customer accounts")
	res, err := createResources(ctx, w)
	if err != nil {
		return err
	}
	before, err := printState(ctx, out, w, res, "before", nil)
	if err != nil {
		return err
	}

	step("publishing %d Wiz findings to SNS topic %s", len(res)+1, w.TopicARN)
	bodies := make([][]byte, 0, len(res)+1)
	for _, r := range res {
		bodies = append(bodies, w.Payload(r.finding))
		info("%-28s %s", r.finding.ID, r.note)
	}
	bodies = append(bodies, []byte(`{"trigger":{"source":"ISSUES","type":"CREATED"},"issue":{"id":"wiz-broken-template"`))
	info("%-28s %s", "(malformed payload)", "a Wiz template rendered into invalid JSON")
	if _, err := w.Publish(ctx, bodies...); err != nil {
		return err
	}

	step("running the SQS worker (apply mode) until the queue drains")
	var auditOut syncbuf.Buffer
	if err := runWorker(ctx, w, srv.URL, len(bodies), &auditOut, info); err != nil {
		return err
	}

	recs, err := w.AuditRecords(ctx)
	if err != nil {
		return err
	}
	step("decisions (%d audit records in DynamoDB table %s)", len(recs), w.AuditTable)
	printDecisions(out, recs)

	reviews, err := w.ReviewMessages(ctx)
	if err != nil {
		return err
	}
	step("review inbox: %d notifications on SNS topic %s", len(reviews), w.ReviewTopicARN)
	for _, m := range reviews {
		info("%s", m.Subject)
		why := m.FailureReason
		if why == "" && len(m.Reasons) > 0 {
			why = m.Reasons[0].Message
		}
		if rs := []rune(why); len(rs) > 160 {
			why = string(rs[:100]) + " ... " + string(rs[len(rs)-55:])
		}
		info("    why: %s", why)
	}

	if showAudit {
		step("audit trail (also in CloudWatch Logs on Lambda): one JSON record per line")
		fmt.Fprint(out, auditOut.String())
	}

	if _, err := printState(ctx, out, w, res, "after", before); err != nil {
		return err
	}
	step("done: fixes landed only where the policy allowed; everything else is in the review inbox and the audit trail")
	return nil
}

func createResources(ctx context.Context, w *scenario.World) ([]resource, error) {
	bucket := func(account, name string, f scenario.Finding, note string) (resource, error) {
		f.Account, f.Bucket = account, name
		return resource{account: account, bucket: name, finding: f, note: note}, w.CreatePublicBucket(ctx, account, name)
	}
	var res []resource
	add := func(r resource, err error) error {
		if err == nil {
			res = append(res, r)
		}
		return err
	}
	if err := add(bucket(prod, "payments-exports", scenario.Finding{ID: "wiz-public-payments", Owner: owner}, "public bucket, production → fix")); err != nil {
		return nil, err
	}
	if err := add(bucket(staging, "staging-artifacts", scenario.Finding{ID: "wiz-already-fixed", Owner: owner, Environment: "staging"}, "bucket someone fixed already → compliant, no change")); err != nil {
		return nil, err
	}
	// Someone fixed it between the scan and the finding.
	cfg, err := w.AccountConfig(staging)
	if err != nil {
		return nil, err
	}
	on := aws.Bool(true)
	if _, err := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{
		Bucket: aws.String("staging-artifacts"),
		PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
			BlockPublicAcls: on, IgnorePublicAcls: on, BlockPublicPolicy: on, RestrictPublicBuckets: on,
		},
	}); err != nil {
		return nil, err
	}
	sg, err := w.CreateOpenSecurityGroup(ctx, staging, "bastion-ssh")
	if err != nil {
		return nil, err
	}
	res = append(res, resource{account: staging, group: sg, note: "SSH and HTTPS open to the internet → revoke SSH only",
		finding: scenario.Finding{ID: "wiz-open-ssh", Account: staging, GroupID: sg, Owner: owner}})
	if err := add(bucket(restricted, "card-vault-reports", scenario.Finding{ID: "wiz-restricted-vault", Owner: owner}, "restricted-production account → review, never auto-fixed")); err != nil {
		return nil, err
	}
	if err := add(bucket(prod, "untagged-scratch", scenario.Finding{ID: "wiz-no-owner"}, "no Owner tag → review")); err != nil {
		return nil, err
	}
	if err := add(bucket(prod, "legacy-logs", scenario.Finding{ID: "wiz-low-severity", Owner: owner, Severity: "LOW"}, "LOW severity → skipped")); err != nil {
		return nil, err
	}
	res = append(res, resource{account: prod, bucket: "deleted-last-week", note: "stale: the bucket is gone → failed, review",
		finding: scenario.Finding{ID: "wiz-stale-bucket", Account: prod, Bucket: "deleted-last-week", Owner: owner}})
	return res, nil
}

// runWorker runs the engine of examples/worker in this process until the
// queue has no message left, showing progress.
func runWorker(ctx context.Context, w *scenario.World, endpoint string, published int, auditOut io.Writer, info func(string, ...any)) error {
	env := map[string]string{}
	for _, kv := range w.Env(endpoint) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
		// The AWS SDK reads its settings from the process environment.
		if strings.HasPrefix(k, "AWS_") {
			if err := os.Setenv(k, v); err != nil {
				return err
			}
		}
	}
	env["REMEDY_LOG_LEVEL"] = "error"
	cfg, err := deploy.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		return err
	}
	d, err := cfg.Build(ctx, auditOut, os.Stderr)
	if err != nil {
		return err
	}
	info("engine: mode %s, policy %s, shared STS sessions, DynamoDB idempotency and audit, SNS review route", cfg.Mode, w.PolicyFile)
	worker := sqsworker.New(sqs.NewFromConfig(d.AWS), w.QueueURL, d.Engine, func(o *sqsworker.Options) {
		o.Concurrency = 4
		o.WaitTime = time.Second
	})
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- worker.Run(wctx) }()
	defer func() { cancel(); <-done }()

	start := time.Now()
	for {
		select {
		case err := <-done:
			return fmt.Errorf("worker stopped early: %w", err)
		case <-time.After(250 * time.Millisecond):
		}
		visible, inFlight, err := w.Depth(ctx, w.QueueURL)
		if err != nil {
			return err
		}
		s := worker.Stats()
		info("queue: %d waiting, %d in flight · worker: %d received, %d processed, %d acknowledged", visible, inFlight, s.Received, s.Processed, s.Acked)
		if visible == 0 && inFlight == 0 && s.Acked >= int64(published) {
			info("queue drained in %s", time.Since(start).Round(time.Millisecond))
			return nil
		}
		if time.Since(start) > 2*time.Minute {
			return errors.New("the queue did not drain within 2 minutes")
		}
	}
}

func printDecisions(out io.Writer, recs []audit.Record) {
	slices.SortFunc(recs, func(a, b audit.Record) int { return strings.Compare(a.Finding.ID, b.Finding.ID) })
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "    FINDING\tACCOUNT\tDECISION\tOUTCOME\tACTION\tWHY")
	for _, r := range recs {
		why := r.FailureReason
		if why == "" && len(r.Evidence.Changes) > 0 {
			why = strings.Join(r.Evidence.Changes, "; ")
		}
		if why == "" && len(r.Reasons) > 0 {
			why = r.Reasons[0].Message
		}
		if why == "" && r.Outcome == "compliant" {
			why = "live state already compliant: nothing changed"
		}
		if rs := []rune(why); len(rs) > 100 {
			why = string(rs[:97]) + "..."
		}
		fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\t%s\n", dash(r.Finding.ID), dash(r.Resource.Account), dash(r.Decision), r.Outcome, dash(r.Action), why)
	}
	tw.Flush()
}

// printState reads every resource live, in its account, and returns
// each one's state. With before, it shows the change too.
func printState(ctx context.Context, out io.Writer, w *scenario.World, res []resource, when string, before []string) ([]string, error) {
	fmt.Fprintf(out, "==> resources %s (read live from each account)\n", when)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	if before == nil {
		fmt.Fprintln(tw, "    ACCOUNT\tRESOURCE\tSTATE")
	} else {
		fmt.Fprintln(tw, "    ACCOUNT\tRESOURCE\tSTATE\tBEFORE")
	}
	states := make([]string, len(res))
	for i, r := range res {
		var name, state string
		switch {
		case r.group != "":
			ports, err := w.PublicIngressPorts(ctx, r.account, r.group)
			if err != nil {
				return nil, err
			}
			name = "security group " + r.group
			state = "✓ no port open to the internet"
			if len(ports) > 0 {
				state = fmt.Sprintf("✓ open to 0.0.0.0/0: %v", ports)
			}
			if slices.Contains(ports, 22) {
				state = "✗" + state[len("✓"):]
			}
		default:
			name = "bucket " + r.bucket
			blocked, err := w.BucketBlocksPublicAccess(ctx, r.account, r.bucket)
			switch {
			case err != nil && strings.Contains(err.Error(), "NoSuchBucket"):
				state = "- bucket does not exist"
			case err != nil:
				return nil, err
			case blocked:
				state = "✓ public access blocked"
			default:
				state = "✗ public access allowed"
			}
		}
		states[i] = state
		if before == nil {
			fmt.Fprintf(tw, "    %s\t%s\t%s\n", r.account, name, state)
			continue
		}
		was := "(unchanged)"
		if before[i] != state {
			was = "fixed by Remedy; was: " + before[i]
		}
		fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\n", r.account, name, state, was)
	}
	return states, tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
