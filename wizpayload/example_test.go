package wizpayload_test

import (
	"errors"
	"fmt"

	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/wizpayload"
)

func ExampleParse() {
	body := []byte(`{
	  "trigger": {"source": "ISSUES", "type": "CREATED", "ruleId": "r-1", "ruleName": "Auto-remediate S3"},
	  "issue": {"id": "5b0e6c9a-1f0e-4d6e-9a53-2f1c0d4b7e11", "status": "OPEN", "severity": "high",
	            "created": "2026-11-02T10:11:12Z", "projects": "Payments, "},
	  "resource": {"id": "arn:aws:s3:::payments-exports", "type": "bucket", "cloudPlatform": "aws",
	               "subscriptionId": "111111111111", "region": "us-east-1"},
	  "control": {"id": "wc-id-1234", "severity": "HIGH"}
	}`)
	f, err := wizpayload.Parse(body)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(f.ID, f.Severity, f.TriggerType, f.Resource.ARN, f.Resource.Account, f.Projects)
	fmt.Println(f.CorrelationID)

	// A duplicate key is rejected, naming the field: a lenient decoder
	// would have kept the second value.
	_, err = wizpayload.Parse([]byte(`{"issue": {"id": "i-1", "severity": "LOW", "severity": "CRITICAL"}}`))
	var rej *remediate.RejectError
	if errors.As(err, &rej) {
		fmt.Println(rej.Field, "|", rej.Reason)
	}

	// Ambiguity is not rejected: it becomes a concern, and review.
	f, _ = wizpayload.Parse([]byte(`{"issue": {"id": "i-2", "severity": "HIGH", "status": "OPEN"},
	  "trigger": {"source": "ISSUES", "type": "CREATED"},
	  "resource": {"id": "arn:aws:ec2:us-west-2:444444444444:instance/i-0abc", "type": "instance",
	               "cloudPlatform": "AWS", "subscriptionId": "111111111111", "region": "us-west-2"}}`))
	for _, c := range f.Concerns {
		fmt.Println(c.Field, "|", c.Message)
	}
	// Output:
	// 5b0e6c9a-1f0e-4d6e-9a53-2f1c0d4b7e11 HIGH CREATED arn:aws:s3:::payments-exports 111111111111 [Payments]
	// wiz:5b0e6c9a-1f0e-4d6e-9a53-2f1c0d4b7e11:CREATED:2026-11-02T10:11:12Z
	// issue.severity | duplicate key: "severity" at byte 43
	// resource.subscriptionId | The resource ARN names account "444444444444" but the payload says "111111111111".
}
