package remediate_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/remedy-sec/remedy/remediate"
)

// An approver's tool signs an approval of one request's plan and sends
// it on the findings queue; the engine reads and verifies it.
func ExampleApproval() {
	key := []byte("example-key-example-key-example-key!") // deployed: an SSM SecureString
	f := &remediate.Finding{Resource: remediate.Resource{ID: "arn:aws:s3:::payments-exports", Type: "bucket", Account: "111111111111", Region: "us-east-1"}}
	plan := remediate.Plan{
		Before:  json.RawMessage(`{"block_public_acls":false}`),
		After:   json.RawMessage(`{"block_public_acls":true}`),
		Changes: []string{"set BlockPublicAcls from false to true"},
	}
	a := remediate.Approval{
		RequestID: "apr-0123", Approver: "alice@example.com",
		PlanHash: remediate.PlanHash(f, "s3-block-public-access", plan),
		Expires:  time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC),
	}.Sign(key)
	body, _ := remediate.ApprovalMessage(a)

	got, ok, err := remediate.ParseApprovalMessage(body)
	fmt.Println("approval message:", ok, err)
	fmt.Println("verifies:", got.Verify(key) == nil)
	got.Approver = "mallory@example.com"
	fmt.Println("changed approver forged:", errors.Is(got.Verify(key), remediate.ErrApprovalForged))
	// Output:
	// approval message: true <nil>
	// verifies: true
	// changed approver forged: true
}
