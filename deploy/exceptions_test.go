package deploy

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/remedy-sec/remedy/adapters/dynamo"
	"github.com/remedy-sec/remedy/eligibility"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

func TestFromEnvExceptionTable(t *testing.T) {
	got, err := FromEnv(env(map[string]string{"REMEDY_EXCEPTION_TABLE": "remedy-exceptions"}))
	if err != nil {
		t.Fatal(err)
	}
	if got.ExceptionTable != "remedy-exceptions" {
		t.Errorf("ExceptionTable = %q, want remedy-exceptions", got.ExceptionTable)
	}
}

// TestBuildExceptionTable: the deployed engine reads REMEDY_EXCEPTION_TABLE.
// An exception stored there skips the finding it covers, with its id and
// owner in the reason; a table that cannot be read makes the finding a
// transient error (the queue retries it), never a decision to change.
func TestBuildExceptionTable(t *testing.T) {
	srv := mototest.Require(t, moto)
	ctx := mototest.Context(t)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	db := dynamodb.NewFromConfig(srv.Config("us-east-1"))
	const table = "deploy-exceptions"
	if err := dynamo.CreateExceptionTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	if _, err := dynamo.NewExceptions(db, table).Add(ctx, eligibility.Exception{
		ID: "EXC-STORE-1", Owner: "payments@example.com", Reason: "exports are public by contract",
		Resource: "arn:aws:s3:::payments-exports", Expires: time.Now().Add(24 * time.Hour),
	}); err != nil {
		t.Fatal(err)
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
	body, err := os.ReadFile("../examples/local/testdata/01-public-bucket-production.json")
	if err != nil {
		t.Fatal(err)
	}
	build := func(t *testing.T, exceptionTable string) *Deployment {
		t.Helper()
		cfg := Config{
			PolicyFile:     write("policy.yaml", string(policy)),
			AccountsFile:   write("accounts.yaml", "regions: [us-east-1]\naccounts:\n  - id: \"111111111111\"\n    external_id: ext-111\n"),
			Mode:           remediate.ModeDecideOnly,
			Remediators:    Builtins(Config{}),
			ExceptionTable: exceptionTable,
		}
		d, err := cfg.Build(context.Background(), io.Discard, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	t.Run("without the store", func(t *testing.T) {
		rec, err := build(t, "").Engine.Process(ctx, remediate.Message{ID: "m-0", Body: body, ReceivedAt: time.Now()})
		if err != nil || rec.Decision != "remediate" {
			t.Fatalf("Process = (%+v, %v), want a remediate decision: the sample is fixed when no exception covers it", rec, err)
		}
	})
	t.Run("excepted in the store", func(t *testing.T) {
		rec, err := build(t, table).Engine.Process(ctx, remediate.Message{ID: "m-1", Body: body, ReceivedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		var reason string
		for _, r := range rec.Reasons {
			if r.Check == "exception" {
				reason = r.Message
			}
		}
		if rec.Decision != "skip" || !strings.Contains(reason, `exception "EXC-STORE-1" approved for resource "arn:aws:s3:::payments-exports"`) || !strings.Contains(reason, "(owner payments@example.com)") {
			t.Errorf("decision %q, exception reason %q; want skip naming EXC-STORE-1 and its owner", rec.Decision, reason)
		}
	})
	t.Run("store down", func(t *testing.T) {
		rec, err := build(t, "no-such-table").Engine.Process(ctx, remediate.Message{ID: "m-2", Body: body, ReceivedAt: time.Now()})
		if err == nil || !remediate.IsTransient(err) {
			t.Errorf("Process = (%+v, %v), want a transient error: the finding waits for the store", rec, err)
		}
	})
}
