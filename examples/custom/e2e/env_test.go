// Package e2e runs the team's own binaries — cmd/worker, cmd/lambda and
// cmd/remedy, each Remedy's composition plus s3versioning — end to end
// against moto: the worker as a process reading an SQS queue, the Lambda
// function under the AWS Lambda Runtime Interface Emulator, the CLI as a
// command. Nothing inside the binaries is mocked.
package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/remedy-sec/remedy/adapters/dynamo"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

var moto *mototest.Server

func TestMain(m *testing.M) { os.Exit(mototest.Main(m, &moto)) }

const (
	region = "us-east-1"
	// account is the customer account of testdata/accounts.yaml, whose
	// role Remedy assumes with externalID.
	account    = "111111111111"
	roleName   = "RemedyRemediation"
	externalID = "remedy-custom-example"
	owner      = "payments-team@example.com"
)

// Controls of testdata/policy.yaml's playbooks.
const (
	controlVersioning   = "S3-025" // s3-enable-versioning, the team's own
	controlPublicAccess = "S3-019" // s3-block-public-access, a built-in
)

// world is what one test sets up on moto: the customer account's role,
// the platform account's queue and tables, and the policy and account
// registry files (testdata) the binaries read.
type world struct {
	t    *testing.T
	srv  *mototest.Server
	name string
	// platform acts in the platform account (moto's default), customer in
	// the customer account.
	platform, customer aws.Config

	queueURL, queueARN           string
	auditTable, idempotencyTable string
	policyFile, accountsFile     string
}

// newWorld creates the customer role, a queue and the two DynamoDB
// tables, named after the test with a random suffix.
func newWorld(t *testing.T, name string) *world {
	t.Helper()
	srv := mototest.Require(t, moto)
	ctx := mototest.Context(t)
	w := &world{t: t, srv: srv, name: name + "-" + strings.ToLower(rand.Text()[:6]), platform: srv.Config(region)}
	if _, err := srv.CreateRole(ctx, account, roleName, externalID); err != nil {
		t.Fatal(err)
	}
	var err error
	if w.customer, err = srv.AccountConfig(ctx, account, region); err != nil {
		t.Fatal(err)
	}
	q := sqs.NewFromConfig(w.platform)
	out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(w.name + "-findings")})
	if err != nil {
		t.Fatalf("CreateQueue: %v", err)
	}
	w.queueURL = aws.ToString(out.QueueUrl)
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatalf("GetQueueAttributes: %v", err)
	}
	w.queueARN = attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	db := dynamodb.NewFromConfig(w.platform)
	w.auditTable, w.idempotencyTable = w.name+"-audit", w.name+"-idempotency"
	if err := dynamo.CreateAuditTable(ctx, db, w.auditTable); err != nil {
		t.Fatal(err)
	}
	if err := dynamo.CreateIdempotencyTable(ctx, db, w.idempotencyTable); err != nil {
		t.Fatal(err)
	}
	if w.policyFile, err = filepath.Abs("../testdata/policy.yaml"); err != nil {
		t.Fatal(err)
	}
	if w.accountsFile, err = filepath.Abs("../testdata/accounts.yaml"); err != nil {
		t.Fatal(err)
	}
	return w
}

// env is the environment of cmd/worker and cmd/lambda (package deploy's
// variables) in apply mode, every AWS call sent to moto.
func (w *world) env() []string {
	return []string{
		"AWS_REGION=" + region,
		"AWS_ACCESS_KEY_ID=testing",
		"AWS_SECRET_ACCESS_KEY=testing",
		"AWS_ENDPOINT_URL=" + w.srv.URL,
		"AWS_EC2_METADATA_DISABLED=true",
		"REMEDY_POLICY_FILE=" + w.policyFile,
		"REMEDY_ACCOUNTS_FILE=" + w.accountsFile,
		"REMEDY_MODE=apply",
		"REMEDY_AUDIT_TABLE=" + w.auditTable,
		"REMEDY_IDEMPOTENCY_TABLE=" + w.idempotencyTable,
		"REMEDY_S3_PATH_STYLE=true",
	}
}

func (w *world) s3() *s3.Client {
	return s3.NewFromConfig(w.customer, func(o *s3.Options) { o.UsePathStyle = true })
}

// createBucket creates a bucket in the customer account, with versioning
// enabled if versioned.
func (w *world) createBucket(bucket string, versioned bool) {
	w.t.Helper()
	ctx := w.t.Context()
	if _, err := w.s3().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		w.t.Fatalf("CreateBucket %s: %v", bucket, err)
	}
	if !versioned {
		return
	}
	if _, err := w.s3().PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket: aws.String(bucket), VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled},
	}); err != nil {
		w.t.Fatalf("PutBucketVersioning %s: %v", bucket, err)
	}
}

// versioning reads the bucket's versioning status in the customer
// account: "", Enabled or Suspended.
func (w *world) versioning(bucket string) string {
	w.t.Helper()
	out, err := w.s3().GetBucketVersioning(w.t.Context(), &s3.GetBucketVersioningInput{Bucket: aws.String(bucket)})
	if err != nil {
		w.t.Fatalf("GetBucketVersioning %s: %v", bucket, err)
	}
	return string(out.Status)
}

// blocksPublicAccess reports whether all four Block Public Access flags
// of the bucket are on.
func (w *world) blocksPublicAccess(bucket string) bool {
	w.t.Helper()
	out, err := w.s3().GetPublicAccessBlock(w.t.Context(), &s3.GetPublicAccessBlockInput{Bucket: aws.String(bucket)})
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchPublicAccessBlockConfiguration" {
		return false
	}
	if err != nil {
		w.t.Fatalf("GetPublicAccessBlock %s: %v", bucket, err)
	}
	c := out.PublicAccessBlockConfiguration
	return aws.ToBool(c.BlockPublicAcls) && aws.ToBool(c.IgnorePublicAcls) && aws.ToBool(c.BlockPublicPolicy) && aws.ToBool(c.RestrictPublicBuckets)
}

// finding describes a Wiz finding about a bucket of the customer account.
type finding struct {
	ID, Bucket, Control string
	// Owner becomes the Owner tag; empty leaves it out (no owner: review).
	Owner string
}

// payload returns the Wiz automation-rule payload of f: the default
// template, with the resource's tags added.
func payload(f finding) []byte {
	tags := map[string]string{}
	if f.Owner != "" {
		tags["Owner"] = f.Owner
	}
	b, err := json.Marshal(map[string]any{
		"trigger": map[string]any{"source": "ISSUES", "type": "CREATED", "ruleId": "rule-custom", "ruleName": "Auto-remediate (custom)"},
		"issue":   map[string]any{"id": f.ID, "status": "OPEN", "severity": "HIGH", "created": "2026-11-02T10:11:12.345Z", "projects": "Payments"},
		"resource": map[string]any{
			"id": "arn:aws:s3:::" + f.Bucket, "name": f.Bucket, "type": "bucket", "cloudPlatform": "AWS",
			"subscriptionId": account, "subscriptionName": "payments-prod", "region": region, "status": "Active",
		},
		"control": map[string]any{"id": "wc-" + f.Control, "name": "control " + f.Control, "severity": "HIGH", "sourceCloudConfigurationRuleId": f.Control},
		"tags":    tags,
	})
	if err != nil {
		panic(err) // maps of strings always encode
	}
	return b
}

// send puts each body on the queue, as SNS does with raw message
// delivery.
func (w *world) send(bodies ...[]byte) {
	w.t.Helper()
	q := sqs.NewFromConfig(w.platform)
	for _, b := range bodies {
		if _, err := q.SendMessage(w.t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(w.queueURL), MessageBody: aws.String(string(b))}); err != nil {
			w.t.Fatalf("SendMessage: %v", err)
		}
	}
}

// queueDepth returns the approximate numbers of visible and in-flight
// messages.
func (w *world) queueDepth() (visible, inFlight string) {
	w.t.Helper()
	out, err := sqs.NewFromConfig(w.platform).GetQueueAttributes(w.t.Context(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(w.queueURL),
		AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		w.t.Fatalf("GetQueueAttributes: %v", err)
	}
	return out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)],
		out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)]
}

// auditRecords returns every record of the audit table, by finding id.
func (w *world) auditRecords() map[string][]audit.Record {
	w.t.Helper()
	db := dynamodb.NewFromConfig(w.platform)
	out := map[string][]audit.Record{}
	p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(w.auditTable), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(w.t.Context())
		if err != nil {
			w.t.Fatalf("scan %s: %v", w.auditTable, err)
		}
		for _, item := range page.Items {
			r, err := dynamo.DecodeAuditItem(item)
			if err != nil {
				w.t.Fatal(err)
			}
			out[r.Finding.ID] = append(out[r.Finding.ID], *r)
		}
	}
	return out
}

// outcomes returns the outcome of each finding's audit records, and
// fails the test for a finding with more than one.
func outcomes(t *testing.T, recs map[string][]audit.Record) map[string]string {
	t.Helper()
	got := map[string]string{}
	for id, rs := range recs {
		if len(rs) != 1 {
			t.Errorf("finding %s has %d audit records, want 1", id, len(rs))
		}
		got[id] = rs[0].Outcome
	}
	return got
}

// checkApplied checks the evidence of the record of an applied
// s3-enable-versioning fix of bucket.
func checkApplied(t *testing.T, r audit.Record, bucket string) {
	t.Helper()
	if r.Action != "s3-enable-versioning" || r.Outcome != "applied" || r.DryRun {
		t.Errorf("record of %s: action %q, outcome %q, dry run %v; want s3-enable-versioning, applied, false", bucket, r.Action, r.Outcome, r.DryRun)
	}
	ev := r.Evidence
	for _, c := range []struct{ name, got, want string }{
		{"before", string(ev.Before), `{"bucket":"` + bucket + `","status":""}`},
		{"after", string(ev.After), `{"bucket":"` + bucket + `","status":"Enabled"}`},
		{"rollback", string(ev.Rollback), `{"bucket":"` + bucket + `","status":""}`},
		{"changes", strings.Join(ev.Changes, "; "), "set versioning of bucket " + bucket + " from unversioned to Enabled"},
	} {
		if c.got != c.want {
			t.Errorf("record of %s: evidence %s = %s, want %s", bucket, c.name, c.got, c.want)
		}
	}
	// (Request ids are not checked: moto's S3 sends them in a header the
	// SDK does not read for S3.)
	if !ev.Verified {
		t.Errorf("record of %s: not verified; want the fix read back", bucket)
	}
	// The STS session the fix ran in, for joining CloudTrail back.
	if !strings.HasPrefix(r.Correlation.SessionName, "s3-enable-versioning@") {
		t.Errorf("record of %s: session name %q, want s3-enable-versioning@…", bucket, r.Correlation.SessionName)
	}
}

// lockedBuffer is a bytes.Buffer safe for a process's output and the
// test reading it at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// minimalEnv is the environment a binary gets besides its own
// variables: nothing from the test's environment that could point AWS
// calls elsewhere.
func minimalEnv(extra ...string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, extra...)
}
