package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	samplesDir    = "../examples/local/testdata"
	examplePolicy = "../eligibility/testdata/example-policy.yaml"
)

func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, Options{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb})
	return code, out.String(), errb.String()
}

func TestDecideSamples(t *testing.T) {
	code, out, errOut := runCLI(t, "", "decide", "--policy", examplePolicy, samplesDir)
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	want := map[string]string{
		"01-public-bucket-production":     "remediate",
		"02-already-compliant-staging":    "remediate",
		"03-stale-finding-bucket-deleted": "remediate",
		"04-sns-wrapped-tags-as-string":   "remediate",
		"05-restricted-production":        "review",
		"06-missing-owner":                "review",
		"07-low-severity":                 "skip",
		"08-approved-exception":           "skip",
		"09-resolved":                     "skip",
		"10-updated-trigger-loop-guard":   "skip",
		"11-unknown-control":              "review",
		"12-account-not-allowlisted":      "review",
		"13-duplicate-key-smuggling":      "reject",
		"14-bad-account-id":               "reject",
	}
	got := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var d decision
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("output line is not JSON: %v\n%s", err, sc.Text())
		}
		name := strings.TrimSuffix(filepath.Base(d.Input), ".json")
		got[name] = d.Decision
		if d.Decision == "remediate" && (d.Action != "s3-block-public-access" || len(d.Reasons) != 0) {
			t.Errorf("%s: remediate with action %q and reasons %v", name, d.Action, d.Reasons)
		}
		if d.Decision != "remediate" && len(d.Reasons) == 0 {
			t.Errorf("%s: decision %s without a reason", name, d.Decision)
		}
		for _, r := range d.Reasons {
			if r.Check == "" || r.Message == "" {
				t.Errorf("%s: reason without check name or sentence: %+v", name, r)
			}
		}
		if d.Decision != "reject" && d.FindingID == "" {
			t.Errorf("%s: no finding_id", name)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decisions (-want +got):\n%s", diff)
	}
}

func TestDecideStdinAndDefaultPolicy(t *testing.T) {
	body, err := os.ReadFile(filepath.Join(samplesDir, "01-public-bucket-production.json"))
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, string(body), "decide", "-")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var d decision
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	// The built-in default approves nothing: default deny.
	if d.Decision == "remediate" {
		t.Errorf("the default policy remediated: %+v", d)
	}
	if d.FindingID != "a1e0c7d2-0001-4c55-9b1e-000000000001" {
		t.Errorf("finding_id = %q", d.FindingID)
	}
}

func TestDecideSummary(t *testing.T) {
	code, out, errOut := runCLI(t, "", "decide", "--summary", "--policy", examplePolicy, samplesDir)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"14 inputs", "remediate       4", "review          4", "skip            4", "reject          2", "payload → reject"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

func TestDecideErrors(t *testing.T) {
	dir := t.TempDir()
	badPolicy := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badPolicy, []byte("name: x\naproved_resource_types: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no command", nil, exitUsage, "Usage:"},
		{"unknown command", []string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{"no input", []string{"decide"}, exitUsage, "no input"},
		{"missing file", []string{"decide", filepath.Join(dir, "nope.json")}, exitInput, "nope.json"},
		{"bad flag", []string{"decide", "--polcy", "x"}, exitUsage, "polcy"},
		{"bad policy names the line", []string{"decide", "--policy", badPolicy, samplesDir}, exitUsage, "bad.yaml:2"},
		{"empty directory", []string{"decide", t.TempDir()}, exitInput, "holds no files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, "", tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit = %d, want %d (stderr %q)", code, tt.wantCode, errOut)
			}
			if !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("stderr %q does not contain %q", errOut, tt.wantErr)
			}
		})
	}
}
