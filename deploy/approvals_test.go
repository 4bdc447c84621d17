package deploy

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/remedy-sec/remedy/adapters/dynamo"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

func TestFromEnvApprovals(t *testing.T) {
	got, err := FromEnv(env(map[string]string{
		"REMEDY_APPROVAL_TABLE": "remedy-approvals", "REMEDY_APPROVAL_KEY_PARAM": "/remedy/approval-key", "REMEDY_APPROVAL_TTL": "2h",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got.ApprovalTable != "remedy-approvals" || got.ApprovalKeyParam != "/remedy/approval-key" || got.ApprovalTTL != 2*time.Hour {
		t.Errorf("approval config = %q %q %v", got.ApprovalTable, got.ApprovalKeyParam, got.ApprovalTTL)
	}
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"REMEDY_APPROVAL_TABLE": "t"}, `REMEDY_APPROVAL_KEY_PARAM="": required with REMEDY_APPROVAL_TABLE`},
		{map[string]string{"REMEDY_APPROVAL_KEY_PARAM": "/k"}, `REMEDY_APPROVAL_TABLE="": required with REMEDY_APPROVAL_KEY_PARAM`},
		{map[string]string{"REMEDY_APPROVAL_TTL": "soon"}, `REMEDY_APPROVAL_TTL="soon": want a duration`},
		{map[string]string{"REMEDY_APPROVAL_TTL": "720h"}, `REMEDY_APPROVAL_TTL="720h": want a duration from 1m to 168h`},
	} {
		if _, err := FromEnv(env(tt.env)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("FromEnv(%v) = %v, want an error containing %q", tt.env, err, tt.want)
		}
	}
}

// TestBuildApprovals: with REMEDY_APPROVAL_TABLE and
// REMEDY_APPROVAL_KEY_PARAM the deployed engine verifies approval
// messages with the key in SSM and looks their request up in the table;
// a key that is missing, not a SecureString or too short fails the start.
func TestBuildApprovals(t *testing.T) {
	srv := mototest.Require(t, moto)
	ctx := mototest.Context(t)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	cfg := srv.Config("us-east-1")
	const table = "deploy-approvals"
	if err := dynamo.CreateApprovalTable(ctx, dynamodb.NewFromConfig(cfg), table); err != nil {
		t.Fatal(err)
	}
	key := "k3y-" + strings.Repeat("x", 44)
	params := ssm.NewFromConfig(cfg)
	for name, p := range map[string]struct {
		value string
		typ   ssmtypes.ParameterType
	}{
		"/deploy-test/approval-key": {key, ssmtypes.ParameterTypeSecureString},
		"/deploy-test/plain-key":    {key, ssmtypes.ParameterTypeString},
		"/deploy-test/short-key":    {"short", ssmtypes.ParameterTypeSecureString},
	} {
		if _, err := params.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(p.value), Type: p.typ, Overwrite: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
	}
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
	build := func(param string) (*Deployment, error) {
		c := Config{
			PolicyFile:    write("policy.yaml", string(policy)),
			AccountsFile:  write("accounts.yaml", "regions: [us-east-1]\naccounts:\n  - id: \"111111111111\"\n    external_id: ext-111\n"),
			Mode:          remediate.ModeApply,
			Remediators:   Builtins(Config{}),
			ApprovalTable: table, ApprovalKeyParam: param,
		}
		return c.Build(context.Background(), io.Discard, io.Discard)
	}
	for param, want := range map[string]string{
		"/deploy-test/missing":   "read the approval key from SSM parameter /deploy-test/missing",
		"/deploy-test/plain-key": "is a String, not a SecureString",
		"/deploy-test/short-key": "is 5 bytes, fewer than 32",
	} {
		if _, err := build(param); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Build with %s: %v, want an error containing %q", param, err, want)
		}
	}
	d, err := build("/deploy-test/approval-key")
	if err != nil {
		t.Fatal(err)
	}
	approval := func(signKey string) []byte {
		a := remediate.Approval{RequestID: "apr-none", Approver: "alice", PlanHash: "sha256:00", Expires: time.Now().Add(time.Hour)}.Sign([]byte(signKey))
		b, err := remediate.ApprovalMessage(a)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for i, tt := range []struct{ key, status string }{
		{strings.Repeat("f", 48), remediate.ApprovalForged},
		{key, remediate.ApprovalUnknownRequest}, // verified with the SSM key, looked up in the table
	} {
		rec, err := d.Engine.Process(ctx, remediate.Message{ID: "apr-msg-" + string(rune('0'+i)), Body: approval(tt.key)})
		if err != nil {
			t.Fatal(err)
		}
		if rec.Approval == nil || rec.Approval.Status != tt.status || rec.Outcome != "rejected" {
			t.Errorf("approval signed with key %d: outcome %q approval %+v, want rejected, %s", i, rec.Outcome, rec.Approval, tt.status)
		}
	}
}
