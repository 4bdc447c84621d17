package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/crossaccount"
	"github.com/remedy-sec/remedy/deploy"
	"github.com/remedy-sec/remedy/eligibility"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/wizpayload"
)

// payloadDirs are the repository's directories of message bodies.
var payloadDirs = []string{
	"../testdata",
	"../examples/local/testdata",
	"../wizpayload/testdata",
	"../internal/strictjson/testdata",
}

// corpusBody returns the input of a Go fuzz corpus file, or ok false
// when data is not one.
func corpusBody(data []byte) (body []byte, ok bool) {
	rest, found := bytes.CutPrefix(data, []byte("go test fuzz v1\n"))
	if !found {
		return nil, false
	}
	lit := strings.TrimSpace(string(rest))
	for _, wrap := range []string{"[]byte(", "string("} {
		if inner, found := strings.CutPrefix(lit, wrap); found {
			s, err := strconv.Unquote(strings.TrimSuffix(inner, ")"))
			return []byte(s), err == nil
		}
	}
	return nil, false
}

// repoPayloads returns every message body in the repository's testdata,
// fuzz corpora decoded, plus bodies made to reach the engine's own checks
// and the parser's edges; keyed by a file name unique to each.
func repoPayloads(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, dir := range payloadDirs {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if body, ok := corpusBody(data); ok {
				data = body
			}
			rel, _ := filepath.Rel("..", p)
			out[strings.ReplaceAll(rel, string(filepath.Separator), "__")] = data
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(out) < 40 {
		t.Fatalf("found %d payloads in %v; the test data moved?", len(out), payloadDirs)
	}
	sample := string(out["examples__local__testdata__01-public-bucket-production.json"])
	edit := func(s, old, new string) string {
		t.Helper()
		if strings.Count(s, old) != 1 {
			t.Fatalf("%q is not in the sample once", old)
		}
		return strings.Replace(s, old, new, 1)
	}
	sg := edit(edit(edit(edit(sample,
		`"arn:aws:s3:::payments-exports"`, `"arn:aws:ec2:us-east-1:111111111111:security-group/sg-0abc1234def567890"`),
		`"type": "bucket"`, `"type": "securityGroup"`),
		`"id": "wc-id-1234"`, `"id": "wc-id-sg"`),
		`"sourceCloudConfigurationRuleId": "S3-019"`, `"sourceCloudConfigurationRuleId": "EC2-022"`)
	for name, body := range map[string]string{
		"made__security-group.json":        sg,
		"made__bucket-as-security-group":   edit(sample, `"type": "bucket"`, `"type": "securityGroup"`),
		"made__no-break-space-before.json": "\u00a0" + sample,
		"made__trailing-newlines.json":     sample + "\n\n",
		"made__owner-tag-null.json":        edit(sample, `"Owner": "payments-team@example.com"`, `"Owner": null`),
		"made__long-description.json":      edit(sample, `"Public access is not blocked."`, strconv.Quote(strings.Repeat("Public access is not blocked. ", 4000))),
		"made__long-control-name.json":     edit(sample, `"name": "S3 Bucket allows public access"`, `"name": `+strconv.Quote(strings.Repeat("S3 Bucket allows public access ", 3000))),
	} {
		out[name] = []byte(body)
	}
	return out
}

// engineDecisions runs each body through an engine built as the
// deployment builds one (the built-in registry, the policy as enricher
// and policy, wizpayload's default parser), in decide-only mode.
func engineDecisions(t *testing.T, policy *eligibility.Policy, bodies map[string][]byte, dir string) map[string]decision {
	t.Helper()
	reg, err := remediate.NewRegistry(deploy.Builtins(deploy.Config{})...)
	if err != nil {
		t.Fatal(err)
	}
	// NewEngine refuses a policy approving an action for a type its
	// remediator does not fix; past that check (as decide goes, with a
	// warning) the engine's own check sends such findings to review.
	var decider remediate.Policy = policy
	if len(remediate.MismatchedResourceTypes(policy, reg)) > 0 {
		decider = remediate.PolicyFunc(policy.Decide)
	}
	out := map[string]decision{}
	for name, body := range bodies {
		var rec *audit.Record
		eng, err := remediate.NewEngine(remediate.Options{
			Parser: wizpayload.New(), Enricher: policy, Policy: decider, Registry: reg, Mode: remediate.ModeDecideOnly,
			Audit: audit.SinkFunc(func(_ context.Context, r *audit.Record) error { rec = r; return nil }),
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := eng.Process(context.Background(), remediate.Message{ID: name, Body: body, ReceiveCount: 1}); err != nil {
			t.Fatalf("%s: engine: %v", name, err)
		}
		input := filepath.Join(dir, name)
		d := decision{Input: input, FindingID: rec.Finding.ID, Decision: rec.Decision, Outcome: rec.Outcome, Action: rec.Action, Reasons: rec.Reasons}
		if d.Reasons == nil {
			d.Reasons = []audit.Reason{}
		}
		out[input] = d
	}
	return out
}

// cliDecisions runs remedy decide over dir and returns its lines by input.
func cliDecisions(t *testing.T, args ...string) map[string]decision {
	t.Helper()
	code, out, errOut := runCLI(t, "", append([]string{"decide"}, args...)...)
	if code != exitOK {
		t.Fatalf("remedy decide exit %d:\n%s", code, errOut)
	}
	got := map[string]decision{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var d decision
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("output line is not JSON: %v\n%s", err, sc.Text())
		}
		got[d.Input] = d
	}
	return got
}

// TestDecideMatchesEngine: remedy decide decides every payload in the
// repository as the deployed engine does, with the same policy, account
// registry and built-in remediators — including the engine's own checks
// after the policy (the resource type a remediator fixes) and the exact
// bytes of each body.
func TestDecideMatchesEngine(t *testing.T) {
	dir := t.TempDir()
	bodies := repoPayloads(t)
	for name, body := range bodies {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	policies := t.TempDir()
	mismatch := filepath.Join(policies, "mismatch.yaml")
	local, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	// A policy that approves the bucket fix for security groups: the
	// deployed engine refuses it at start; decide warns, and the engine's
	// check overrules it, since that remediator fixes buckets only.
	mis := strings.Replace(string(local), "  securityGroup:\n    - sg-revoke-public-ingress\n", "  securityGroup:\n    - sg-revoke-public-ingress\n    - s3-block-public-access\n", 1)
	mis = strings.Replace(mis, "  EC2-022: sg-revoke-public-ingress ", "  wc-id-sg: s3-block-public-access\n  EC2-022: sg-revoke-public-ingress ", 1)
	if mis == string(local) {
		t.Fatal("could not derive the mismatch policy from the example policy")
	}
	if err := os.WriteFile(mismatch, []byte(mis), 0o600); err != nil {
		t.Fatal(err)
	}
	accountsFile := filepath.Join(policies, "accounts.yaml")
	if err := os.WriteFile(accountsFile, []byte(`regions: ["*"]
accounts:
  - id: "111111111111"
    external_id_from: ssm:/remedy/external-id/111111111111
    environment: restricted-production
`), 0o600); err != nil {
		t.Fatal(err)
	}
	accounts, err := crossaccount.ReadAccounts(context.Background(), strings.NewReader(string(mustRead(t, accountsFile))), func(o *crossaccount.LoadOptions) {
		o.Resolvers = map[string]crossaccount.Resolver{"ssm": crossaccount.ResolverFunc(func(context.Context, string) (string, error) { return "ext", nil })}
	})
	if err != nil {
		t.Fatal(err)
	}

	load := func(path string, optFns ...func(*eligibility.Options)) *eligibility.Policy {
		t.Helper()
		p, err := eligibility.Load(path, optFns...)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name   string
		args   []string
		policy *eligibility.Policy
		// what some inputs must be, so that the paths cannot agree by
		// both being wrong: input → decision/outcome
		want map[string]string
	}{
		{"default policy", nil, eligibility.Default(), map[string]string{
			"examples__local__testdata__01-public-bucket-production.json": "review/review",
			"made__no-break-space-before.json":                            "reject/rejected",
		}},
		{"example policy", []string{"--policy", examplePolicy}, load(examplePolicy), map[string]string{
			"examples__local__testdata__01-public-bucket-production.json": "remediate/planned",
			"made__trailing-newlines.json":                                "remediate/planned",
			"made__no-break-space-before.json":                            "reject/rejected",
			"made__owner-tag-null.json":                                   "review/review",
			"made__long-description.json":                                 "remediate/planned",
			"made__long-control-name.json":                                "remediate/planned",
			"examples__local__testdata__05-restricted-production.json":    "review/review",
			"examples__local__testdata__13-duplicate-key-smuggling.json":  "reject/rejected",
		}},
		{"lambda policy", []string{"--policy", "../examples/lambda/policy.yaml"}, load("../examples/lambda/policy.yaml"), map[string]string{
			"examples__local__testdata__01-public-bucket-production.json": "remediate/planned",
		}},
		{"resource type the remediator does not fix", []string{"--policy", mismatch}, load(mismatch), map[string]string{
			"made__security-group.json":                                   "review/review",
			"examples__local__testdata__01-public-bucket-production.json": "remediate/planned",
		}},
		{"account registry environment", []string{"--policy", examplePolicy, "--accounts", accountsFile},
			load(examplePolicy, func(o *eligibility.Options) { o.AccountEnvironments = accounts }), map[string]string{
				"examples__local__testdata__01-public-bucket-production.json": "review/review",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cliDecisions(t, append(tt.args, dir)...)
			want := engineDecisions(t, tt.policy, bodies, dir)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("remedy decide differs from the engine (-engine +decide):\n%s", diff)
			}
			for name, w := range tt.want {
				d := got[filepath.Join(dir, name)]
				if g := d.Decision + "/" + d.Outcome; g != w {
					t.Errorf("%s: %s, want %s (reasons %+v)", name, g, w, d.Reasons)
				}
			}
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A policy that names an action no remediator registers is a warning in
// decide (the engine refuses it), and its findings go to review.
func TestDecideWarnsUnregisteredAction(t *testing.T) {
	dir := t.TempDir()
	local := string(mustRead(t, examplePolicy))
	typo := strings.ReplaceAll(local, "s3-block-public-access", "s3-block-public-acess")
	policy := filepath.Join(dir, "typo.yaml")
	if err := os.WriteFile(policy, []byte(typo), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "", "decide", "--policy", policy, filepath.Join(samplesDir, "01-public-bucket-production.json"))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, `warning: the policy names "s3-block-public-acess", which no built-in remediator has`) {
		t.Errorf("stderr lacks the warning:\n%s", errOut)
	}
	var d decision
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	want := decision{
		Input: filepath.Join(samplesDir, "01-public-bucket-production.json"), FindingID: "a1e0c7d2-0001-4c55-9b1e-000000000001",
		Decision: "review", Outcome: "review", Action: "s3-block-public-acess",
		Reasons: []audit.Reason{{Check: remediate.CheckRegistry, LeadsTo: "review", Message: `no remediator is registered for action "s3-block-public-acess"; register one or change the playbook`}},
	}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("decision (-want +got):\n%s", diff)
	}
}

// A policy that approves an action for a resource type its remediator
// does not fix is a warning in decide (the engine refuses it), and its
// findings of that type go to review.
func TestDecideWarnsMismatchedResourceType(t *testing.T) {
	dir := t.TempDir()
	local := string(mustRead(t, examplePolicy))
	wrong := strings.Replace(local, "  securityGroup:\n    - sg-revoke-public-ingress\n",
		"  securityGroup:\n    - sg-revoke-public-ingress\n    - s3-block-public-access\n", 1)
	if wrong == local {
		t.Fatal("the example policy no longer approves sg-revoke-public-ingress for securityGroup as this test expects")
	}
	policy := filepath.Join(dir, "wrong-type.yaml")
	if err := os.WriteFile(policy, []byte(wrong), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "", "decide", "--policy", policy, filepath.Join(samplesDir, "01-public-bucket-production.json"))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, `warning: the policy approves "s3-block-public-access" for "securityGroup", which its built-in remediator does not fix`) {
		t.Errorf("stderr lacks the warning:\n%s", errOut)
	}
	var d decision
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	if d.Outcome != "planned" {
		t.Errorf("the bucket finding, of a type the remediator fixes: outcome %q, want planned", d.Outcome)
	}
}

// A directory input is every file below it, whatever its name; what
// cannot be read as a file is named on stderr.
func TestDecideReadsEveryFile(t *testing.T) {
	dir := t.TempDir()
	sample := mustRead(t, filepath.Join(samplesDir, "01-public-bucket-production.json"))
	for name, body := range map[string][]byte{
		"a.json":       sample,
		"b.txt":        sample,
		".hidden":      sample,
		"sub/notes.md": []byte("not a message body"),
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(dir, "sub"), filepath.Join(dir, "link-to-dir")); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	if err := os.Symlink(filepath.Join(dir, "gone"), filepath.Join(dir, "dangling")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "a.json"), filepath.Join(dir, "link-to-file")); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "", "decide", "--policy", examplePolicy, dir)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var d decision
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, d.Input)
		got[filepath.ToSlash(rel)] = d.Decision
	}
	want := map[string]string{".hidden": "remediate", "a.json": "remediate", "b.txt": "remediate", "link-to-file": "remediate", "sub/notes.md": "reject"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("inputs decided (-want +got):\n%s", diff)
	}
	for _, skipped := range []string{"skipped " + filepath.Join(dir, "dangling"), "skipped " + filepath.Join(dir, "link-to-dir") + ": not a regular file"} {
		if !strings.Contains(errOut, skipped) {
			t.Errorf("stderr does not say %q:\n%s", skipped, errOut)
		}
	}
}

// decide reads a body byte for byte, as the engine receives it: what the
// engine rejects, decide rejects.
func TestDecideExactBytes(t *testing.T) {
	sample := string(mustRead(t, filepath.Join(samplesDir, "01-public-bucket-production.json")))
	tests := []struct {
		name, body, want string
	}{
		{"as exported", sample, "remediate"},
		{"no-break space before", "\u00a0" + sample, "reject"},
		{"next line after", sample + "\u0085", "reject"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tt.body, "decide", "--policy", examplePolicy, "-")
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var d decision
			if err := json.Unmarshal([]byte(out), &d); err != nil {
				t.Fatal(err)
			}
			if d.Decision != tt.want {
				t.Errorf("decision %s, want %s: %+v", d.Decision, tt.want, d.Reasons)
			}
		})
	}
}

// A tag whose value is null is a missing tag: the owner is unknown, so
// the finding goes to review rather than being rejected.
func TestDecideNullTag(t *testing.T) {
	sample := string(mustRead(t, filepath.Join(samplesDir, "01-public-bucket-production.json")))
	body := strings.Replace(sample, `"Owner": "payments-team@example.com"`, `"Owner": null`, 1)
	code, out, errOut := runCLI(t, body, "decide", "--policy", examplePolicy, "-")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var d decision
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	want := []audit.Reason{{Check: eligibility.CheckOwner, LeadsTo: "review", Message: "owner is unknown: no configured source (tag:Owner, tag:owner) named one"}}
	if diff := cmp.Diff(want, d.Reasons); diff != "" || d.Decision != "review" {
		t.Errorf("decision %s, reasons (-want +got):\n%s", d.Decision, diff)
	}
}
