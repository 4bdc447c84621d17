package cli

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/adapters/dynamo"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/internal/faultproxy"
	"github.com/remedy-sec/remedy/internal/scenario"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

// TestReplay drives `remedy replay` against moto: a dead-letter queue of
// three findings, two with a dead-lettered audit record. It lists them
// with their reasons, replays a filtered one, keeps everything when the
// send fails, then replays the rest.
func TestReplay(t *testing.T) {
	srv := mototest.Require(t, moto)
	ctx := mototest.Context(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_REGION", "us-east-1")
	cfg := srv.Config("us-east-1")
	q := sqs.NewFromConfig(cfg)
	db := dynamodb.NewFromConfig(cfg)
	name := "replay-" + strings.ToLower(rand.Text()[:6])
	newQueue := func(n string) string {
		out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(n)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.QueueUrl)
	}
	dlq, target := newQueue(name+"-dlq"), newQueue(name+"-findings")
	table := name + "-audit"
	if err := dynamo.CreateAuditTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	sink := dynamo.NewAuditSink(db, table)
	w := &scenario.World{Name: name, Region: "us-east-1"}
	type msg struct{ finding, account, reason, id, body string }
	msgs := []*msg{
		{finding: "f-slow", account: "111111111111", reason: "plan for finding f-slow: api error SlowDown: Please reduce your request rate."},
		{finding: "f-down", account: "222222222222", reason: "write audit record: connection refused"},
		{finding: "f-none", account: "111111111111"},
	}
	for _, m := range msgs {
		m.body = string(w.Payload(scenario.Finding{ID: m.finding, Account: m.account, Bucket: name + "-" + m.finding}))
		out, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(dlq), MessageBody: aws.String(m.body)})
		if err != nil {
			t.Fatal(err)
		}
		m.id = aws.ToString(out.MessageId)
		if m.reason == "" {
			continue
		}
		// An earlier, terminal-looking record without a reason must not
		// be taken for the last failure.
		now := time.Now().UTC()
		for i, r := range []*audit.Record{
			{ID: m.id + "-1", Outcome: string(remediate.OutcomeDeadLettered), FailureReason: "an older failure", Timings: audit.Timings{Completed: now.Add(-time.Minute)}},
			{ID: m.id + "-2", Outcome: string(remediate.OutcomeDeadLettered), FailureReason: m.reason, Timings: audit.Timings{Completed: now}},
		} {
			r.Schema, r.Time = audit.SchemaVersion, now
			r.Finding.ID, r.Resource.Account, r.Correlation.MessageID, r.Correlation.ReceiveCount = m.finding, m.account, m.id, i+2
			if err := sink.Write(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	depth := func(url string) int {
		t.Helper()
		out, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
		if err != nil {
			t.Fatal(err)
		}
		return atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	}
	base := []string{"replay", "--dlq", dlq, "--to", target, "--endpoint", srv.URL, "--audit-table", table}
	// status reads the STATUS and LAST FAILURE of each message from the
	// listing, by finding.
	status := func(out string) map[string]string {
		got := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			f := strings.Fields(l)
			if len(f) < 7 {
				t.Fatalf("listing line %q", l)
			}
			got[f[4]] = f[0] + " " + strings.Join(f[6:], " ")
		}
		return got
	}

	// Dry run: everything listed with its last reason; nothing moves.
	code, out, errOut := runCLI(t, "", append(base, "--dry-run")...)
	if code != exitOK {
		t.Fatalf("dry run: exit %d\n%s", code, errOut)
	}
	want := map[string]string{
		"f-slow": "would-replay " + msgs[0].reason,
		"f-down": "would-replay " + msgs[1].reason,
		"f-none": "would-replay (no failure recorded in the audit table)",
	}
	t.Logf("remedy replay --dry-run:\n%s%s", errOut, out)
	if d := cmp.Diff(want, status(out)); d != "" {
		t.Errorf("dry-run listing (-want +got):\n%s\n%s", d, out)
	}
	if !strings.Contains(errOut, "read 3 messages") || !strings.Contains(errOut, "nothing was sent") {
		t.Errorf("dry-run progress on stderr:\n%s", errOut)
	}
	if d, g := depth(dlq), depth(target); d != 3 || g != 0 {
		t.Fatalf("after the dry run: %d messages visible in the DLQ, %d in the target; want 3 and 0", d, g)
	}

	// A filtered replay moves one message, body and all.
	code, out, errOut = runCLI(t, "", append(base, "--filter", "account=111111111111", "--filter", "reason~slowdown")...)
	if code != exitOK {
		t.Fatalf("filtered replay: exit %d\n%s", code, errOut)
	}
	if got := status(out)["f-slow"]; !strings.HasPrefix(got, "replayed ") {
		t.Errorf("f-slow: %q, want replayed\n%s", got, out)
	}
	if d, g := depth(dlq), depth(target); d != 2 || g != 1 {
		t.Fatalf("after the filtered replay: DLQ %d, target %d; want 2 and 1", d, g)
	}
	rec, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(target), MessageAttributeNames: []string{"All"}, WaitTimeSeconds: 1})
	if err != nil || len(rec.Messages) != 1 {
		t.Fatalf("receive the replayed message: %v, %d messages", err, len(rec.Messages))
	}
	if got := aws.ToString(rec.Messages[0].Body); got != msgs[0].body {
		t.Errorf("replayed body differs:\n got %s\nwant %s", got, msgs[0].body)
	}
	if got := aws.ToString(rec.Messages[0].MessageAttributes[replayAttribute].StringValue); got != msgs[0].id {
		t.Errorf("replayed message's %s = %q, want %q", replayAttribute, got, msgs[0].id)
	}
	if _, err := q.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(target), ReceiptHandle: rec.Messages[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}

	// The send fails: nothing is deleted from the DLQ.
	p, err := faultproxy.Start(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Add(faultproxy.Rule{Match: faultproxy.Operation("SendMessageBatch"), Status: 500, Code: "InternalError"})
	failing := append([]string(nil), base...)
	failing[6] = p.URL // --endpoint
	code, out, errOut = runCLI(t, "", failing...)
	if code != exitInput || !strings.Contains(errOut, "stay in the dead-letter queue") {
		t.Errorf("replay with failing sends: exit %d, stderr:\n%s", code, errOut)
	}
	if n := p.Calls("DeleteMessageBatch"); n != 0 {
		t.Errorf("%d DeleteMessageBatch calls after failed sends, want 0", n)
	}
	for f, s := range status(out) {
		if !strings.HasPrefix(s, "send-failed ") {
			t.Errorf("%s: %q, want send-failed", f, s)
		}
	}
	if d, g := depth(dlq), depth(target); d != 2 || g != 1 {
		t.Fatalf("after the failed replay: DLQ %d, target %d; want 2 and 1", d, g)
	}

	// Everything else.
	if code, _, errOut = runCLI(t, "", base...); code != exitOK || !strings.Contains(errOut, "replayed 2/2") {
		t.Fatalf("replay: exit %d\n%s", code, errOut)
	}
	if d, g := depth(dlq), depth(target); d != 0 || g != 3 {
		t.Fatalf("after replaying all: DLQ %d, target %d; want 0 and 3", d, g)
	}
}

func TestReplayUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--dlq", "http://q/dlq"},
		{"--dlq", "http://q/a", "--to", "http://q/a"},
		{"--dlq", "http://q/a", "--to", "http://q/b", "--filter", "colour=red"},
		{"--dlq", "http://q/a", "--to", "http://q/b", "--filter", "account"},
		{"--dlq", "http://q/a", "--to", "http://q/b", "--max", "-1"},
	} {
		code, out, errOut := runCLI(t, "", append([]string{"replay"}, args...)...)
		if code != exitUsage || out != "" || !strings.Contains(errOut, "remedy replay:") {
			t.Errorf("replay %v: exit %d, stdout %q, stderr %q; want a usage error", args, code, out, errOut)
		}
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
