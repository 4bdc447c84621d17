package soak

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/internal/faultproxy"
	"github.com/remedy-sec/remedy/internal/scenario"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/wizpayload"
)

// smallPlan is one finding of each case, the rejected one delivered
// twice.
func smallPlan() *plan {
	p := &plan{name: "t", byResource: map[string]*item{}}
	for _, it := range []*item{
		{id: "r1", cat: caseRemediate, action: "s3-block-public-access", account: prod, resource: "b-r1", copies: 1},
		{id: "c1", cat: caseCompliant, action: "s3-block-public-access", account: prod, resource: "b-c1", copies: 1},
		{id: "v1", cat: caseReview, action: "s3-block-public-access", account: restricted, resource: "b-v1", copies: 1},
		{id: "s1", cat: caseSkip, action: "s3-block-public-access", account: prod, resource: "b-s1", copies: 1},
		{id: "j1", cat: caseReject, copies: 2},
		{id: "p1", cat: casePoison, action: "s3-block-public-access", account: staging, resource: "b-p1", copies: 1, code: "SlowDown"},
	} {
		p.items = append(p.items, it)
		if it.resource != "" {
			p.byResource[it.resource] = it
		}
	}
	return p
}

func record(id, outcome string) audit.Record {
	r := audit.Record{ID: "rec-" + id + "-" + outcome, Outcome: outcome, Action: "s3-block-public-access"}
	r.Finding.ID = id
	r.Correlation.MessageID = "m-" + id
	r.ReviewRouted = outcome == "review" || outcome == "failed"
	return r
}

// goodEvidence is what a flawless run of smallPlan leaves.
func goodEvidence() *evidence {
	now := time.Now()
	rej1, rej2 := record("", "rejected"), record("", "rejected")
	rej1.Correlation.MessageID, rej2.Correlation.MessageID = "m-j1-a", "m-j1-b"
	dead := record("p1", string(remediate.OutcomeDeadLettered))
	dead.FailureReason = "remediate: plan for finding p1: api error SlowDown: injected by faultproxy"
	ev := &evidence{
		records: []audit.Record{record("r1", "applied"), record("c1", "compliant"), record("v1", "review"), record("s1", "skipped"), rej1, rej2, dead},
		writes: []faultproxy.Write{
			{Resource: "b-r1", Operation: "PUT /b-r1", Invocation: "i1", Attempt: 1, Fault: "SlowDown"},
			{Resource: "b-r1", Operation: "PUT /b-r1", Invocation: "i1", Attempt: 2, Forwarded: true, Status: 200},
		},
		dlq:     []string{"p1"},
		fixed:   map[string]bool{"b-r1": true, "b-c1": true, "b-v1": false, "b-s1": false, "b-p1": false},
		reviews: []string{"v1", "p1"},
		at:      now,
	}
	ev.keyOf = map[string]string{"r1": "f:r1", "c1": "f:c1", "v1": "f:v1", "s1": "f:s1", "p1": "f:p1"}
	for _, k := range []string{"f:r1", "f:c1", "f:v1", "f:s1", "b:j1-a", "b:j1-b"} {
		ev.claims = append(ev.claims, claim{key: k, status: "done", expires: now.Add(time.Hour)})
	}
	return ev
}

// TestCheck: a flawless run breaks no invariant, and each way of
// breaking one is named by that invariant (and only the ones it
// implies).
func TestCheck(t *testing.T) {
	find := func(ev *evidence, id string) *audit.Record {
		for i := range ev.records {
			if ev.records[i].Finding.ID == id {
				return &ev.records[i]
			}
		}
		t.Fatalf("no record for %s", id)
		return nil
	}
	tests := []struct {
		name  string
		spoil func(ev *evidence)
		want  []string
	}{
		{"flawless", func(ev *evidence) {}, nil},
		{"a fix whose read-back failed goes to review: allowed", func(ev *evidence) {
			r := find(ev, "r1")
			r.Outcome, r.FailureReason, r.ReviewRouted = "failed", "verify: read back: ThrottlingException", true
			ev.reviews = append(ev.reviews, "r1")
		}, nil},
		{"a lost answer retried by the SDK is one write", func(ev *evidence) {
			ev.writes = append(ev.writes, faultproxy.Write{Resource: "b-r1", Operation: "PUT /b-r1", Invocation: "i1", Attempt: 3, Forwarded: true, Status: 200, Fault: "InternalError"})
		}, nil},
		{"a second record after a crash between the audit write and Complete", func(ev *evidence) {
			ev.records = append(ev.records, record("r1", "applied"))
		}, []string{invTerminal}},
		{"a finding never audited", func(ev *evidence) {
			ev.records = slices.DeleteFunc(ev.records, func(r audit.Record) bool { return r.Finding.ID == "s1" })
		}, []string{invTerminal}},
		{"a change recorded as compliant (crash between apply and audit)", func(ev *evidence) {
			find(ev, "r1").Outcome = "compliant"
		}, []string{invOutcome, invRecorded}},
		{"a resource written by two calls", func(ev *evidence) {
			ev.writes = append(ev.writes, faultproxy.Write{Resource: "b-r1", Operation: "PUT /b-r1", Invocation: "i2", Attempt: 1, Forwarded: true, Status: 200})
		}, []string{invOnce}},
		{"a write to a resource under review", func(ev *evidence) {
			ev.writes = append(ev.writes, faultproxy.Write{Resource: "b-v1", Operation: "PUT /b-v1", Invocation: "i3", Attempt: 1, Forwarded: true, Status: 200})
		}, []string{invEligible}},
		{"a write to something no finding names", func(ev *evidence) {
			ev.writes = append(ev.writes, faultproxy.Write{Resource: "unknown resource (ec2 DeleteSecurityGroup)", Operation: "DeleteSecurityGroup", Invocation: "i4", Forwarded: true, Status: 200})
		}, []string{invEligible}},
		{"a write that failed changes nothing", func(ev *evidence) {
			ev.writes = append(ev.writes, faultproxy.Write{Resource: "b-v1", Operation: "PUT /b-v1", Invocation: "i5", Attempt: 1, Fault: "SlowDown"})
		}, nil},
		{"an eligible finding in the dead-letter queue", func(ev *evidence) {
			ev.dlq = append(ev.dlq, "s1")
		}, []string{invDLQ}},
		{"a poison message missing from the dead-letter queue", func(ev *evidence) {
			ev.dlq = nil
		}, []string{invDLQ}},
		{"a dead-lettered record with another reason", func(ev *evidence) {
			find(ev, "p1").FailureReason = "remediate: claim message m-p1: remediate: finding is being processed elsewhere"
		}, []string{invDeadRecord}},
		{"a dead-lettered record naming another failure of the last delivery", func(ev *evidence) {
			find(ev, "p1").FailureReason = "remediate: claim message m-p1: dynamo: claim idempotency key: connection reset by peer"
		}, nil},
		{"a poison message dead-lettered unaudited, no kill near its last delivery", func(ev *evidence) {
			ev.records = slices.DeleteFunc(ev.records, func(r audit.Record) bool { return r.Finding.ID == "p1" })
			ev.retried = map[string]retry{"p1": {receiveCount: maxReceive - 1, at: ev.at, backoff: 16 * time.Second}}
			ev.kills = []time.Time{ev.at.Add(time.Hour)}
		}, []string{invDeadRecord}},
		{"a rejected message not audited", func(ev *evidence) {
			ev.records = slices.DeleteFunc(ev.records, func(r audit.Record) bool { return r.Correlation.MessageID == "m-j1-b" })
		}, []string{invRejected}},
		{"a message left in the queue", func(ev *evidence) {
			ev.queueBusy = 1
		}, []string{invDrained}},
		{"a resource under review changed", func(ev *evidence) {
			ev.fixed["b-v1"] = true
		}, []string{invLive}},
		{"an eligible resource left as it was", func(ev *evidence) {
			ev.fixed["b-r1"] = false
		}, []string{invLive}},
		{"a kept record nobody audited", func(ev *evidence) {
			ev.claims[0].kept, ev.claims[0].keptFor = true, "r1"
		}, []string{invIdempotency}},
		{"a claim still held", func(ev *evidence) {
			ev.claims = append(ev.claims, claim{key: "f:p1", status: "in_progress", expires: ev.at.Add(time.Minute)})
		}, []string{invIdempotency}},
		{"an expired claim of a released poison finding is no violation", func(ev *evidence) {
			ev.claims = append(ev.claims, claim{key: "f:p1", status: "in_progress", expires: ev.at.Add(-time.Minute)})
		}, nil},
		{"a finding whose Complete failed has no done marker", func(ev *evidence) {
			ev.claims[2] = claim{key: "f:v1", status: "in_progress", expires: ev.at.Add(-time.Minute)}
		}, []string{invIdempotency}},
		{"a rejected message without a done marker", func(ev *evidence) {
			ev.claims = ev.claims[:len(ev.claims)-1]
		}, []string{invIdempotency}},
		{"without keys, the count of done markers", func(ev *evidence) {
			ev.keyOf = nil
			ev.claims = ev.claims[1:]
		}, []string{invIdempotency}},
		{"a review nobody was told of", func(ev *evidence) {
			ev.reviews = []string{"p1"}
		}, []string{invReview}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := goodEvidence()
			tt.spoil(ev)
			var got []string
			for _, v := range check(smallPlan(), ev) {
				got = append(got, v.invariant)
				if v.count == 0 || len(v.examples) == 0 {
					t.Errorf("%s: no example", v.invariant)
				}
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("violated invariants (-want +got):\n%s", d)
			}
		})
	}
}

// TestDiedHolding: a poison message whose last delivery was due when
// the worker was killed, and that reached the dead-letter queue without
// a record, is reported apart, not as a broken invariant.
func TestDiedHolding(t *testing.T) {
	ev := goodEvidence()
	ev.records = slices.DeleteFunc(ev.records, func(r audit.Record) bool { return r.Finding.ID == "p1" })
	ev.retried = map[string]retry{"p1": {receiveCount: maxReceive - 1, at: ev.at, backoff: 16 * time.Second}}
	ev.kills = []time.Time{ev.at.Add(17 * time.Second)}
	if vs := check(smallPlan(), ev); len(vs) != 0 {
		t.Errorf("violations %v, want none", vs)
	}
	if d := cmp.Diff([]string{"p1"}, ev.unaudited); d != "" {
		t.Errorf("unaudited (-want +got):\n%s", d)
	}
}

// TestRetries reads the last retried delivery of each finding from the
// workers' logs.
func TestRetries(t *testing.T) {
	dir := t.TempDir()
	log := `{"time":"2026-12-06T04:06:48.6Z","level":"WARN","msg":"sqsworker: transient failure; message retried after a back-off","message_id":"m1","receive_count":1,"backoff":2000000000,"error":"remediate: plan for finding soak-x-00001: s3publicaccess: SlowDown"}
{"time":"2026-12-06T04:07:05.6Z","level":"WARN","msg":"sqsworker: transient failure; message retried after a back-off","message_id":"m1","receive_count":4,"backoff":16000000000,"error":"remediate: plan for finding soak-x-00001: s3publicaccess: SlowDown"}
{"time":"2026-12-06T04:07:06Z","level":"WARN","msg":"sqsworker: transient failure; message retried after a back-off","message_id":"m2","receive_count":2,"backoff":4000000000,"error":"remediate: claim message m2: remediate: finding is being processed elsewhere"}
{"time":"2026-12-06T04:07:07Z","level":"INFO","msg":"finding processed","finding_id":"soak-x-00002"}
not JSON
`
	if err := os.WriteFile(filepath.Join(dir, "worker-a-1.stderr"), []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := retries(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]retry{"soak-x-00001": {receiveCount: 4, at: time.Date(2026, 12, 6, 4, 7, 5, 600_000_000, time.UTC), backoff: 16 * time.Second}}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(retry{})); d != "" {
		t.Errorf("retries (-want +got):\n%s", d)
	}
}

// TestPlan: the plan's shares, fixes, accounts, duplicates and poison.
func TestPlan(t *testing.T) {
	p := newPlan("t", 300, rand.New(rand.NewPCG(1, 2)))
	got := map[category]int{}
	fixesOf := map[category]map[string]bool{}
	accounts := map[string]bool{}
	dups := 0
	for _, it := range p.items {
		got[it.cat]++
		if fixesOf[it.cat] == nil {
			fixesOf[it.cat] = map[string]bool{}
		}
		if it.action != "" {
			fixesOf[it.cat][it.action] = true
		}
		if it.account != "" {
			accounts[it.account] = true
		}
		if it.copies == 2 {
			dups++
			if it.cat == casePoison {
				t.Errorf("poison finding %s is duplicated", it.id)
			}
		}
	}
	want := map[category]int{casePoison: 3, caseReject: 15, caseSkip: 30, caseReview: 60, caseCompliant: 45, caseRemediate: 147}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("findings per case (-want +got):\n%s", d)
	}
	for _, c := range []category{caseRemediate, caseCompliant, caseReview, caseSkip, casePoison} {
		if want := min(len(fixes), got[c]); len(fixesOf[c]) != want {
			t.Errorf("case %s has fixes %v, want %d different", c, fixesOf[c], want)
		}
	}
	if len(accounts) != 3 || dups != 30 {
		t.Errorf("%d accounts, %d duplicated findings; want 3 and 30", len(accounts), dups)
	}
	if n := p.terminal(); n != 300-3-15+p.rejectMessages() {
		t.Errorf("terminal = %d", n)
	}
}

// TestMalformedIsRejected: each malformed payload is one the parser
// rejects (audited and acknowledged, never dead-lettered).
func TestMalformedIsRejected(t *testing.T) {
	w := &scenario.World{Name: "t", Region: "us-east-1"}
	body := w.Payload(scenario.Finding{ID: "f1", Account: prod, Bucket: "b", Owner: "o@example.com"})
	if _, err := wizpayload.New().Parse(body); err != nil {
		t.Fatalf("the well-formed payload: %v", err)
	}
	for n := range 3 {
		_, err := wizpayload.New().Parse(malformed(body, n))
		var rej *remediate.RejectError
		if !errors.As(err, &rej) {
			t.Errorf("malformed payload %d: %v, want a rejection", n, err)
		}
	}
}

// TestWriteOf: calls that change S3, EC2 or KMS are writes to the
// resource they name, or to an unknown one; reads and other services
// are not.
func TestWriteOf(t *testing.T) {
	p := smallPlan()
	p.byResource["sg-0abc"] = &item{id: "g1"}
	p.byResource["1234abcd-12ab-34cd-56ef-1234567890ab"] = &item{id: "k1"}
	for _, tt := range []struct {
		name string
		r    faultproxy.Request
		want string
	}{
		{"S3 put", faultproxy.Request{Service: "s3", Method: http.MethodPut, Path: "/b-r1"}, "b-r1"},
		{"S3 delete", faultproxy.Request{Service: "s3", Method: http.MethodDelete, Path: "/b-c1"}, "b-c1"},
		{"S3 read", faultproxy.Request{Service: "s3", Method: http.MethodGet, Path: "/b-r1"}, ""},
		{"EC2 revoke", faultproxy.Request{Service: "ec2", Operation: "RevokeSecurityGroupIngress", Body: []byte("Action=RevokeSecurityGroupIngress&GroupId=sg-0abc&SecurityGroupRuleId.1=sgr-1")}, "sg-0abc"},
		{"EC2 describe", faultproxy.Request{Service: "ec2", Operation: "DescribeSecurityGroups", Body: []byte("Action=DescribeSecurityGroups&GroupId.1=sg-0abc")}, ""},
		{"EC2 write elsewhere", faultproxy.Request{Service: "ec2", Operation: "DeleteSecurityGroup", Body: []byte("Action=DeleteSecurityGroup&GroupId=sg-other")}, "unknown resource (ec2 DeleteSecurityGroup)"},
		{"KMS by key id", faultproxy.Request{Service: "kms", Operation: "EnableKeyRotation", Body: []byte(`{"KeyId":"1234abcd-12ab-34cd-56ef-1234567890ab"}`)}, "1234abcd-12ab-34cd-56ef-1234567890ab"},
		{"KMS by ARN", faultproxy.Request{Service: "kms", Operation: "DisableKeyRotation", Body: []byte(`{"KeyId":"arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"}`)}, "1234abcd-12ab-34cd-56ef-1234567890ab"},
		{"KMS read", faultproxy.Request{Service: "kms", Operation: "GetKeyRotationStatus", Body: []byte(`{"KeyId":"1234abcd-12ab-34cd-56ef-1234567890ab"}`)}, ""},
		{"DynamoDB", faultproxy.Request{Service: "dynamodb", Operation: "PutItem", Body: []byte(`{}`)}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.writeOf(tt.r); got != tt.want {
				t.Errorf("writeOf = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestFindingOf reads the issue id out of an SNS notification as the
// dead-letter queue holds it.
func TestFindingOf(t *testing.T) {
	body := `{"Type":"Notification","MessageId":"x","Message":"{\"issue\":{\"id\":\"soak-1\"}}"}`
	if got := findingOf([]byte(body)); got != "soak-1" {
		t.Errorf("findingOf = %q, want soak-1", got)
	}
	if got := findingOf([]byte(strings.Repeat("{", 3))); got != "" {
		t.Errorf("findingOf(garbage) = %q, want empty", got)
	}
}

// TestSerialize: the proxy serializes the writes to one DynamoDB item,
// and the sends to and deletes from the findings queue, and nothing
// else.
func TestSerialize(t *testing.T) {
	w := &scenario.World{
		TopicARN: "arn:aws:sns:us-east-1:123456789012:s-findings", QueueURL: "http://127.0.0.1:1/123456789012/s-findings",
	}
	queue := "sqs " + w.QueueURL
	for _, tt := range []struct {
		name string
		r    faultproxy.Request
		want string
	}{
		{"claim", faultproxy.Request{Service: "dynamodb", Operation: "UpdateItem", Body: []byte(`{"TableName":"t","Key":{"pk":{"S":"k"}}}`)}, `t {"pk":{"S":"k"}}`},
		{"publish a finding", faultproxy.Request{Service: "sns", Operation: "Publish", Body: []byte("Action=Publish&Message=x&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A123456789012%3As-findings")}, queue},
		{"publish a review", faultproxy.Request{Service: "sns", Operation: "Publish", Body: []byte("Action=Publish&Message=x&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A123456789012%3As-review")}, ""},
		{"delete", faultproxy.Request{Service: "sqs", Operation: "DeleteMessageBatch", Body: []byte(`{"QueueUrl":"` + w.QueueURL + `","Entries":[]}`)}, queue},
		{"back-off", faultproxy.Request{Service: "sqs", Operation: "ChangeMessageVisibility", Body: []byte(`{"QueueUrl":"` + w.QueueURL + `"}`)}, queue},
		{"delete elsewhere", faultproxy.Request{Service: "sqs", Operation: "DeleteMessage", Body: []byte(`{"QueueUrl":"http://127.0.0.1:1/123456789012/s-review"}`)}, ""},
		{"receive (a long poll holds no lock)", faultproxy.Request{Service: "sqs", Operation: "ReceiveMessage", Body: []byte(`{"QueueUrl":"` + w.QueueURL + `"}`)}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := serialize(w)(tt.r); got != tt.want {
				t.Errorf("serialize = %q, want %q", got, tt.want)
			}
		})
	}
}
