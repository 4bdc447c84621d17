package deploy

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/remedy-sec/remedy/adapters/dynamo"
	"github.com/remedy-sec/remedy/adapters/snsverify/snsverifytest"
	"github.com/remedy-sec/remedy/crossaccount"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

var moto *mototest.Server

func TestMain(m *testing.M) { os.Exit(mototest.Main(m, &moto)) }

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// ignoreRemediators leaves Config.Remediators to checkBuiltins.
var ignoreRemediators = cmpopts.IgnoreFields(Config{}, "Remediators")

// checkBuiltins: FromEnv registers every built-in remediator.
func checkBuiltins(t *testing.T, rems []remediate.Remediator) {
	t.Helper()
	var got []string
	for _, r := range rems {
		got = append(got, r.Spec().Action)
	}
	want := []string{"s3-block-public-access", "s3-default-encryption", "sg-revoke-public-ingress", "kms-enable-rotation", "ebs-snapshot-private", "iam-deactivate-access-key", "rds-disable-public-access"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Config.Remediators actions (-want +got):\n%s", d)
	}
}

func TestFromEnvDefaults(t *testing.T) {
	got, err := FromEnv(env(map[string]string{"LAMBDA_TASK_ROOT": "/var/task"}))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		PolicyFile: "/var/task/policy.yaml", AccountsFile: "/var/task/accounts.yaml",
		Mode: remediate.ModeDryRun, SessionMode: crossaccount.Shared, Concurrency: 8, RetryBase: 10 * time.Second,
		SNSMaxAge: time.Hour, IdempotencyTTL: 14 * 24 * time.Hour,
	}
	if d := cmp.Diff(want, got, ignoreRemediators); d != "" {
		t.Errorf("defaults (-want +got):\n%s", d)
	}
	checkBuiltins(t, got.Remediators)
}

func TestFromEnvAll(t *testing.T) {
	got, err := FromEnv(env(map[string]string{
		"REMEDY_POLICY_FILE": "p.yaml", "REMEDY_ACCOUNTS_FILE": "a.yaml", "REMEDY_MODE": "apply",
		"REMEDY_REVIEW_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:review", "REMEDY_AUDIT_TABLE": "audit",
		"REMEDY_IDEMPOTENCY_TABLE": "idem", "REMEDY_MAX_RECEIVE_COUNT": "5", "REMEDY_SESSION_MODE": "strict",
		"REMEDY_STS_REGION": "eu-west-1", "REMEDY_S3_PATH_STYLE": "true", "REMEDY_CONCURRENCY": "16",
		"REMEDY_QUEUE_URL": "https://sqs/q", "REMEDY_RETRY_BASE": "2s", "REMEDY_LOG_LEVEL": "warn",
		"REMEDY_SNS_TOPIC_ARNS": "arn:aws:sns:eu-west-1:111122223333:findings, arn:aws:sns:us-east-1:111122223333:more",
		"REMEDY_SNS_MAX_AGE":    "6h", "REMEDY_SNS_ALLOW_SIGNATURE_V1": "true", "REMEDY_IDEMPOTENCY_TTL": "720h",
		"REMEDY_CLAIM_TTL": "20s", "REMEDY_VISIBILITY_TIMEOUT": "30s", "REMEDY_EXIT_WHEN_IDLE": "true",
		"REMEDY_THROTTLE_MIN_RATE": "2.5", "REMEDY_MAX_REQUEUES": "0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		PolicyFile: "p.yaml", AccountsFile: "a.yaml", Mode: remediate.ModeApply,
		ReviewTopicARN: "arn:aws:sns:us-east-1:123456789012:review", AuditTable: "audit", IdempotencyTable: "idem",
		MaxReceiveCount: 5, SessionMode: crossaccount.Strict, STSRegion: "eu-west-1", PathStyleS3: true,
		Concurrency: 16, QueueURL: "https://sqs/q", RetryBase: 2 * time.Second, LogLevel: slog.LevelWarn,
		SNSTopicARNs: []string{"arn:aws:sns:eu-west-1:111122223333:findings", "arn:aws:sns:us-east-1:111122223333:more"},
		SNSMaxAge:    6 * time.Hour, SNSAllowSignatureV1: true, IdempotencyTTL: 720 * time.Hour,
		ClaimTTL: 20 * time.Second, VisibilityTimeout: 30 * time.Second, ExitWhenIdle: true,
		ThrottleMinRate: 2.5, MaxRequeues: -1,
	}
	if d := cmp.Diff(want, got, ignoreRemediators); d != "" {
		t.Errorf("config (-want +got):\n%s", d)
	}
	checkBuiltins(t, got.Remediators)
}

// TestFromEnvErrors: every bad variable is named in one error, and a
// bad mode never falls back to apply.
func TestFromEnvErrors(t *testing.T) {
	bad := map[string]string{
		"REMEDY_MODE": "yes", "REMEDY_SESSION_MODE": "loose", "REMEDY_MAX_RECEIVE_COUNT": "-1",
		"REMEDY_CONCURRENCY": "0", "REMEDY_S3_PATH_STYLE": "maybe", "REMEDY_RETRY_BASE": "soon", "REMEDY_LOG_LEVEL": "loud",
		"REMEDY_SNS_TOPIC_ARNS": "remedy-findings", "REMEDY_SNS_MAX_AGE": "an hour", "REMEDY_SNS_ALLOW_SIGNATURE_V1": "sha1",
		"REMEDY_IDEMPOTENCY_TTL": "24h", "REMEDY_CLAIM_TTL": "10ms", "REMEDY_VISIBILITY_TIMEOUT": "13h",
		"REMEDY_THROTTLE_MIN_RATE": "0", "REMEDY_MAX_REQUEUES": "-3",
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
	if got.Mode != remediate.ModeDryRun {
		t.Errorf("mode %v after an error", got.Mode)
	}
}

func TestBuiltinsHaveEveryAction(t *testing.T) {
	reg, err := remediate.NewRegistry(Builtins(Config{PathStyleS3: true})...)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ebs-snapshot-private", "iam-deactivate-access-key", "kms-enable-rotation", "rds-disable-public-access", "s3-block-public-access", "s3-default-encryption", "sg-revoke-public-ingress"}
	if d := cmp.Diff(want, reg.Actions()); d != "" {
		t.Errorf("actions (-want +got):\n%s", d)
	}
}

// TestFromEnvWindowWithinMemory: a replay window longer than the
// idempotency memory, or memory shorter than SQS's longest retention, is
// a configuration error naming the variable.
func TestFromEnvWindowWithinMemory(t *testing.T) {
	tests := []struct {
		env     map[string]string
		wantVar string // "" accepts
	}{
		{map[string]string{"REMEDY_SNS_MAX_AGE": "336h"}, ""},
		{map[string]string{"REMEDY_SNS_MAX_AGE": "0"}, ""},
		{map[string]string{"REMEDY_SNS_MAX_AGE": "337h"}, "REMEDY_SNS_MAX_AGE"},
		{map[string]string{"REMEDY_SNS_MAX_AGE": "500h", "REMEDY_IDEMPOTENCY_TTL": "720h"}, ""},
		{map[string]string{"REMEDY_SNS_MAX_AGE": "-1h"}, "REMEDY_SNS_MAX_AGE"},
		{map[string]string{"REMEDY_IDEMPOTENCY_TTL": "335h59m"}, "REMEDY_IDEMPOTENCY_TTL"},
		{map[string]string{"REMEDY_IDEMPOTENCY_TTL": "0"}, "REMEDY_IDEMPOTENCY_TTL"},
	}
	for _, tt := range tests {
		_, err := FromEnv(env(tt.env))
		switch {
		case tt.wantVar == "" && err != nil:
			t.Errorf("%v: %v, want accepted", tt.env, err)
		case tt.wantVar != "" && (err == nil || !strings.Contains(err.Error(), tt.wantVar+"=")):
			t.Errorf("%v: %v, want an error naming %s", tt.env, err, tt.wantVar)
		}
	}
}

// TestSNSVerification: the verifier the deployment builds requires
// signature version 2 and rejects notifications older than its replay
// window, unless the environment says otherwise.
func TestSNSVerification(t *testing.T) {
	const topic = "arn:aws:sns:eu-west-1:111122223333:remedy-findings"
	s := snsverifytest.New(t, time.Now().Add(24*time.Hour))
	note := func(version string, age time.Duration) []byte {
		n := s.Notification(topic, `{"issue":{"id":"i-1"}}`)
		n["SignatureVersion"] = version
		n["Timestamp"] = time.Now().Add(-age).UTC().Format("2006-01-02T15:04:05.000Z")
		s.Sign(n)
		return n.JSON(t)
	}
	tests := []struct {
		name      string
		env       map[string]string
		body      []byte
		wantField string // "" accepts
	}{
		{"version 2, fresh", nil, note("2", time.Minute), ""},
		{"version 1 by default", nil, note("1", time.Minute), "SignatureVersion"},
		{"version 1 allowed", map[string]string{"REMEDY_SNS_ALLOW_SIGNATURE_V1": "true"}, note("1", time.Minute), ""},
		{"older than the default hour", nil, note("2", 61*time.Minute), "Timestamp"},
		{"within a longer window", map[string]string{"REMEDY_SNS_MAX_AGE": "3h"}, note("2", 2*time.Hour), ""},
		{"no window", map[string]string{"REMEDY_SNS_MAX_AGE": "0"}, note("2", 48*time.Hour), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := map[string]string{"REMEDY_SNS_TOPIC_ARNS": topic}
			maps.Copy(e, tt.env)
			c, err := FromEnv(env(e))
			if err != nil {
				t.Fatal(err)
			}
			// The signer's certificate server stands in for Amazon SNS's.
			err = s.Verifier(t, topic, c.snsOptions).Authenticate(context.Background(), tt.body)
			var rej *remediate.RejectError
			switch {
			case tt.wantField == "" && err != nil:
				t.Errorf("Authenticate = %v, want accepted", err)
			case tt.wantField != "" && (!errors.As(err, &rej) || rej.Field != tt.wantField):
				t.Errorf("Authenticate = %v, want rejected on %s", err, tt.wantField)
			}
		})
	}
}

// TestIdempotencyOutlastsTheQueue: the store the deployment builds, in
// memory and in DynamoDB, still knows a completed finding just before
// SQS's longest retention has passed, so a message redelivered that late
// does not change its resource again.
func TestIdempotencyOutlastsTheQueue(t *testing.T) {
	ctx := context.Background()
	srv := mototest.Require(t, moto)
	db := dynamodb.NewFromConfig(srv.Config("us-east-1"))
	table := "idempotency-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if err := dynamo.CreateIdempotencyTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	c, err := FromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"memory", "dynamodb"} {
		t.Run(name, func(t *testing.T) {
			if name == "dynamodb" {
				c.IdempotencyTable = table
			}
			start := time.Now()
			now := start
			store := c.idempotency(db, func() time.Time { return now })
			const key = "wiz|finding-1|arn:aws:s3:::b|s3-block-public-access|r1"
			if err := store.Begin(ctx, key); err != nil {
				t.Fatal(err)
			}
			if err := store.Complete(ctx, key); err != nil {
				t.Fatal(err)
			}
			now = start.Add(14*24*time.Hour - time.Minute)
			if err := store.Begin(ctx, key); !errors.Is(err, remediate.ErrAlreadyDone) {
				t.Errorf("Begin %s after completion = %v, want remediate.ErrAlreadyDone", now.Sub(start), err)
			}
		})
	}
}

// TestClaimTTL: REMEDY_CLAIM_TTL sets how long a claim holds, in memory
// and in DynamoDB: a crashed worker's claim is taken over once it has
// passed, not before.
func TestClaimTTL(t *testing.T) {
	ctx := context.Background()
	srv := mototest.Require(t, moto)
	db := dynamodb.NewFromConfig(srv.Config("us-east-1"))
	table := "claims-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if err := dynamo.CreateIdempotencyTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	c, err := FromEnv(env(map[string]string{"REMEDY_CLAIM_TTL": "20s"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"memory", "dynamodb"} {
		t.Run(name, func(t *testing.T) {
			if name == "dynamodb" {
				c.IdempotencyTable = table
			}
			start := time.Now()
			now := start
			crashed := c.idempotency(db, func() time.Time { return now })
			other := c.idempotency(db, func() time.Time { return now })
			const key = "wiz|finding-1|arn:aws:s3:::b|s3-block-public-access|r1"
			if err := crashed.Begin(ctx, key); err != nil {
				t.Fatal(err)
			}
			if name == "memory" {
				other = crashed // a memory store is one process's
			}
			now = start.Add(19 * time.Second)
			if err := other.Begin(ctx, key); !errors.Is(err, remediate.ErrInProgress) {
				t.Errorf("Begin %s after the claim = %v, want remediate.ErrInProgress", now.Sub(start), err)
			}
			now = start.Add(21 * time.Second)
			if err := other.Begin(ctx, key); err != nil {
				t.Errorf("Begin %s after the claim = %v, want the claim taken over", now.Sub(start), err)
			}
		})
	}
}

// TestBuiltinsSensitive: the built-ins that can cut off a workload are
// sensitive, so the engine runs them only when the policy approves them
// in sensitive_approved; the others are not.
func TestBuiltinsSensitive(t *testing.T) {
	var got []string
	for _, r := range Builtins(Config{}) {
		if r.Spec().Sensitive {
			got = append(got, r.Spec().Action)
		}
	}
	want := []string{"iam-deactivate-access-key", "rds-disable-public-access"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("sensitive built-ins (-want +got):\n%s", d)
	}
}
