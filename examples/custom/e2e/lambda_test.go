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
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

// TestLambda runs cmd/lambda, the team's function (deploy.Lambda plus
// s3versioning), under the Lambda Runtime Interface Emulator in apply
// mode, and invokes it with the SQS event an event source mapping would
// deliver for two findings taken from the queue: the custom action fixes
// the unversioned bucket and finds the versioned one compliant; no
// message is reported failed.
func TestLambda(t *testing.T) {
	t.Parallel()
	bootstrap := lambdatest.Build(t, "../cmd/lambda")
	w := newWorld(t, "lambda")
	ctx := mototest.Context(t)
	n := w.name
	w.createBucket(n+"-exports", false)
	w.createBucket(n+"-archive", true)
	w.send(
		payload(finding{ID: n + "-exports", Bucket: n + "-exports", Control: controlVersioning, Owner: owner}),
		payload(finding{ID: n + "-archive", Bucket: n + "-archive", Control: controlVersioning, Owner: owner}),
	)
	fn := lambdatest.Start(t, bootstrap, w.env())

	msgs := w.receive(ctx, 2)
	ev := events.SQSEvent{}
	for _, m := range msgs {
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
			Body: aws.ToString(m.Body), Md5OfBody: aws.ToString(m.MD5OfBody), Attributes: m.Attributes,
			EventSource: "aws:sqs", EventSourceARN: w.queueARN, AWSRegion: region,
		})
	}
	event, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	ictx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	inv, err := fn.Invoke(ictx, event)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cold start: init %v, batch of %d in %v", inv.Init, len(msgs), inv.Duration)
	var resp events.SQSEventResponse
	if err := json.Unmarshal(inv.Response, &resp); err != nil {
		t.Fatalf("response %s: %v", inv.Response, err)
	}
	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("batch item failures %v, want none\n%s", resp.BatchItemFailures, fn.Logs())
	}

	recs := w.auditRecords()
	want := map[string]string{n + "-exports": "applied", n + "-archive": "compliant"}
	if d := cmp.Diff(want, outcomes(t, recs)); d != "" {
		t.Errorf("outcomes in the audit table (-want +got):\n%s\nfunction output:\n%s", d, fn.Logs())
	}
	if rs := recs[n+"-exports"]; len(rs) == 1 {
		checkApplied(t, rs[0], n+"-exports")
	}
	for _, b := range []string{n + "-exports", n + "-archive"} {
		if got := w.versioning(b); got != "Enabled" {
			t.Errorf("bucket %s: versioning %q, want Enabled", b, got)
		}
	}
	// The function's stdout is CloudWatch Logs: one audit line per record.
	if got := strings.Count(fn.Logs(), `{"schema":"remedy.audit/v1"`); got != len(want) {
		t.Errorf("%d audit lines in the function's logs, want %d", got, len(want))
	}
}

// receive receives n messages from the queue, with the attributes an
// event source mapping passes on.
func (w *world) receive(ctx context.Context, n int) []sqstypes.Message {
	w.t.Helper()
	q := sqs.NewFromConfig(w.platform)
	var out []sqstypes.Message
	for len(out) < n {
		r, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(w.queueURL), MaxNumberOfMessages: int32(n - len(out)), WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		})
		if err != nil {
			w.t.Fatalf("ReceiveMessage: %v", err)
		}
		if len(r.Messages) == 0 {
			w.t.Fatalf("received %d messages, want %d", len(out), n)
		}
		out = append(out, r.Messages...)
	}
	return out
}
