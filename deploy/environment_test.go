package deploy

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/remedy-sec/remedy/remediate"
)

// The account registry can state an environment, and the deployed engine
// weighs it: a finding tagged development in an account the registry
// says is restricted-production goes to review as restricted, not as an
// environment nobody could name (the policy's own entry for the account
// says staging, the tag development).
func TestBuildAccountEnvironment(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	dir := t.TempDir()
	policy, err := os.ReadFile("../examples/lambda/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, data string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := Config{
		PolicyFile: write("policy.yaml", string(policy)),
		AccountsFile: write("accounts.yaml", `regions: [us-east-1]
accounts:
  - id: "222222222222"
    external_id: ext-222
    environment: restricted-production
`),
		Mode:        remediate.ModeDecideOnly,
		Remediators: Builtins(Config{}),
	}
	d, err := cfg.Build(context.Background(), io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile("../examples/local/testdata/01-public-bucket-production.json")
	if err != nil {
		t.Fatal(err)
	}
	payload := strings.Replace(strings.Replace(string(body),
		`"111111111111"`, `"222222222222"`, 1),
		`"Environment": "production"`, `"Environment": "development"`, 1)
	rec, err := d.Engine.Process(context.Background(), remediate.Message{ID: "m-1", Body: []byte(payload), ReceivedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Decision != "review" || rec.Outcome != "review" || rec.Finding.Environment != "restricted-production" {
		t.Fatalf("decision %q, outcome %q, environment %q; want review in restricted-production (reasons %+v)",
			rec.Decision, rec.Outcome, rec.Finding.Environment, rec.Reasons)
	}
	var restricted bool
	for _, r := range rec.Reasons {
		if r.Check == "environment" && strings.Contains(r.Message, "restricted") && !strings.Contains(r.Message, "unknown") {
			restricted = true
		}
	}
	if !restricted {
		t.Errorf("no environment reason saying restricted: %+v", rec.Reasons)
	}
}
