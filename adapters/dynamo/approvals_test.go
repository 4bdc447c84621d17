package dynamo_test

import (
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/adapters/dynamo"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/crossaccount"
	"github.com/remedy-sec/remedy/eligibility"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
	"github.com/remedy-sec/remedy/remediators/rdspublic"
	"github.com/remedy-sec/remedy/remediators/s3publicaccess"
)

// approvalPolicy remediates public buckets of one account, and requires
// approval of the plan for every s3-block-public-access.
const approvalPolicy = `
approved_resource_types:
  bucket: [s3-block-public-access]
playbooks:
  ctl-public-bucket: s3-block-public-access
environment:
  known: [production]
  sources: [tag:Environment]
owner:
  sources: [tag:Owner]
accounts:
  - id: "ACCOUNT"
approval_required:
  - actions: [s3-block-public-access]
`

var approvalKey = []byte("0123456789abcdef0123456789abcdef-test-key")

// approvalEnv is a deployment on moto: a customer account with the
// remediation role and buckets, the engine as deploy builds it — the
// eligibility policy, crossaccount sessions, s3publicaccess — over the
// DynamoDB idempotency, approval and audit tables.
type approvalEnv struct {
	account   string
	cust      aws.Config // acts in the customer account
	s3        *s3.Client // acts in the customer account
	db        *dynamodb.Client
	approvals *dynamo.Approvals
	auditT    string
	engine    *remediate.Engine
	msgs      atomic.Int64
}

func newApprovalEnv(t *testing.T, account string) *approvalEnv {
	t.Helper()
	return newApprovalEnvWith(t, account, approvalPolicy, s3publicaccess.New(func(o *s3publicaccess.Options) { o.UsePathStyle = true }))
}

func newApprovalEnvWith(t *testing.T, account, policyDoc string, rems ...remediate.Remediator) *approvalEnv {
	t.Helper()
	srv := mototest.Require(t, moto)
	ctx := mototest.Context(t)
	const externalID = "ext-approval-test"
	if _, err := srv.CreateRole(ctx, account, "RemedyRemediation", externalID); err != nil {
		t.Fatal(err)
	}
	cust, err := srv.AccountConfig(ctx, account, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	db, idemT := newTable(t, dynamo.CreateIdempotencyTable)
	_, aprT := newTable(t, dynamo.CreateApprovalTable)
	_, auditT := newTable(t, dynamo.CreateAuditTable)
	e := &approvalEnv{
		account: account, cust: cust, db: db, auditT: auditT,
		s3:        s3.NewFromConfig(cust, func(o *s3.Options) { o.UsePathStyle = true }),
		approvals: dynamo.NewApprovals(db, aprT),
	}
	accounts, err := crossaccount.ReadAccounts(ctx, strings.NewReader("regions: [us-east-1]\naccounts:\n  - id: \""+account+"\"\n    external_id: "+externalID+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	base := srv.Config("us-east-1")
	creds, err := crossaccount.New(sts.NewFromConfig(base), accounts, func(o *crossaccount.Options) {
		o.Base = aws.Config{BaseEndpoint: base.BaseEndpoint}
	})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := remediate.NewRegistry(rems...)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := eligibility.Parse([]byte(strings.ReplaceAll(policyDoc, "ACCOUNT", account)), "policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e.engine, err = remediate.NewEngine(remediate.Options{
		Parser: remediate.ParserFunc(func(b []byte) (*remediate.Finding, error) {
			var f remediate.Finding
			if err := json.Unmarshal(b, &f); err != nil {
				return nil, &remediate.RejectError{Field: "body", Reason: err.Error()}
			}
			return &f, nil
		}),
		Policy: policy, Registry: reg, Credentials: creds, Mode: remediate.ModeApply,
		Idempotency: dynamo.NewIdempotency(db, idemT),
		Audit:       dynamo.NewAuditSink(db, auditT),
		Approvals:   e.approvals, ApprovalKey: remediate.StaticApprovalKey(approvalKey),
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// publicBucket creates bucket with no public access block at all.
func (e *approvalEnv) publicBucket(t *testing.T, bucket string) {
	t.Helper()
	if _, err := e.s3.CreateBucket(mototest.Context(t), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	e.setBlock(t, bucket, false)
}

func (e *approvalEnv) setBlock(t *testing.T, bucket string, acls bool) {
	t.Helper()
	if _, err := e.s3.PutPublicAccessBlock(mototest.Context(t), &s3.PutPublicAccessBlockInput{
		Bucket: aws.String(bucket),
		PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
			BlockPublicAcls: aws.Bool(acls), IgnorePublicAcls: aws.Bool(false),
			BlockPublicPolicy: aws.Bool(false), RestrictPublicBuckets: aws.Bool(false),
		},
	}); err != nil {
		t.Fatal(err)
	}
}

// blocked reports whether bucket's public access block is fully on.
func (e *approvalEnv) blocked(t *testing.T, bucket string) bool {
	t.Helper()
	out, err := e.s3.GetPublicAccessBlock(mototest.Context(t), &s3.GetPublicAccessBlockInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	c := out.PublicAccessBlockConfiguration
	return aws.ToBool(c.BlockPublicAcls) && aws.ToBool(c.IgnorePublicAcls) && aws.ToBool(c.BlockPublicPolicy) && aws.ToBool(c.RestrictPublicBuckets)
}

// process delivers body as a new message and returns its record.
func (e *approvalEnv) process(t *testing.T, body []byte) *audit.Record {
	t.Helper()
	id := "msg-" + time.Now().Format("150405.000000") + "-" + string(rune('a'+e.msgs.Add(1)%26))
	return e.deliver(t, id, body)
}

func (e *approvalEnv) deliver(t *testing.T, id string, body []byte) *audit.Record {
	t.Helper()
	rec, err := e.engine.Process(mototest.Context(t), remediate.Message{ID: id, Body: body, ReceiveCount: 1})
	if err != nil {
		t.Fatalf("Process(%s): %v", id, err)
	}
	return rec
}

// finding returns the body of a finding about bucket the policy approves.
func (e *approvalEnv) finding(t *testing.T, bucket string) []byte {
	t.Helper()
	b, err := json.Marshal(remediate.Finding{
		ID: "finding-" + bucket, Source: "wiz", TriggerType: "CREATED", Status: "OPEN", Severity: remediate.SeverityHigh,
		Control: remediate.Control{ID: "ctl-public-bucket"}, Revision: "r1",
		Resource: remediate.Resource{
			ID: "arn:aws:s3:::" + bucket, ARN: "arn:aws:s3:::" + bucket, Name: bucket, Type: "bucket",
			Account: e.account, Region: "us-east-1", Tags: map[string]string{"Environment": "production", "Owner": "web@example.com"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// request runs the finding about bucket and checks that it was planned,
// not applied: a review record naming a stored request.
func (e *approvalEnv) request(t *testing.T, bucket string) (*audit.Record, *remediate.ApprovalRequest) {
	t.Helper()
	rec := e.process(t, e.finding(t, bucket))
	if rec.Outcome != string(remediate.OutcomeReview) || rec.Approval == nil || rec.Approval.Status != remediate.ApprovalRequested {
		t.Fatalf("finding: outcome %q approval %+v (%s), want review with a request", rec.Outcome, rec.Approval, rec.FailureReason)
	}
	if e.blocked(t, bucket) {
		t.Fatal("the bucket was changed before approval")
	}
	req, err := e.approvals.Get(mototest.Context(t), rec.Approval.RequestID)
	if err != nil {
		t.Fatal(err)
	}
	if req.PlanHash != rec.Approval.PlanHash || len(req.Plan.Changes) == 0 || !json.Valid(req.Plan.Before) || !json.Valid(req.Plan.After) {
		t.Fatalf("stored request %+v does not hold the record's plan (hash %s)", req, rec.Approval.PlanHash)
	}
	if !strings.Contains(rec.FailureReason, req.ID) || !strings.Contains(rec.FailureReason, req.PlanHash) {
		t.Errorf("review reason %q names neither the request id nor the plan hash", rec.FailureReason)
	}
	if len(rec.Evidence.Changes) == 0 {
		t.Error("the review record does not carry the plan's changes")
	}
	return rec, req
}

func approvalBody(t *testing.T, key []byte, requestID, approver, hash string, expires time.Time) []byte {
	t.Helper()
	a := remediate.Approval{RequestID: requestID, Approver: approver, PlanHash: hash, Expires: expires}.Sign(key)
	b, err := remediate.ApprovalMessage(a)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stored reads rec back from the audit table: every record of the
// approval path is durable, approval included.
func (e *approvalEnv) stored(t *testing.T, rec *audit.Record) *audit.Record {
	t.Helper()
	got, err := dynamo.NewAuditSink(e.db, e.auditT).Get(mototest.Context(t), rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rec.Approval, got.Approval); diff != "" {
		t.Errorf("audit table's approval (-want +got):\n%s", diff)
	}
	return got
}

// TestApprovalGranted: a finding whose policy requires approval is
// planned, not applied; a signed approval of its plan hash, through the
// queue, re-plans against live state, applies, reads back, and the
// record names the approver. A redelivery or copy of that message
// changes nothing and is audited as a replay.
func TestApprovalGranted(t *testing.T) {
	e := newApprovalEnv(t, "444444444401")
	const bucket = "approval-granted"
	e.publicBucket(t, bucket)
	_, req := e.request(t, bucket)

	body := approvalBody(t, approvalKey, req.ID, "alice@example.com", req.PlanHash, time.Now().Add(time.Hour))
	rec := e.deliver(t, "approval-msg-1", body)
	if rec.Outcome != string(remediate.OutcomeApplied) || !rec.Evidence.Verified {
		t.Fatalf("approval: outcome %q verified %v (%s), want applied and verified", rec.Outcome, rec.Evidence.Verified, rec.FailureReason)
	}
	want := &audit.Approval{RequestID: req.ID, Approver: "alice@example.com", PlanHash: req.PlanHash, Status: remediate.ApprovalGranted}
	if diff := cmp.Diff(want, rec.Approval, ignoreExpires); diff != "" {
		t.Errorf("record's approval (-want +got):\n%s", diff)
	}
	if !e.blocked(t, bucket) {
		t.Error("the approved plan was not applied")
	}
	if rec.Resource.ID != "arn:aws:s3:::"+bucket || rec.Action != s3publicaccess.Action || rec.Correlation.SessionName == "" {
		t.Errorf("record resource %q action %q session %q: not the request's target", rec.Resource.ID, rec.Action, rec.Correlation.SessionName)
	}
	e.stored(t, rec)
	got, err := e.approvals.Get(mototest.Context(t), req.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Consumed == nil || got.Consumed.Approver != "alice@example.com" {
		t.Errorf("request consumed %+v, want consumed by alice", got.Consumed)
	}
	// A redelivery of the message, or a copy of it sent again, changes
	// nothing and is audited as a replay.
	e.setBlock(t, bucket, false)
	for _, id := range []string{"approval-msg-1", "approval-msg-1-copy"} {
		dup := e.deliver(t, id, body)
		if dup == nil || dup.Outcome != string(remediate.OutcomeRejected) || dup.Approval.Status != remediate.ApprovalReplayed {
			t.Fatalf("%s again: record %+v, want rejected, replayed", id, dup)
		}
		if e.blocked(t, bucket) {
			t.Fatal("a copy of a used approval changed the bucket")
		}
		e.stored(t, dup)
	}
}

var ignoreExpires = cmpIgnoreField("Expires")

func cmpIgnoreField(name string) cmp.Option {
	return cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == "."+name }, cmp.Ignore())
}

// TestApprovalDrifted: when live state changed between the plan and its
// approval, the re-plan hashes differently: nothing is applied, the
// record says so (status drifted, review), and a new request for the new
// plan is made, which a new approval then applies.
func TestApprovalDrifted(t *testing.T) {
	e := newApprovalEnv(t, "444444444402")
	const bucket = "approval-drifted"
	e.publicBucket(t, bucket)
	_, req := e.request(t, bucket)

	e.setBlock(t, bucket, true) // someone changes the bucket meanwhile
	rec := e.process(t, approvalBody(t, approvalKey, req.ID, "bob@example.com", req.PlanHash, time.Now().Add(time.Hour)))
	if rec.Outcome != string(remediate.OutcomeReview) || rec.Approval == nil || rec.Approval.Status != remediate.ApprovalDrifted {
		t.Fatalf("drifted approval: outcome %q approval %+v (%s), want review, drifted", rec.Outcome, rec.Approval, rec.FailureReason)
	}
	if e.blocked(t, bucket) {
		t.Fatal("a plan that no longer matches live state was applied")
	}
	if rec.Approval.Approver != "bob@example.com" || rec.Approval.NextRequestID == "" || rec.Approval.NextRequestID == req.ID || rec.Approval.NextPlanHash == req.PlanHash {
		t.Fatalf("drifted record's approval %+v: want the approver and a new request with a new hash", rec.Approval)
	}
	e.stored(t, rec)
	next, err := e.approvals.Get(mototest.Context(t), rec.Approval.NextRequestID)
	if err != nil {
		t.Fatalf("the new request was not stored: %v", err)
	}
	if next.PlanHash != rec.Approval.NextPlanHash {
		t.Errorf("new request's hash %s, record says %s", next.PlanHash, rec.Approval.NextPlanHash)
	}
	rec = e.process(t, approvalBody(t, approvalKey, next.ID, "bob@example.com", next.PlanHash, time.Now().Add(time.Hour)))
	if rec.Outcome != string(remediate.OutcomeApplied) || !e.blocked(t, bucket) {
		t.Fatalf("approval of the new request: outcome %q (%s), want applied", rec.Outcome, rec.FailureReason)
	}
}

// TestApprovalRejected: an expired, forged, replayed or wrong-plan
// approval, or one of a request nobody made, changes nothing and is
// audited as rejected with its status; a valid approval of the same
// request still works after the expired, forged and wrong-plan ones.
func TestApprovalRejected(t *testing.T) {
	e := newApprovalEnv(t, "444444444403")
	const bucket = "approval-rejected"
	e.publicBucket(t, bucket)
	_, req := e.request(t, bucket)
	hour := time.Now().Add(time.Hour)
	tests := []struct {
		name, status string
		body         []byte
	}{
		{"expired", remediate.ApprovalExpired, approvalBody(t, approvalKey, req.ID, "carol@example.com", req.PlanHash, time.Now().Add(-time.Minute))},
		{"forged: another key", remediate.ApprovalForged, approvalBody(t, []byte("not-the-key-not-the-key-not-the-key!!"), req.ID, "mallory", req.PlanHash, hour)},
		{"forged: approver changed after signing", remediate.ApprovalForged, func() []byte {
			b := approvalBody(t, approvalKey, req.ID, "carol@example.com", req.PlanHash, hour)
			return []byte(strings.Replace(string(b), "carol@example.com", "mallory@example.com", 1))
		}()},
		{"wrong plan", remediate.ApprovalWrongPlan, approvalBody(t, approvalKey, req.ID, "carol@example.com", "sha256:"+strings.Repeat("0", 64), hour)},
		{"unknown request", remediate.ApprovalUnknownRequest, approvalBody(t, approvalKey, "apr-nobody-asked", "carol@example.com", req.PlanHash, hour)},
		{"malformed", remediate.ApprovalMalformed, []byte(`{"remedy_approval": {"request_id": "` + req.ID + `"}}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.process(t, tt.body)
			if rec.Outcome != string(remediate.OutcomeRejected) || rec.Approval == nil || rec.Approval.Status != tt.status {
				t.Fatalf("outcome %q approval %+v (%s), want rejected, %s", rec.Outcome, rec.Approval, rec.FailureReason, tt.status)
			}
			if len(rec.Reasons) == 0 || rec.Reasons[0].Check != remediate.CheckApproval {
				t.Errorf("reasons %+v, want the check %q", rec.Reasons, remediate.CheckApproval)
			}
			if e.blocked(t, bucket) {
				t.Fatal("a rejected approval changed the bucket")
			}
			e.stored(t, rec)
		})
	}
	got, err := e.approvals.Get(mototest.Context(t), req.ID)
	if err != nil || got.Consumed != nil {
		t.Fatalf("after rejected approvals the request is consumed %+v (%v), want unused", got, err)
	}

	// The first valid approval is used; sending it again, or another
	// approval of the same request, is a replay.
	body := approvalBody(t, approvalKey, req.ID, "carol@example.com", req.PlanHash, hour)
	if rec := e.process(t, body); rec.Outcome != string(remediate.OutcomeApplied) {
		t.Fatalf("valid approval: outcome %q (%s), want applied", rec.Outcome, rec.FailureReason)
	}
	e.setBlock(t, bucket, false) // the bucket is public again: a replay must not fix it
	for name, replay := range map[string][]byte{
		"replayed: the same approval sent again":    body,
		"replayed: another approval of the request": approvalBody(t, approvalKey, req.ID, "dave@example.com", req.PlanHash, hour),
	} {
		t.Run(name, func(t *testing.T) {
			rec := e.process(t, replay)
			if rec.Outcome != string(remediate.OutcomeRejected) || rec.Approval.Status != remediate.ApprovalReplayed {
				t.Fatalf("replayed approval: outcome %q approval %+v (%s), want rejected, replayed", rec.Outcome, rec.Approval, rec.FailureReason)
			}
			if e.blocked(t, bucket) {
				t.Fatal("a replayed approval changed the bucket")
			}
			e.stored(t, rec)
		})
	}
}

// TestApprovalStore: Put is idempotent for the same plan and refuses
// another plan under one id; Consume succeeds once per token; Get of an
// unknown id is ErrApprovalNotFound.
func TestApprovalStore(t *testing.T) {
	db, table := newTable(t, dynamo.CreateApprovalTable)
	s := dynamo.NewApprovals(db, table)
	ctx := mototest.Context(t)
	t0 := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	req := &remediate.ApprovalRequest{
		ID: "apr-1", Finding: &remediate.Finding{ID: "f1", Resource: remediate.Resource{ID: "arn:aws:s3:::b", Type: "bucket", Tags: map[string]string{"k": "v"}}},
		Action: "s3-block-public-access", Plan: remediate.ApprovalPlan{Before: json.RawMessage(`{"a":false}`), After: json.RawMessage(`{"a":true}`), Changes: []string{"set a"}},
		PlanHash: "sha256:1", RecordID: "rec-1", Created: t0, Expires: t0.Add(time.Hour),
	}
	if err := s.Put(ctx, req); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, req); err != nil {
		t.Errorf("Put of the same request again: %v, want nil", err)
	}
	other := *req
	other.PlanHash = "sha256:2"
	if err := s.Put(ctx, &other); err == nil {
		t.Error("Put of another plan under the same id succeeded")
	}
	got, err := s.Get(ctx, "apr-1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(req, got); diff != "" {
		t.Errorf("Get (-want +got):\n%s", diff)
	}
	if _, err := s.Get(ctx, "apr-none"); !errors.Is(err, remediate.ErrApprovalNotFound) {
		t.Errorf("Get of an unknown id: %v, want ErrApprovalNotFound", err)
	}
	c := remediate.ApprovalConsumption{Token: "tok-1", Approver: "alice", Time: t0}
	if err := s.Consume(ctx, "apr-1", c); err != nil {
		t.Fatal(err)
	}
	if err := s.Consume(ctx, "apr-1", c); err != nil {
		t.Errorf("Consume by the same token again: %v, want nil (a retried delivery)", err)
	}
	if err := s.Consume(ctx, "apr-1", remediate.ApprovalConsumption{Token: "tok-2", Approver: "bob", Time: t0}); !errors.Is(err, remediate.ErrApprovalConsumed) {
		t.Errorf("Consume by another token: %v, want ErrApprovalConsumed", err)
	}
	if err := s.Consume(ctx, "apr-none", c); !errors.Is(err, remediate.ErrApprovalNotFound) {
		t.Errorf("Consume of an unknown id: %v, want ErrApprovalNotFound", err)
	}
	got, _ = s.Get(ctx, "apr-1")
	if diff := cmp.Diff(&c, got.Consumed); diff != "" {
		t.Errorf("Consumed (-want +got):\n%s", diff)
	}
}

// sensitivePolicy approves rds-disable-public-access, a sensitive action,
// without listing it under sensitive_approved or approval_required.
const sensitivePolicy = `
approved_resource_types:
  rdsInstance: [rds-disable-public-access]
playbooks:
  ctl-public-db: rds-disable-public-access
environment:
  known: [production]
  sources: [tag:Environment]
owner:
  sources: [tag:Owner]
accounts:
  - id: "ACCOUNT"
`

// TestSensitiveActionWaitsForApproval: a sensitive remediator the policy
// does not approve to run unattended takes the approval path by default
// when the engine has an approval store: rdspublic's plan is stored, the
// instance stays public until an approval of that plan arrives, and is
// then made private with the approver recorded.
func TestSensitiveActionWaitsForApproval(t *testing.T) {
	e := newApprovalEnvWith(t, "444444444404", sensitivePolicy, rdspublic.New())
	ctx := mototest.Context(t)
	db := rds.NewFromConfig(e.cust)
	const id = "approval-sensitive-db"
	if _, err := db.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{
		DBInstanceIdentifier: aws.String(id), DBInstanceClass: aws.String("db.t3.micro"), Engine: aws.String("postgres"),
		AllocatedStorage: aws.Int32(20), MasterUsername: aws.String("remedy"), MasterUserPassword: aws.String("not-a-secret-1"),
		PubliclyAccessible: aws.Bool(true),
	}); err != nil {
		t.Fatal(err)
	}
	public := func() bool {
		t.Helper()
		out, err := db.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(id)})
		if err != nil || len(out.DBInstances) != 1 {
			t.Fatalf("DescribeDBInstances: %v", err)
		}
		return aws.ToBool(out.DBInstances[0].PubliclyAccessible)
	}
	arn := "arn:aws:rds:us-east-1:" + e.account + ":db:" + id
	body, err := json.Marshal(remediate.Finding{
		ID: "finding-" + id, Source: "wiz", TriggerType: "CREATED", Status: "OPEN", Severity: remediate.SeverityCritical,
		Control: remediate.Control{ID: "ctl-public-db"}, Revision: "r1",
		Resource: remediate.Resource{
			ID: arn, ARN: arn, Name: id, Type: rdspublic.ResourceType, Account: e.account, Region: "us-east-1",
			Tags: map[string]string{"Environment": "production", "Owner": "data@example.com"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := e.process(t, body)
	if rec.Outcome != string(remediate.OutcomeReview) || rec.Approval == nil || rec.Approval.Status != remediate.ApprovalRequested {
		t.Fatalf("sensitive finding: outcome %q approval %+v (%s), want review with a request", rec.Outcome, rec.Approval, rec.FailureReason)
	}
	if !strings.Contains(rec.FailureReason, "sensitive") {
		t.Errorf("reason %q does not say the action is sensitive", rec.FailureReason)
	}
	if !public() {
		t.Fatal("the sensitive change was made before approval")
	}
	rec = e.process(t, approvalBody(t, approvalKey, rec.Approval.RequestID, "dba@example.com", rec.Approval.PlanHash, time.Now().Add(time.Hour)))
	if rec.Outcome != string(remediate.OutcomeApplied) || rec.Approval.Approver != "dba@example.com" {
		t.Fatalf("approval: outcome %q approval %+v (%s), want applied by dba", rec.Outcome, rec.Approval, rec.FailureReason)
	}
	if public() {
		t.Error("the approved plan did not make the instance private")
	}
}
