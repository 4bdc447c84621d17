package e2e

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/deploy/lambdatest"
)

// TestCLI runs cmd/remedy, the team's CLI (cli.Main plus s3versioning),
// on testdata/finding.json: decide approves the custom action with no
// warning, plan shows the change against moto without making it, and
// iam-policy grants the custom action's permissions.
func TestCLI(t *testing.T) {
	t.Parallel()
	bin := lambdatest.Build(t, "../cmd/remedy")
	w := newWorld(t, "cli")
	const bucket = "payments-exports" // testdata/finding.json's
	w.createBucket(bucket, false)
	findingFile, err := filepath.Abs("../testdata/finding.json")
	if err != nil {
		t.Fatal(err)
	}
	remedy := func(t *testing.T, args ...string) (stdout, stderr string) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), bin, args...)
		cmd.Env = minimalEnv("AWS_REGION="+region, "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing",
			"AWS_EC2_METADATA_DISABLED=true")
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		if err := cmd.Run(); err != nil {
			t.Fatalf("remedy %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, o.String(), e.String())
		}
		return o.String(), e.String()
	}

	t.Run("decide", func(t *testing.T) {
		out, errOut := remedy(t, "decide", "--policy", w.policyFile, "--accounts", w.accountsFile, findingFile)
		var got struct {
			FindingID string `json:"finding_id"`
			Decision  string `json:"decision"`
			Outcome   string `json:"outcome"`
			Action    string `json:"action"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("decide output %q: %v", out, err)
		}
		want := struct {
			FindingID string `json:"finding_id"`
			Decision  string `json:"decision"`
			Outcome   string `json:"outcome"`
			Action    string `json:"action"`
		}{"issue-payments-exports", "remediate", "planned", "s3-enable-versioning"}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("decide (-want +got):\n%s", d)
		}
		// A remedy without s3versioning warns that no remediator has the
		// policy's action, and sends the finding to review.
		if errOut != "" {
			t.Errorf("decide wrote to stderr:\n%s", errOut)
		}
	})

	t.Run("plan", func(t *testing.T) {
		args := []string{"plan", "--accounts", w.accountsFile, "--policy", w.policyFile, "--endpoint", w.srv.URL}
		out, _ := remedy(t, append(args, findingFile)...)
		for _, line := range []string{
			"policy    remediate (action s3-enable-versioning)",
			"plan      planned with s3-enable-versioning",
			`before    {"bucket":"payments-exports","status":""}`,
			"change    set versioning of bucket payments-exports from unversioned to Enabled",
		} {
			if !slices.Contains(strings.Split(out, "\n"), line) {
				t.Errorf("plan output lacks the line %q:\n%s", line, out)
			}
		}
		out, _ = remedy(t, append(args, "--json", findingFile)...)
		var rec audit.Record
		if err := json.Unmarshal([]byte(out), &rec); err != nil {
			t.Fatalf("plan --json output %q: %v", out, err)
		}
		if rec.Outcome != "planned" || !rec.DryRun || rec.Action != "s3-enable-versioning" {
			t.Errorf("plan --json: outcome %q, dry run %v, action %q; want planned, true, s3-enable-versioning", rec.Outcome, rec.DryRun, rec.Action)
		}
		if d := cmp.Diff([]string{"set versioning of bucket payments-exports from unversioned to Enabled"}, rec.Evidence.Changes); d != "" {
			t.Errorf("plan --json: changes (-want +got):\n%s", d)
		}
		// A plan reads and never writes.
		if got := w.versioning(bucket); got != "" {
			t.Errorf("bucket %s: versioning %q after plan, want it unchanged (unversioned)", bucket, got)
		}
	})

	t.Run("iam-policy", func(t *testing.T) {
		type statement struct {
			Effect   string
			Action   []string
			Resource []string
		}
		policyOf := func(out string) []statement {
			t.Helper()
			var doc struct{ Statement []statement }
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("iam-policy output %q: %v", out, err)
			}
			return doc.Statement
		}
		// Only the custom action: exactly what its Spec declares, on buckets,
		// beside the role's reads of its own policies (for remedy roles check).
		out, _ := remedy(t, "iam-policy", "--account", account, "--remediators", "s3-enable-versioning")
		want := []statement{
			{Effect: "Allow", Action: []string{"iam:GetPolicy", "iam:GetPolicyVersion"}, Resource: []string{"arn:aws:iam::" + account + ":policy/*"}},
			{Effect: "Allow", Action: []string{"iam:GetRolePolicy", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies"}, Resource: []string{"arn:aws:iam::" + account + ":role/RemedyRemediation"}},
			{Effect: "Allow", Action: []string{"s3:GetBucketVersioning", "s3:PutBucketVersioning"}, Resource: []string{"arn:aws:s3:::*"}},
		}
		if d := cmp.Diff(want, policyOf(out)); d != "" {
			t.Errorf("iam-policy --remediators s3-enable-versioning (-want +got):\n%s", d)
		}
		// Every remediator of this binary: the built-ins' and the custom one's.
		out, _ = remedy(t, "iam-policy", "--account", account)
		var actions []string
		for _, s := range policyOf(out) {
			actions = append(actions, s.Action...)
		}
		for _, a := range []string{"s3:PutBucketVersioning", "s3:GetBucketVersioning", "s3:PutBucketPublicAccessBlock"} {
			if !slices.Contains(actions, a) {
				t.Errorf("iam-policy lacks %s; it has %q", a, actions)
			}
		}
	})
}
