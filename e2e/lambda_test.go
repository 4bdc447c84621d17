package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/deploy/lambdatest"
	"github.com/remedy-sec/remedy/internal/faultproxy"
	"github.com/remedy-sec/remedy/internal/scenario"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

// TestLambda publishes the scenario's findings to SNS, receives the batch
// from SQS, and invokes examples/lambda under the Runtime Interface
// Emulator with it, the way an event source mapping would. The flaky
// finding's S3 calls fail with 503 SlowDown: it must be the only
// batchItemFailure. The test then acts as the event source mapping
// would — deletes the acknowledged messages — lets the fault go, and
// delivers the failed message again to the warm function.
func TestLambda(t *testing.T) {
	bootstrap := lambdatest.Build(t, "../examples/lambda")
	x := newWorld(t, "lambda", scenario.Options{})
	ctx := mototest.Context(t)
	fn := lambdatest.Start(t, bootstrap, x.Env(x.proxy.URL))
	x.proxy.Add(faultproxy.Rule{Match: faultproxy.PathContains("/" + x.flakyBucket), Status: 503, Code: "SlowDown"})

	if _, err := x.Publish(ctx, x.bodies...); err != nil {
		t.Fatal(err)
	}
	if err := x.WaitDepth(ctx, x.QueueURL, func(v, _ int) bool { return v >= len(x.bodies) }); err != nil {
		t.Fatal(err)
	}
	msgs, err := x.Receive(ctx, len(x.bodies))
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != len(x.bodies) {
		t.Fatalf("received %d messages, want the %d published", len(msgs), len(x.bodies))
	}
	flakyID := messageOf(t, msgs, x.flakyBucket)

	resp, inv := invoke(t, ctx, fn, x.SQSEvent(msgs))
	t.Logf("cold start: init %v, batch of %d done in %v (wall %v)", inv.Init, len(msgs), inv.Duration, inv.Wall)
	if inv.Init <= 0 {
		t.Errorf("the first invocation reported no init duration: not a cold start?")
	}
	want := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: flakyID}}}
	if d := cmp.Diff(want, resp); d != "" {
		t.Errorf("batch response (-want +got):\n%s", d)
	}
	if n := x.proxy.Faults("GET /" + x.flakyBucket); n == 0 {
		t.Errorf("no fault was injected for %s", x.flakyBucket)
	}
	// Production: one S3 session; staging: one S3, one EC2 session. The
	// restricted account is never assumed into: its finding goes to review.
	x.checkAssumed(t, map[string]int{roleOf(prod): 1, roleOf(staging): 2})

	// The event source mapping deletes what the function acknowledged.
	q := sqs.NewFromConfig(x.Platform)
	for _, m := range msgs {
		if aws.ToString(m.MessageId) == flakyID {
			continue
		}
		if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(x.QueueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
			t.Fatal(err)
		}
	}
	// First delivery done: the flaky finding has no terminal record yet.
	x.want[x.flaky] = ""
	delete(x.want, x.flaky)
	x.checkOutcomes(t, ctx, nil)
	x.want[x.flaky] = "applied"

	// The fault clears; SQS redelivers the failed message.
	x.proxy.Reset()
	for _, m := range msgs {
		if aws.ToString(m.MessageId) == flakyID {
			if _, err := q.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(x.QueueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	again, err := x.Receive(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 1 || aws.ToString(again[0].MessageId) != flakyID {
		t.Fatalf("redelivery: got %d messages, want only %s", len(again), flakyID)
	}
	resp, inv = invoke(t, ctx, fn, x.SQSEvent(again))
	t.Logf("warm invocation: init %v, 1 finding done in %v (wall %v)", inv.Init, inv.Duration, inv.Wall)
	if len(resp.BatchItemFailures) != 0 || inv.Init != 0 {
		t.Errorf("redelivery: failures %v, init %v; want none and a warm start", resp.BatchItemFailures, inv.Init)
	}
	if got := x.proxy.Calls("AssumeRole"); got != 0 {
		t.Errorf("the warm function called AssumeRole %d times for an account it had a session for, want 0", got)
	}

	recs := x.checkOutcomes(t, ctx, nil)
	for _, r := range recs {
		if r.Finding.ID == x.flaky && r.Correlation.ReceiveCount != 2 {
			t.Errorf("flaky finding applied on receive %d, want 2", r.Correlation.ReceiveCount)
		}
	}
	x.checkResources(t, ctx)
	x.checkReviews(t, ctx)

	// The function's stdout is CloudWatch Logs: one audit line per record.
	lines := strings.Count(fn.Logs(), `{"schema":"remedy.audit/v1"`)
	if lines != len(x.bodies) {
		t.Errorf("%d audit records in the function's logs, want %d (one per message)", lines, len(x.bodies))
	}
}

func invoke(t *testing.T, ctx context.Context, fn *lambdatest.Function, ev events.SQSEvent) (events.SQSEventResponse, lambdatest.Invocation) {
	t.Helper()
	payload, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	inv, err := fn.Invoke(ctx, payload)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(inv.Response, &resp); err != nil {
		t.Fatalf("response %s: %v", inv.Response, err)
	}
	return resp, inv
}

// messageOf returns the id of the message whose body mentions s.
func messageOf(t *testing.T, msgs []sqstypes.Message, s string) string {
	t.Helper()
	for _, m := range msgs {
		if strings.Contains(aws.ToString(m.Body), s) {
			return aws.ToString(m.MessageId)
		}
	}
	t.Fatalf("no message mentions %s", s)
	return ""
}
