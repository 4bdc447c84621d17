package awslambda_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/events"

	"github.com/remedy-sec/remedy/adapters/awslambda"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/remediate"
)

func ExampleSQSHandler_Handle() {
	// In a deployment the processor is a *remediate.Engine and main calls
	// lambda.Start(h.Handle). Here a stand-in fails one message
	// transiently, as a throttled AWS call would.
	engine := procFunc(func(_ context.Context, m remediate.Message) (*audit.Record, error) {
		if m.ID == "msg-2" {
			return nil, errors.New("ThrottlingException: rate exceeded")
		}
		return &audit.Record{ID: "rec-" + m.ID, Outcome: "applied"}, nil
	})
	h := awslambda.NewSQSHandler(engine)

	ev := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "msg-1", Body: `{"trigger":{}}`, Attributes: map[string]string{"ApproximateReceiveCount": "1"}},
		{MessageId: "msg-2", Body: `{"trigger":{}}`, Attributes: map[string]string{"ApproximateReceiveCount": "1"}},
		{MessageId: "msg-3", Body: `{"trigger":{}}`, Attributes: map[string]string{"ApproximateReceiveCount": "2"}},
	}}
	resp, err := h.Handle(context.Background(), ev)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	for _, f := range resp.BatchItemFailures {
		fmt.Println("retry:", f.ItemIdentifier)
	}
	fmt.Printf("acknowledged: %d of %d\n", len(ev.Records)-len(resp.BatchItemFailures), len(ev.Records))
	// Output:
	// retry: msg-2
	// acknowledged: 2 of 3
}
