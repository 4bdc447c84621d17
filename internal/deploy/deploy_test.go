package deploy

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/crossaccount"
	"github.com/remedy-sec/remedy/remediate"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFromEnvDefaults(t *testing.T) {
	got, err := FromEnv(env(map[string]string{"LAMBDA_TASK_ROOT": "/var/task"}))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		PolicyFile: "/var/task/policy.yaml", AccountsFile: "/var/task/accounts.yaml",
		Mode: remediate.DryRun, SessionMode: crossaccount.Shared, Concurrency: 8, RetryBase: 10 * time.Second,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("defaults (-want +got):\n%s", d)
	}
}

func TestFromEnvAll(t *testing.T) {
	got, err := FromEnv(env(map[string]string{
		"REMEDY_POLICY_FILE": "p.yaml", "REMEDY_ACCOUNTS_FILE": "a.yaml", "REMEDY_MODE": "apply",
		"REMEDY_REVIEW_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:review", "REMEDY_AUDIT_TABLE": "audit",
		"REMEDY_IDEMPOTENCY_TABLE": "idem", "REMEDY_MAX_RECEIVE_COUNT": "5", "REMEDY_SESSION_MODE": "strict",
		"REMEDY_STS_REGION": "eu-west-1", "REMEDY_S3_PATH_STYLE": "true", "REMEDY_CONCURRENCY": "16",
		"REMEDY_QUEUE_URL": "https://sqs/q", "REMEDY_RETRY_BASE": "2s", "REMEDY_LOG_LEVEL": "warn",
		"REMEDY_SNS_TOPIC_ARNS": "arn:aws:sns:eu-west-1:111122223333:findings, arn:aws:sns:us-east-1:111122223333:more",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		PolicyFile: "p.yaml", AccountsFile: "a.yaml", Mode: remediate.Apply,
		ReviewTopicARN: "arn:aws:sns:us-east-1:123456789012:review", AuditTable: "audit", IdempotencyTable: "idem",
		MaxReceiveCount: 5, SessionMode: crossaccount.Strict, STSRegion: "eu-west-1", PathStyleS3: true,
		Concurrency: 16, QueueURL: "https://sqs/q", RetryBase: 2 * time.Second, LogLevel: slog.LevelWarn,
		SNSTopicARNs: []string{"arn:aws:sns:eu-west-1:111122223333:findings", "arn:aws:sns:us-east-1:111122223333:more"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("config (-want +got):\n%s", d)
	}
}

// TestFromEnvErrors: every bad variable is named in one error, and a
// bad mode never falls back to apply.
func TestFromEnvErrors(t *testing.T) {
	bad := map[string]string{
		"REMEDY_MODE": "yes", "REMEDY_SESSION_MODE": "loose", "REMEDY_MAX_RECEIVE_COUNT": "-1",
		"REMEDY_CONCURRENCY": "0", "REMEDY_S3_PATH_STYLE": "maybe", "REMEDY_RETRY_BASE": "soon", "REMEDY_LOG_LEVEL": "loud",
		"REMEDY_SNS_TOPIC_ARNS": "remedy-findings",
	}
	got, err := FromEnv(env(bad))
	if err == nil {
		t.Fatal("no error")
	}
	for k, v := range bad {
		if !strings.Contains(err.Error(), k+`="`+v+`"`) {
			t.Errorf("error does not name %s=%q:\n%v", k, v, err)
		}
	}
	if got.Mode != remediate.DryRun {
		t.Errorf("mode %v after an error", got.Mode)
	}
}

func TestRegistryHasEveryBuiltIn(t *testing.T) {
	reg, err := Registry(true)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ebs-snapshot-private", "kms-enable-rotation", "s3-block-public-access", "s3-default-encryption", "sg-revoke-public-ingress"}
	if d := cmp.Diff(want, reg.Actions()); d != "" {
		t.Errorf("actions (-want +got):\n%s", d)
	}
}
