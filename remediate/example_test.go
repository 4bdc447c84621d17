package remediate_test

import (
	"context"
	"fmt"
	"os"

	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/remediate"
)

// An engine in ModeDecideOnly needs no AWS credentials: it records what
// it would do. Here a policy approves every finding for "fix-flag".
func ExampleEngine_Process() {
	reg, _ := remediate.NewRegistry(newFake())
	eng, err := remediate.NewEngine(remediate.Options{
		Parser:   remediate.ParserFunc(parse),
		Policy:   remediate.PolicyFunc(approve),
		Registry: reg,
		Audit:    audit.Discard(),
		Mode:     remediate.ModeDecideOnly,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	for _, body := range []string{"finding-1", "bad payload"} {
		rec, err := eng.Process(context.Background(), remediate.Message{ID: "m-" + body, Body: []byte(body)})
		if err != nil {
			fmt.Println("retry:", err)
			continue
		}
		fmt.Printf("%s: decision=%s outcome=%s\n", rec.Correlation.MessageID, rec.Decision, rec.Outcome)
		if rec.FailureReason != "" {
			fmt.Println("  reason:", rec.FailureReason)
		}
	}
	// Output:
	// m-finding-1: decision=remediate outcome=planned
	// m-bad payload: decision=reject outcome=rejected
	//   reason: rejected: issue.id: missing
}

func ExampleDecision_Add() {
	var d remediate.Decision
	d.Add("owner", remediate.VerdictReview, "the finding has no owner")
	d.Add("severity", remediate.VerdictSkip, "severity %s is below HIGH", remediate.SeverityLow)
	fmt.Println(d.Verdict, d.Remediates(), len(d.Reasons))
	// Output: skip false 2
}
