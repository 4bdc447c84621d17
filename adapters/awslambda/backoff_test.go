package awslambda_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/remedy-sec/remedy/adapters/awslambda"
	"github.com/remedy-sec/remedy/adapters/batch"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

var moto *mototest.Server

func TestMain(m *testing.M) { os.Exit(mototest.Main(m, &moto)) }

// throttled is a failure that says when to retry, as
// crossaccount.ThrottledError does.
type throttled struct{ after time.Duration }

func (e throttled) Error() string             { return fmt.Sprintf("throttled; retry after %s", e.after) }
func (e throttled) RetryAfter() time.Duration { return e.after }

// TestSQSBackOff runs records of a moto queue through the SQS handler
// with Options.Queue: a throttled record is reported failed with its
// visibility set to its back-off (not the queue's 30 s), and one on its
// last delivery but one is requeued as a new message counting its
// requeue, and acknowledged; other failures are untouched.
func TestSQSBackOff(t *testing.T) {
	srv := mototest.Require(t, moto)
	ctx := mototest.Context(t)
	client := sqs.NewFromConfig(srv.Config("us-east-1"))
	q, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("backoff-" + strconv.FormatInt(time.Now().UnixNano()%1e6, 10)),
		Attributes: map[string]string{"VisibilityTimeout": "30"}})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	arn := attrs.Attributes[string(types.QueueAttributeNameQueueArn)]
	for _, b := range []string{"throttled", "last", "broken"} {
		if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	if err != nil || len(out.Messages) != 3 {
		t.Fatalf("receive: %d messages, %v", len(out.Messages), err)
	}
	var ev events.SQSEvent
	ids := map[string]string{}
	for _, m := range out.Messages {
		body := aws.ToString(m.Body)
		count := 1
		if body == "last" {
			count = 2 // MaxReceiveCount 3: one delivery left
		}
		ids[body] = aws.ToString(m.MessageId)
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: body,
			EventSourceARN: arn, Attributes: map[string]string{"ApproximateReceiveCount": strconv.Itoa(count)},
		})
	}
	p := procFunc(func(ctx context.Context, m remediate.Message) (*audit.Record, error) {
		if string(m.Body) == "broken" {
			return nil, fmt.Errorf("InternalError")
		}
		return nil, fmt.Errorf("remediate: plan: %w", throttled{after: 2 * time.Second})
	})
	h := awslambda.NewSQSHandler(p, func(o *awslambda.Options) { o.Queue = client; o.MaxReceiveCount = 3 })
	resp, err := h.Handle(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	got := failures(resp)
	want := []string{ids["broken"], ids["throttled"]}
	if want[0] > want[1] {
		want[0], want[1] = want[1], want[0]
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("batch item failures %v, want broken and throttled %v (last requeued and acknowledged)", got, want)
	}
	// Within 2 s nothing is visible: the throttled record waits out its
	// back-off, the requeued copy its delay, the broken one the queue's 30 s.
	start := time.Now()
	seen := map[string]int{}
	for time.Since(start) < 8*time.Second && (seen["throttled"] == 0 || seen["last"] == 0) {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageAttributeNames: []string{batch.RequeuesAttribute}, MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount}})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			body := aws.ToString(m.Body)
			seen[body]++
			if d := time.Since(start); d < 1500*time.Millisecond {
				t.Errorf("%s delivered again after %v, before its 2 s back-off", body, d)
			}
			switch body {
			case "last":
				if m.MessageId == nil || *m.MessageId == ids["last"] || aws.ToString(m.MessageAttributes[batch.RequeuesAttribute].StringValue) != "1" ||
					m.Attributes["ApproximateReceiveCount"] != "1" {
					t.Errorf("requeued copy: id %s (was %s), %s=%q, receive count %s; want a new message, 1, first delivery",
						aws.ToString(m.MessageId), ids["last"], batch.RequeuesAttribute, aws.ToString(m.MessageAttributes[batch.RequeuesAttribute].StringValue), m.Attributes["ApproximateReceiveCount"])
				}
			case "broken":
				t.Errorf("broken delivered again after %v: its visibility was changed", time.Since(start))
			}
		}
	}
	if seen["throttled"] != 1 || seen["last"] != 1 {
		t.Errorf("within 8 s: delivered %v; want throttled and last once each", seen)
	}
}
