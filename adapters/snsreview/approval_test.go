package snsreview

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/audit/audittest"
)

// TestApprovalRequestIsAnnounced: the notification of a plan that waits
// for approval says so in its subject, carries the plan (evidence), its
// hash and the request id in the JSON document and in the email text with
// the command that approves it, and has the attribute approval=requested
// for subscription filters.
func TestApprovalRequestIsAnnounced(t *testing.T) {
	r := audittest.Record("rec-apr-1")
	r.Outcome, r.Decision = "review", "review"
	r.FailureReason = "the policy requires approval of the plan before s3-block-public-access runs"
	expires := time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)
	r.Approval = &audit.Approval{RequestID: "apr-0123", PlanHash: "sha256:abcd", Expires: expires, Status: "requested"}
	s := New(nil, "arn:aws:sns:us-east-1:123456789012:review")
	m := s.Message(r)
	if want := "Remedy approval needed: HIGH S3 Bucket allows public access on payments-exports (111111111111)"; m.Subject != want {
		t.Errorf("Subject = %q, want %q", m.Subject, want)
	}
	body, err := structure(m)
	if err != nil {
		t.Fatal(err)
	}
	var parts map[string]string
	if err := json.Unmarshal([]byte(body), &parts); err != nil {
		t.Fatal(err)
	}
	var doc Message
	if err := json.Unmarshal([]byte(parts["default"]), &doc); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r.Approval, doc.Approval); diff != "" {
		t.Errorf("document's approval (-want +got):\n%s", diff)
	}
	if doc.Evidence == nil || len(doc.Evidence.Changes) == 0 || len(doc.Evidence.Before) == 0 || len(doc.Evidence.After) == 0 {
		t.Errorf("document's evidence %+v: want the plan (before, after, changes)", doc.Evidence)
	}
	email := parts["email"]
	for _, want := range []string{
		"needs a person's approval",
		"remedy approve apr-0123 --approver NAME",
		"Approval:     requested",
		"Request:      apr-0123",
		"Plan hash:    sha256:abcd",
		"Expires:      2026-12-07T05:00:00Z",
		"Changes:\n  - " + r.Evidence.Changes[0],
	} {
		if !strings.Contains(email, want) {
			t.Errorf("email text lacks %q:\n%s", want, email)
		}
	}
	attrs := attributes(r)
	if got := attrs["approval"]; got.StringValue == nil || *got.StringValue != "requested" {
		t.Errorf("attribute approval = %v, want requested", got.StringValue)
	}

	// A drifted approval asks for the new request.
	r.Approval.Status, r.Approval.Approver, r.Approval.NextRequestID, r.Approval.NextPlanHash = "drifted", "bob", "apr-0456", "sha256:ef"
	body, err = structure(s.Message(r))
	if err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal([]byte(body), &parts)
	for _, want := range []string{"remedy approve apr-0456 --approver NAME", "Approver:     bob", "New request:  apr-0456"} {
		if !strings.Contains(parts["email"], want) {
			t.Errorf("drifted email text lacks %q:\n%s", want, parts["email"])
		}
	}
}
