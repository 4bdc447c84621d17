package snsreview_test

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/remedy-sec/remedy/adapters/snsreview"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/audit/audittest"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

var moto *mototest.Server

func TestMain(m *testing.M) { os.Exit(mototest.Main(m, &moto)) }

var (
	nonName = regexp.MustCompile(`[^A-Za-z0-9_-]`)
	seq     atomic.Int64
)

// env is a topic with queues subscribed to it, in moto.
type env struct {
	t     *testing.T
	ctx   context.Context
	sns   *sns.Client
	sqs   *sqs.Client
	topic string
}

func newEnv(t *testing.T, fifo bool) *env {
	t.Helper()
	srv := mototest.Require(t, moto)
	cfg := srv.Config("us-east-1")
	e := &env{t: t, ctx: mototest.Context(t), sns: sns.NewFromConfig(cfg), sqs: sqs.NewFromConfig(cfg)}
	in := &sns.CreateTopicInput{Name: aws.String(e.name("review", fifo))}
	if fifo {
		in.Attributes = map[string]string{"FifoTopic": "true"}
	}
	out, err := e.sns.CreateTopic(e.ctx, in)
	if err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	e.topic = *out.TopicArn
	return e
}

func (e *env) name(kind string, fifo bool) string {
	n := nonName.ReplaceAllString(e.t.Name(), "-")
	n = n[max(0, len(n)-50):] + "-" + kind + "-" + strconv.FormatInt(seq.Add(1), 10)
	if fifo {
		n += ".fifo"
	}
	return n
}

// subscribe creates a queue subscribed to the topic, with an optional
// filter policy, and returns its URL.
func (e *env) subscribe(filterPolicy string) string {
	e.t.Helper()
	fifo := strings.HasSuffix(e.topic, ".fifo")
	in := &sqs.CreateQueueInput{QueueName: aws.String(e.name("q", fifo))}
	if fifo {
		in.Attributes = map[string]string{"FifoQueue": "true"}
	}
	q, err := e.sqs.CreateQueue(e.ctx, in)
	if err != nil {
		e.t.Fatalf("CreateQueue: %v", err)
	}
	attrs, err := e.sqs.GetQueueAttributes(e.ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		e.t.Fatalf("GetQueueAttributes: %v", err)
	}
	sub := &sns.SubscribeInput{
		TopicArn: aws.String(e.topic), Protocol: aws.String("sqs"),
		Endpoint: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]),
	}
	if filterPolicy != "" {
		sub.Attributes = map[string]string{"FilterPolicy": filterPolicy}
	}
	if _, err := e.sns.Subscribe(e.ctx, sub); err != nil {
		e.t.Fatalf("Subscribe: %v", err)
	}
	return *q.QueueUrl
}

// envelope is the SNS notification as delivered to SQS.
type envelope struct {
	Type              string
	TopicArn          string
	Subject           string
	Message           string
	MessageAttributes map[string]struct{ Type, Value string }
}

// receive returns the notifications waiting in queue.
func (e *env) receive(queue string) []envelope {
	e.t.Helper()
	var out []envelope
	for {
		r, err := e.sqs.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queue), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			e.t.Fatalf("ReceiveMessage: %v", err)
		}
		if len(r.Messages) == 0 {
			return out
		}
		for _, m := range r.Messages {
			var env envelope
			if err := json.Unmarshal([]byte(*m.Body), &env); err != nil {
				e.t.Fatalf("queue message is not an SNS envelope: %v\n%s", err, *m.Body)
			}
			out = append(out, env)
			if _, err := e.sqs.DeleteMessage(e.ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queue), ReceiptHandle: m.ReceiptHandle}); err != nil {
				e.t.Fatal(err)
			}
		}
	}
}

func reviewRecord(id, outcome string) *audit.Record {
	r := audittest.Record(id)
	r.Outcome = outcome
	r.Decision = "review"
	r.FailureReason = "bucket is tagged data-classification=public-website"
	r.Reasons = []audit.Reason{{Check: "protected", LeadsTo: "review", Message: "bucket is tagged data-classification=public-website"}}
	r.Approval = nil // see TestApprovalRequestIsAnnounced
	return r
}

func TestPublishesReviewWithFullContext(t *testing.T) {
	e := newEnv(t, false)
	q := e.subscribe("")
	s := snsreview.New(e.sns, e.topic)
	r := reviewRecord("rec-review-1", "review")
	if err := s.Write(e.ctx, r); err != nil {
		t.Fatalf("Write: %v", err)
	}
	got := e.receive(q)
	if len(got) != 1 {
		t.Fatalf("received %d notifications, want 1", len(got))
	}
	n := got[0]
	if want := "Remedy review: HIGH S3 Bucket allows public access on payments-exports (111111111111)"; n.Subject != want {
		t.Errorf("Subject = %q, want %q", n.Subject, want)
	}
	attrs := map[string]string{}
	for k, v := range n.MessageAttributes {
		if v.Type != "String" {
			t.Errorf("attribute %s has type %s, want String", k, v.Type)
		}
		attrs[k] = v.Value
	}
	wantAttrs := map[string]string{
		"outcome": "review", "decision": "review", "severity": "HIGH", "account": "111111111111",
		"region": "us-east-1", "action": "s3-block-public-access", "environment": "production", "resource_type": "bucket",
	}
	if diff := cmp.Diff(wantAttrs, attrs); diff != "" {
		t.Errorf("message attributes (-want +got):\n%s", diff)
	}

	var m snsreview.Message
	if err := json.Unmarshal([]byte(n.Message), &m); err != nil {
		t.Fatalf("Message is not a review document: %v\n%s", err, n.Message)
	}
	want := snsreview.Message{
		Type: snsreview.MessageType, Subject: n.Subject, RecordID: "rec-review-1", Time: r.Time,
		Outcome: "review", Decision: "review", Action: "s3-block-public-access",
		FailureReason: r.FailureReason, Reasons: r.Reasons, Finding: r.Finding, Resource: r.Resource,
		Links: []snsreview.Link{
			{Name: "Wiz issue", URL: "https://app.wiz.io/issues#~(issue~'5b0e6c9a-1f0e-4d6e-9a53-2f1c0d4b7e11)"},
			{Name: "AWS console", URL: "https://s3.console.aws.amazon.com/s3/buckets/payments-exports?region=us-east-1"},
		},
		Correlation: r.Correlation, PolicyVersion: r.PolicyVersion, Evidence: &r.Evidence,
	}
	rawJSON := cmp.Comparer(func(a, b json.RawMessage) bool {
		var x, y any
		return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && cmp.Equal(x, y)
	})
	if diff := cmp.Diff(want, m, rawJSON, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("review document (-want +got):\n%s", diff)
	}
}

func TestOnlyReviewFailedAndRejectedArePublished(t *testing.T) {
	e := newEnv(t, false)
	q := e.subscribe("")
	s := snsreview.New(e.sns, e.topic)
	for _, outcome := range []string{"applied", "review", "skipped", "failed", "rejected", "compliant", "planned", "applied-unverified"} {
		if err := s.Write(e.ctx, reviewRecord("rec-"+outcome, outcome)); err != nil {
			t.Fatalf("Write %s: %v", outcome, err)
		}
	}
	var got []string
	for _, n := range e.receive(q) {
		got = append(got, n.MessageAttributes["outcome"].Value)
	}
	slices.Sort(got)
	if diff := cmp.Diff([]string{"applied-unverified", "failed", "rejected", "review"}, got); diff != "" {
		t.Errorf("published outcomes (-want +got):\n%s", diff)
	}
}

func TestSubscriptionFilterOnAttributes(t *testing.T) {
	e := newEnv(t, false)
	all := e.subscribe("")
	failedOnly := e.subscribe(`{"outcome":["failed"]}`)
	team := e.subscribe(`{"account":["222222222222"]}`)
	s := snsreview.New(e.sns, e.topic)
	r1 := reviewRecord("r1", "review")
	r2 := reviewRecord("r2", "failed")
	r2.Resource.Account = "222222222222"
	for _, r := range []*audit.Record{r1, r2} {
		if err := s.Write(e.ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(q string) []string {
		var out []string
		for _, n := range e.receive(q) {
			var m snsreview.Message
			if err := json.Unmarshal([]byte(n.Message), &m); err != nil {
				t.Fatal(err)
			}
			out = append(out, m.RecordID)
		}
		slices.Sort(out)
		return out
	}
	tests := []struct {
		name, queue string
		want        []string
	}{
		{"no filter", all, []string{"r1", "r2"}},
		{"outcome failed", failedOnly, []string{"r2"}},
		{"account", team, []string{"r2"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, ids(tt.queue)); diff != "" {
			t.Errorf("%s: delivered records (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestPublishErrorIsReturned(t *testing.T) {
	e := newEnv(t, false)
	s := snsreview.New(e.sns, e.topic+"-missing")
	if err := s.Write(e.ctx, reviewRecord("r", "review")); err == nil {
		t.Fatal("Write to a missing topic returned nil: a review would be dropped silently")
	}
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	if err := snsreview.New(e.sns, e.topic).Write(ctx, reviewRecord("r", "review")); err == nil {
		t.Fatal("Write with a cancelled context returned nil")
	}
}

func TestLargeEvidenceIsShed(t *testing.T) {
	e := newEnv(t, false)
	q := e.subscribe("")
	r := reviewRecord("big", "failed")
	r.Evidence.Before = json.RawMessage(`"` + strings.Repeat("x", 300<<10) + `"`)
	if err := snsreview.New(e.sns, e.topic).Write(e.ctx, r); err != nil {
		t.Fatalf("Write: %v", err)
	}
	got := e.receive(q)
	if len(got) != 1 {
		t.Fatalf("received %d notifications, want 1", len(got))
	}
	var m snsreview.Message
	if err := json.Unmarshal([]byte(got[0].Message), &m); err != nil {
		t.Fatal(err)
	}
	if !m.EvidenceTruncated || m.Evidence == nil || m.Evidence.Before != nil {
		t.Errorf("evidence not shed: truncated=%v evidence=%v", m.EvidenceTruncated, m.Evidence != nil)
	}
	if diff := cmp.Diff(r.Evidence.Changes, m.Evidence.Changes); diff != "" {
		t.Errorf("changes lost (-want +got):\n%s", diff)
	}
}

func TestFIFOTopicDeduplicatesRetriedWrite(t *testing.T) {
	e := newEnv(t, true)
	q := e.subscribe("")
	s := snsreview.New(e.sns, e.topic)
	r := reviewRecord("fifo-1", "review")
	for range 2 {
		if err := s.Write(e.ctx, r); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	if got := len(e.receive(q)); got != 1 {
		t.Errorf("received %d notifications for one record written twice, want 1", got)
	}
}

func TestSubject(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Remedy review: HIGH x", "Remedy review: HIGH x"},
		{"line\nbreak\t\ttabs  spaces", "line break tabs spaces"},
		{"non-ASCII hıgh é", "non-ASCII h?gh ?"},
		{"  ", "Remedy review"},
		{strings.Repeat("a", 150), strings.Repeat("a", 97) + "..."},
	}
	for _, tt := range tests {
		got := snsreview.Subject(tt.in)
		if got != tt.want {
			t.Errorf("Subject(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if len(got) > 100 {
			t.Errorf("Subject(%q) is %d characters, over SNS's 100", tt.in, len(got))
		}
	}
}

func TestConsoleURL(t *testing.T) {
	tests := []struct {
		res  audit.Resource
		want string
	}{
		{audit.Resource{ID: "arn:aws:s3:::my-bucket", Region: "eu-west-1"}, "https://s3.console.aws.amazon.com/s3/buckets/my-bucket?region=eu-west-1"},
		{audit.Resource{ID: "arn:aws:s3:::my-bucket/key"}, "https://console.aws.amazon.com/go/view?arn=arn%3Aaws%3As3%3A%3A%3Amy-bucket%2Fkey"},
		{audit.Resource{ID: "arn:aws:rds:us-east-1:111111111111:db:prod"}, "https://console.aws.amazon.com/go/view?arn=arn%3Aaws%3Ards%3Aus-east-1%3A111111111111%3Adb%3Aprod"},
		{audit.Resource{ID: "sg-0123", Region: "us-east-2"}, "https://us-east-2.console.aws.amazon.com/ec2/home?region=us-east-2#SecurityGroup:groupId=sg-0123"},
		{audit.Resource{ID: "sg-0123"}, ""},
		{audit.Resource{ID: "something-else", Region: "us-east-1"}, ""},
	}
	for _, tt := range tests {
		if got := snsreview.ConsoleURL(tt.res); got != tt.want {
			t.Errorf("ConsoleURL(%+v) = %q, want %q", tt.res, got, tt.want)
		}
	}
}
