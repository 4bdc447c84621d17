package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/remedy-sec/remedy/adapters/dynamo"
	"github.com/remedy-sec/remedy/crossaccount"
	"github.com/remedy-sec/remedy/deploy"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
	"github.com/remedy-sec/remedy/remediators/s3publicaccess"
)

// TestApproveThroughTheQueue: a finding whose policy requires approval is
// planned and its request stored; remedy approve shows the plan, refuses
// a plan hash other than the request's, and sends an approval signed
// with the key in SSM to the queue; the engine, receiving it from the
// queue, applies the plan and records the approver. The request cannot
// be approved twice.
func TestApproveThroughTheQueue(t *testing.T) {
	e := newRollbackEnv(t, "555555555501", "audit-approve")
	ctx := mototest.Context(t)
	const bucket = "approve-cli"
	e.bucketWithBlock(t, bucket, block(false, false, false, false))
	base := e.srv.Config("us-east-1")
	if err := dynamo.CreateApprovalTable(ctx, e.db, "approvals-cli"); err != nil {
		t.Fatal(err)
	}
	const param = "/remedy/approval-key-cli"
	if _, err := ssm.NewFromConfig(base).PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(param), Value: aws.String(strings.Repeat("k", 48)), Type: ssmtypes.ParameterTypeSecureString, Overwrite: aws.Bool(true),
	}); err != nil {
		t.Fatal(err)
	}
	q := sqs.NewFromConfig(base)
	qo, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("findings-approve-cli")})
	if err != nil {
		t.Fatal(err)
	}
	queue := aws.ToString(qo.QueueUrl)

	accounts, err := crossaccount.ReadAccounts(ctx, strings.NewReader("regions: [us-east-1]\naccounts:\n  - id: \""+e.account+"\"\n    external_id: ext-rollback-test\n"))
	if err != nil {
		t.Fatal(err)
	}
	creds, err := crossaccount.New(sts.NewFromConfig(base), accounts, func(o *crossaccount.Options) {
		o.Base = aws.Config{BaseEndpoint: base.BaseEndpoint}
	})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := remediate.NewRegistry(s3publicaccess.New(func(o *s3publicaccess.Options) { o.UsePathStyle = true }))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := remediate.NewEngine(remediate.Options{
		Parser: remediate.ParserFunc(func(b []byte) (*remediate.Finding, error) {
			var f remediate.Finding
			return &f, json.Unmarshal(b, &f)
		}),
		Policy: remediate.PolicyFunc(func(context.Context, *remediate.Finding) (remediate.Decision, error) {
			return remediate.Decision{Verdict: remediate.VerdictRemediate, Action: s3publicaccess.Action, ApprovalRequired: true}, nil
		}),
		Registry: reg, Credentials: creds, Mode: remediate.ModeApply,
		Audit:       dynamo.NewAuditSink(e.db, e.table),
		Approvals:   dynamo.NewApprovals(e.db, "approvals-cli"),
		ApprovalKey: deploy.SSMApprovalKey(ssm.NewFromConfig(base), param),
	})
	if err != nil {
		t.Fatal(err)
	}
	finding, _ := json.Marshal(remediate.Finding{
		ID: "finding-" + bucket, Source: "wiz",
		Resource: remediate.Resource{ID: "arn:aws:s3:::" + bucket, ARN: "arn:aws:s3:::" + bucket, Name: bucket, Type: "bucket", Account: e.account, Region: "us-east-1"},
	})
	rec, err := eng.Process(ctx, remediate.Message{ID: "finding-msg", Body: finding})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome != "review" || rec.Approval == nil || rec.Approval.Status != remediate.ApprovalRequested {
		t.Fatalf("finding: outcome %q approval %+v (%s), want a request", rec.Outcome, rec.Approval, rec.FailureReason)
	}
	id, hash := rec.Approval.RequestID, rec.Approval.PlanHash

	approve := func(args ...string) (int, string, string) {
		t.Helper()
		return runCLI(t, "", append([]string{"approve", "--endpoint", e.srv.URL, "--approval-table", "approvals-cli", "--queue-url", queue, "--key-param", param}, args...)...)
	}
	received := func() []string {
		t.Helper()
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queue), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range out.Messages {
			ids = append(ids, aws.ToString(m.MessageId))
			r, err := eng.Process(ctx, remediate.Message{ID: aws.ToString(m.MessageId), Body: []byte(aws.ToString(m.Body)), ReceiveCount: 1})
			if err != nil {
				t.Fatal(err)
			}
			rec = r
		}
		return ids
	}

	code, out, errOut := approve("--dry-run", id)
	if code != exitOK || !strings.Contains(out, hash) || !strings.Contains(out, "arn:aws:s3:::"+bucket) || !strings.Contains(out, "BlockPublicAcls") {
		t.Fatalf("approve --dry-run: exit %d, want 0 and the plan shown\n%s%s", code, out, errOut)
	}
	if code, _, errOut := approve("--approver", "alice@example.com", "--plan-hash", "sha256:other", id); code != exitInput || !strings.Contains(errOut, "not the plan sha256:other you reviewed") {
		t.Fatalf("approve with another plan hash: exit %d, want 1\n%s", code, errOut)
	}
	if code, _, errOut := approve(id); code != exitUsage || !strings.Contains(errOut, "--approver NAME is required") {
		t.Fatalf("approve without --approver: exit %d, want 2\n%s", code, errOut)
	}
	if ids := received(); len(ids) != 0 {
		t.Fatalf("the dry run and the refusals sent %d messages", len(ids))
	}
	if e.liveBlock(t, bucket) != [4]bool{} {
		t.Fatal("the bucket changed before approval")
	}

	if code, out, errOut := approve("--approver", "alice@example.com", "--plan-hash", hash, id); code != exitOK {
		t.Fatalf("approve: exit %d\n%s%s", code, out, errOut)
	}
	if ids := received(); len(ids) != 1 {
		t.Fatalf("received %d approval messages, want 1", len(ids))
	}
	if rec.Outcome != string(remediate.OutcomeApplied) || rec.Approval == nil || rec.Approval.Approver != "alice@example.com" || rec.Approval.Status != remediate.ApprovalGranted {
		t.Fatalf("approval: outcome %q approval %+v (%s), want applied, approved by alice", rec.Outcome, rec.Approval, rec.FailureReason)
	}
	if got := e.liveBlock(t, bucket); got != [4]bool{true, true, true, true} {
		t.Errorf("bucket's block after approval: %v, want all on", got)
	}
	if stored := e.records(t)[rec.ID]; stored == nil || stored.Approval == nil || stored.Approval.Approver != "alice@example.com" {
		t.Errorf("audit table record %+v: want the approver", stored)
	}
	if code, _, errOut := approve("--approver", "bob@example.com", id); code != exitInput || !strings.Contains(errOut, "already approved by alice@example.com") {
		t.Fatalf("approving a used request: exit %d, want 1\n%s", code, errOut)
	}
}
