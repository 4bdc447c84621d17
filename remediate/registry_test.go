package remediate_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/remediate"
)

func TestRegistry(t *testing.T) {
	a, b := newFake(), newFake()
	b.spec.Action = "other"
	reg, err := remediate.NewRegistry(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"fix-flag", "other"}, reg.Actions()); diff != "" {
		t.Errorf("Actions (-want +got):\n%s", diff)
	}
	if err := reg.Register(newFake()); !errors.Is(err, remediate.ErrDuplicateAction) {
		t.Errorf("duplicate Register = %v, want ErrDuplicateAction", err)
	}
	if _, err := reg.Lookup("missing"); !errors.Is(err, remediate.ErrUnknownAction) {
		t.Errorf("Lookup(missing) = %v, want ErrUnknownAction", err)
	}
	var zero remediate.Registry
	if err := zero.Register(newFake()); err != nil {
		t.Errorf("zero Registry Register: %v", err)
	}
	for _, tt := range []struct {
		mutate func(*remediate.Spec)
		want   string
	}{
		{func(s *remediate.Spec) { s.Action = "" }, "Action is empty"},
		{func(s *remediate.Spec) { s.ResourceTypes = nil }, "ResourceTypes is empty"},
		{func(s *remediate.Spec) { s.IAMActions = nil }, "IAMActions is empty"},
	} {
		r := newFake()
		tt.mutate(&r.spec)
		if err := (&remediate.Registry{}).Register(r); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Register = %v, want error containing %q", err, tt.want)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		err       error
		permanent bool
	}{
		{&smithy.GenericAPIError{Code: "AccessDenied"}, true},
		{&smithy.GenericAPIError{Code: "MalformedPolicyDocument"}, true},
		{&smithy.GenericAPIError{Code: "PackedPolicyTooLarge"}, true},
		{&smithy.GenericAPIError{Code: "RegionDisabledException"}, true},
		{&smithy.GenericAPIError{Code: "InvalidPermission.NotFound"}, true},
		{fmt.Errorf("wrapped: %w", &smithy.GenericAPIError{Code: "NoSuchBucket"}), true},
		{&smithy.GenericAPIError{Code: "Throttling"}, false},
		{&smithy.GenericAPIError{Code: "ExpiredToken"}, false},
		{&smithy.GenericAPIError{Code: "InternalError"}, false},
		{errors.New("dial tcp: i/o timeout"), false},
		{context.DeadlineExceeded, false},
		{remediate.Permanentf("custom"), true},
	}
	for _, tt := range tests {
		got := remediate.ClassifyAWS(tt.err)
		if remediate.IsPermanent(got) != tt.permanent {
			t.Errorf("ClassifyAWS(%v) permanent = %v, want %v", tt.err, !tt.permanent, tt.permanent)
		}
		if !errors.Is(got, tt.err) {
			t.Errorf("ClassifyAWS(%v) lost the original error", tt.err)
		}
	}
	if remediate.IsTransient(nil) || remediate.Permanent(nil) != nil {
		t.Error("nil must be neither transient nor wrapped")
	}
}

func TestVerdictOrderAndZero(t *testing.T) {
	var d remediate.Decision
	if d.Remediates() {
		t.Fatal("the zero Decision remediates")
	}
	d = remediate.Decision{Verdict: remediate.VerdictRemediate, Action: "x"}
	if !d.Remediates() {
		t.Fatal("a clean remediate decision does not remediate")
	}
	d.Add("owner", remediate.VerdictReview, "no owner")
	d.Add("severity", remediate.VerdictSkip, "low")
	d.Add("environment", remediate.VerdictReview, "restricted")
	if d.Verdict != remediate.VerdictSkip || d.Remediates() {
		t.Errorf("verdict = %v, want skip (skip outranks review)", d.Verdict)
	}
	if len(d.Reasons) != 3 {
		t.Errorf("reasons = %d, want all 3 kept", len(d.Reasons))
	}
	var v remediate.Verdict
	if err := v.UnmarshalText([]byte("review")); err != nil || v != remediate.VerdictReview {
		t.Errorf("UnmarshalText(review) = %v, %v", v, err)
	}
	if err := v.UnmarshalText([]byte("unset")); err == nil {
		t.Error("UnmarshalText accepted \"unset\"")
	}
}

func TestParseSeverity(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want remediate.Severity
		ok   bool
	}{
		{"HIGH", remediate.SeverityHigh, true},
		{" high ", remediate.SeverityHigh, true},
		{"Critical", remediate.SeverityCritical, true},
		{"informational", remediate.SeverityInformational, true},
		{"hıgh", "", false}, // dotless i: a look-alike, not HIGH
		{"ＨＩＧＨ", "", false},
		{"SEVERE", "", false},
		{"", "", false},
	} {
		got, ok := remediate.ParseSeverity(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseSeverity(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
