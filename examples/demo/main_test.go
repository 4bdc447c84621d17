package main

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

// TestDemo runs the demo as `make demo` does and checks what it shows:
// every finding decided, the allowed fixes made and nothing else changed.
func TestDemo(t *testing.T) {
	if _, err := exec.LookPath("moto_server"); err != nil {
		mototest.Require(t, nil) // skips, or fails under make check
	}
	ctx, cancel := context.WithTimeout(context.Background(), mototest.ContextTimeout)
	defer cancel()
	for _, k := range []string{"AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_MAX_ATTEMPTS", "AWS_EC2_METADATA_DISABLED"} {
		t.Setenv(k, os.Getenv(k)) // the demo sets them; restore them after
	}
	var out strings.Builder
	if err := run(ctx, &out, true); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	s := out.String()
	after := s[strings.LastIndex(s, "==> resources after"):]
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`wiz-public-payments\s+111111111111\s+remediate\s+applied`),
		regexp.MustCompile(`wiz-already-fixed\s+222222222222\s+remediate\s+compliant`),
		regexp.MustCompile(`wiz-open-ssh\s+222222222222\s+remediate\s+applied\s+sg-revoke-public-ingress`),
		regexp.MustCompile(`wiz-restricted-vault\s+333333333333\s+review\s+review`),
		regexp.MustCompile(`wiz-no-owner\s+111111111111\s+review\s+review`),
		regexp.MustCompile(`wiz-low-severity\s+111111111111\s+skip\s+skipped`),
		regexp.MustCompile(`wiz-stale-bucket\s+111111111111\s+remediate\s+failed`),
		regexp.MustCompile(`-\s+-\s+reject\s+rejected`),
		regexp.MustCompile(`review inbox: 4 notifications`), // two reviews, one failure, one rejection
		regexp.MustCompile(`Remedy rejected: 1 message, payload: `),
		regexp.MustCompile(`queue drained in`),
	} {
		if !want.MatchString(s) {
			t.Errorf("the demo's output does not match %s", want)
		}
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`bucket payments-exports\s+✓ public access blocked\s+fixed by Remedy`),
		regexp.MustCompile(`security group sg-\w+\s+✓ open to 0.0.0.0/0: \[443\]\s+fixed by Remedy`),
		regexp.MustCompile(`bucket card-vault-reports\s+✗ public access allowed\s+\(unchanged\)`),
		regexp.MustCompile(`bucket legacy-logs\s+✗ public access allowed\s+\(unchanged\)`),
	} {
		if !want.MatchString(after) {
			t.Errorf("the final state does not match %s:\n%s", want, after)
		}
	}
	if n := strings.Count(s, `{"schema":"remedy.audit/v1"`); n != 8 {
		t.Errorf("%d audit lines printed, want 8", n)
	}
	if t.Failed() {
		t.Log(s)
	}
}
