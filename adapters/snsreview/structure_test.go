package snsreview

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/audit/audittest"
)

func TestStructureEmailAndDefault(t *testing.T) {
	r := audittest.Record("rec-1")
	r.Outcome, r.Decision = "failed", "remediate"
	r.FailureReason = "apply: AccessDenied: not authorized to perform s3:PutBucketPublicAccessBlock"
	s := New(nil, "arn:aws:sns:us-east-1:123456789012:review", func(o *Options) {
		o.WizURL = "https://app.wiz.us/"
		o.Links = func(r *audit.Record) []Link {
			return []Link{{Name: "Runbook", URL: "https://runbooks.example/" + r.Action}}
		}
	})
	body, err := structure(s.Message(r))
	if err != nil {
		t.Fatal(err)
	}
	var parts map[string]string
	if err := json.Unmarshal([]byte(body), &parts); err != nil {
		t.Fatalf("not a MessageStructure document: %v", err)
	}
	var keys []string
	for k := range parts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if diff := cmp.Diff([]string{"default", "email"}, keys); diff != "" {
		t.Errorf("protocols (-want +got):\n%s", diff)
	}
	var m Message
	if err := json.Unmarshal([]byte(parts["default"]), &m); err != nil {
		t.Fatal(err)
	}
	wantLinks := []Link{
		{Name: "Wiz issue", URL: "https://app.wiz.us/issues#~(issue~'5b0e6c9a-1f0e-4d6e-9a53-2f1c0d4b7e11)"},
		{Name: "AWS console", URL: "https://s3.console.aws.amazon.com/s3/buckets/payments-exports?region=us-east-1"},
		{Name: "Runbook", URL: "https://runbooks.example/s3-block-public-access"},
	}
	if diff := cmp.Diff(wantLinks, m.Links); diff != "" {
		t.Errorf("links (-want +got):\n%s", diff)
	}
	email := parts["email"]
	for _, want := range []string{
		"could not remediate a finding",
		"Outcome:      failed",
		"Finding:      S3 Bucket allows public access [HIGH]",
		"Resource ID:  arn:aws:s3:::payments-exports",
		"Account:      111111111111",
		"Failure:      apply: AccessDenied",
		"  - severity is LOW (severity -> skip)",
		"  - set BlockPublicAcls from false to true",
		"  Wiz issue: https://app.wiz.us/issues#~(issue~'5b0e6c9a-1f0e-4d6e-9a53-2f1c0d4b7e11)",
		"  Runbook: https://runbooks.example/s3-block-public-access",
		"Record:       rec-1",
		"Correlation:  6a1f",
		"Deliveries:   2",
	} {
		if !strings.Contains(email, want) {
			t.Errorf("email text lacks %q:\n%s", want, email)
		}
	}
}
