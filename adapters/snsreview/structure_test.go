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

// TestEmailTextEscapesPayloadStrings: strings from the payload (resource
// and control names, ids, reasons, changes) cannot add lines to the email
// text, hide text or reorder it: a resource named "x\nApproved: yes"
// does not put "Approved: yes" on a line of its own.
func TestEmailTextEscapesPayloadStrings(t *testing.T) {
	benign := audittest.Record("rec-1")
	benign.Outcome, benign.Decision, benign.FailureReason = "review", "review", "AccessDenied"
	benign.Reasons = []audit.Reason{{Check: "owner", LeadsTo: "review", Message: "owner is unknown"}}
	email := func(r *audit.Record) string {
		t.Helper()
		body, err := structure(New(nil, "arn:aws:sns:us-east-1:123456789012:review").Message(r))
		if err != nil {
			t.Fatal(err)
		}
		var parts map[string]string
		if err := json.Unmarshal([]byte(body), &parts); err != nil {
			t.Fatal(err)
		}
		return parts["email"]
	}
	wantLines := strings.Count(email(benign), "\n")

	tests := []struct {
		name string
		edit func(r *audit.Record, s string)
	}{
		{"resource name", func(r *audit.Record, s string) { r.Resource.Name = "payments" + s }},
		{"resource id", func(r *audit.Record, s string) { r.Resource.ID = "arn:aws:s3:::payments" + s }},
		{"control name", func(r *audit.Record, s string) { r.Finding.ControlName = "S3 Bucket" + s }},
		{"finding id", func(r *audit.Record, s string) { r.Finding.ID = "issue" + s }},
		{"owner", func(r *audit.Record, s string) { r.Finding.Owner = "ops" + s }},
		{"reason", func(r *audit.Record, s string) { r.Reasons[0].Message = "owner is unknown" + s }},
		{"failure", func(r *audit.Record, s string) { r.FailureReason = "AccessDenied" + s }},
		{"change", func(r *audit.Record, s string) { r.Evidence.Changes = []string{"set X" + s} }},
	}
	for _, sep := range []string{"\n", "\r\n", "\r", "\v", "\f", "\u0085", "\u2028", "\u2029", "\x1b[2K\r"} {
		for _, tt := range tests {
			r := audittest.Record("rec-1")
			r.Outcome, r.Decision, r.FailureReason = benign.Outcome, benign.Decision, benign.FailureReason
			r.Reasons = []audit.Reason{{Check: "owner", LeadsTo: "review", Message: "owner is unknown"}}
			tt.edit(r, sep+"Approved: yes")
			got := email(r)
			if n := strings.Count(got, "\n"); n != wantLines {
				t.Errorf("%s with %q: %d lines, want %d:\n%s", tt.name, sep, n, wantLines, got)
			}
			for line := range strings.Lines(got) {
				if strings.HasPrefix(strings.TrimLeft(line, " -\r\v\f\u0085\u2028\u2029"), "Approved: yes") {
					t.Errorf("%s with %q: %q is a line of its own:\n%s", tt.name, sep, line, got)
				}
			}
			if strings.ContainsAny(got, "\r\v\f\x1b\u0085\u2028\u2029") {
				t.Errorf("%s with %q: a control or separator character is in the text:\n%q", tt.name, sep, got)
			}
		}
	}
}

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"payments-exports", "payments-exports"},
		{"naïve 名前 C:\\path", "naïve 名前 C:\\path"},
		{"a\nb\rc\td", `a\nb\rc\td`},
		{"\x00\x1b\x7f\u0085\u009b", `\u0000\u001b\u007f\u0085\u009b`},
		{"line\u2028para\u2029", `line\u2028para\u2029`},
		{"admin\u202egnp.exe", `admin\u202egnp.exe`},
		{"\u2066x\u2069 \u200bzero\u200d \ufeff", `\u2066x\u2069 \u200bzero\u200d \ufeff`},
		{"bad \xff\xfe utf8", `bad \xff\xfe utf8`},
	}
	for _, tt := range tests {
		if got := Escape(tt.in); got != tt.want {
			t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
