package dynamo_test

import (
	"bytes"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/remedy-sec/remedy/adapters/dynamo"
	"github.com/remedy-sec/remedy/internal/faultproxy"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

// TestClaimWithLostAnswerIsOurs: the claim lands and its answer is lost;
// the SDK's retry meets the condition the first attempt met. The claim
// is this store's own, not "in progress elsewhere" (found by the soak:
// a delivery waited out, or dead-lettered on, its own claim).
func TestClaimWithLostAnswerIsOurs(t *testing.T) {
	srv := mototest.Require(t, moto)
	ctx := mototest.Context(t)
	_, table := newTable(t, dynamo.CreateIdempotencyTable)
	p, err := faultproxy.Start(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	cfg := srv.Config("us-east-1")
	cfg.BaseEndpoint = aws.String(p.URL)
	cfg.RetryMaxAttempts = 2
	p.Add(faultproxy.Rule{Match: func(r faultproxy.Request) bool {
		return r.Operation == "UpdateItem" && bytes.Contains(r.Body, []byte(table)) && bytes.Contains(r.Body, []byte(":inprogress"))
	}, Status: 500, Code: "InternalServerError", AfterForward: true, Times: 1})
	s := dynamo.NewIdempotency(dynamodb.NewFromConfig(cfg), table)
	if err := s.Begin(ctx, "k"); err != nil {
		t.Fatalf("Begin with the first answer lost = %v, want the claim", err)
	}
	if err := s.Complete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
}
