package awslambda_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/adapters/awslambda"
	"github.com/remedy-sec/remedy/adapters/snsverify/snsverifytest"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/wizpayload"
)

// procFunc is a batch.Processor test double.
type procFunc func(ctx context.Context, m remediate.Message) (*audit.Record, error)

func (f procFunc) Process(ctx context.Context, m remediate.Message) (*audit.Record, error) {
	return f(ctx, m)
}

// recorder is a processor that fails the chosen message ids transiently
// and remembers what it saw, in order.
type recorder struct {
	fail map[string]bool

	mu   sync.Mutex
	seen []remediate.Message
}

func (r *recorder) Process(ctx context.Context, m remediate.Message) (*audit.Record, error) {
	r.mu.Lock()
	r.seen = append(r.seen, m)
	r.mu.Unlock()
	if r.fail[m.ID] {
		return nil, errors.New("throttled")
	}
	return &audit.Record{ID: "r-" + m.ID, Outcome: "applied"}, nil
}

func (r *recorder) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.seen {
		out = append(out, m.ID)
	}
	return out
}

func sqsRecord(id, body, arn, group string, receiveCount int) events.SQSMessage {
	attrs := map[string]string{"ApproximateReceiveCount": fmt.Sprint(receiveCount)}
	if group != "" {
		attrs["MessageGroupId"] = group
	}
	return events.SQSMessage{MessageId: id, Body: body, EventSourceARN: arn, Attributes: attrs, EventSource: "aws:sqs"}
}

func failures(resp events.SQSEventResponse) []string {
	var out []string
	for _, f := range resp.BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	slices.Sort(out)
	return out
}

const stdARN = "arn:aws:sqs:us-east-1:123456789012:remedy-findings"
const fifoARN = "arn:aws:sqs:us-east-1:123456789012:remedy-findings.fifo"

func TestSQSPartialBatchFailure(t *testing.T) {
	tests := []struct {
		name string
		fail []string
		want []string
	}{
		{name: "all acknowledged", fail: nil, want: nil},
		{name: "one transient", fail: []string{"m3"}, want: []string{"m3"}},
		{name: "several transient", fail: []string{"m1", "m5"}, want: []string{"m1", "m5"}},
		{name: "all transient", fail: []string{"m1", "m2", "m3", "m4", "m5"}, want: []string{"m1", "m2", "m3", "m4", "m5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &recorder{fail: map[string]bool{}}
			for _, id := range tt.fail {
				p.fail[id] = true
			}
			var ev events.SQSEvent
			for i := 1; i <= 5; i++ {
				ev.Records = append(ev.Records, sqsRecord(fmt.Sprintf("m%d", i), "{}", stdARN, "", 1))
			}
			resp, err := awslambda.NewSQSHandler(p).Handle(context.Background(), ev)
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if diff := cmp.Diff(tt.want, failures(resp)); diff != "" {
				t.Errorf("BatchItemFailures (-want +got):\n%s", diff)
			}
			if got := len(p.ids()); got != 5 {
				t.Errorf("processed %d records, want 5", got)
			}
		})
	}
}

func TestSQSMessageMapping(t *testing.T) {
	raw := `{"trigger":{"source":"ISSUES"}}`
	sns := `{"Type":"Notification","MessageId":"sns-1","Message":"{\"trigger\":{}}"}`
	ev := events.SQSEvent{Records: []events.SQSMessage{
		sqsRecord("raw", raw, stdARN, "", 3),
		sqsRecord("sns", sns, stdARN, "", 1),
		{MessageId: "no-count", Body: raw, EventSourceARN: stdARN},
	}}
	p := &recorder{}
	if _, err := awslambda.NewSQSHandler(p).Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	type msg struct {
		ID           string
		Body         string
		ReceiveCount int
	}
	var got []msg
	for _, m := range p.seen {
		if m.ReceivedAt.IsZero() {
			t.Errorf("%s: ReceivedAt not set", m.ID)
		}
		got = append(got, msg{m.ID, string(m.Body), m.ReceiveCount})
	}
	slices.SortFunc(got, func(a, b msg) int { return strings.Compare(a.ID, b.ID) })
	want := []msg{{"no-count", raw, 0}, {"raw", raw, 3}, {"sns", sns, 1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("messages given to the processor (-want +got):\n%s", diff)
	}
}

// ceiling bounds the waits of these tests; it is reached only when
// something is broken.
const ceiling = time.Minute

func TestSQSConcurrencyBounded(t *testing.T) {
	// Every record waits until three run at once, so the peak is reached
	// however slowly the goroutines are scheduled; then each runs a little
	// longer, so that a fourth running beside them would be seen.
	full := make(chan struct{})
	fill := sync.OnceFunc(func() { close(full) })
	giveUp, cancel := context.WithTimeout(context.Background(), ceiling)
	defer cancel()
	var running, peak atomic.Int32
	p := procFunc(func(ctx context.Context, m remediate.Message) (*audit.Record, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for old := peak.Load(); n > old && !peak.CompareAndSwap(old, n); old = peak.Load() {
		}
		if n >= 3 {
			fill()
		}
		select {
		case <-full:
		case <-giveUp.Done():
		}
		time.Sleep(5 * time.Millisecond)
		return &audit.Record{}, nil
	})
	var ev events.SQSEvent
	for i := range 10 {
		ev.Records = append(ev.Records, sqsRecord(fmt.Sprint(i), "{}", stdARN, "", 1))
	}
	h := awslambda.NewSQSHandler(p, func(o *awslambda.Options) { o.Concurrency = 3 })
	if _, err := h.Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if got := peak.Load(); got != 3 {
		t.Errorf("peak concurrency %d, want 3", got)
	}
}

func TestSQSFIFO(t *testing.T) {
	// Records as SQS delivers them: in order within each group.
	recs := []struct{ id, group string }{
		{"a1", "A"}, {"b1", "B"}, {"a2", "A"}, {"c1", "C"}, {"b2", "B"}, {"a3", "A"}, {"a4", "A"}, {"b3", "B"},
	}
	tests := []struct {
		name          string
		arn           string
		fail          []string
		wantFailures  []string
		wantProcessed []string // per group A, in order
		notProcessed  []string
	}{
		{
			name: "all succeed", arn: fifoARN,
			wantProcessed: []string{"a1", "a2", "a3", "a4"},
		},
		{
			name: "failure fails the rest of its group only", arn: fifoARN, fail: []string{"a2"},
			wantFailures:  []string{"a2", "a3", "a4"},
			wantProcessed: []string{"a1", "a2"},
			notProcessed:  []string{"a3", "a4"},
		},
		{
			name: "failures in two groups", arn: fifoARN, fail: []string{"a1", "b2"},
			wantFailures:  []string{"a1", "a2", "a3", "a4", "b2", "b3"},
			wantProcessed: []string{"a1"},
			notProcessed:  []string{"a2", "a3", "a4", "b3"},
		},
		{
			name: "standard queue ignores groups", arn: stdARN, fail: []string{"a2"},
			wantFailures:  []string{"a2"},
			wantProcessed: []string{"a1", "a2", "a3", "a4"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mu     sync.Mutex
				order  []string
				active = map[string]bool{}
			)
			fail := map[string]bool{}
			for _, id := range tt.fail {
				fail[id] = true
			}
			p := procFunc(func(ctx context.Context, m remediate.Message) (*audit.Record, error) {
				g := strings.ToUpper(m.ID[:1])
				mu.Lock()
				if active[g] && tt.arn == fifoARN {
					t.Errorf("%s started while another record of group %s was running", m.ID, g)
				}
				active[g] = true
				order = append(order, m.ID)
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
				mu.Lock()
				active[g] = false
				mu.Unlock()
				if fail[m.ID] {
					return nil, errors.New("throttled")
				}
				return &audit.Record{}, nil
			})
			var ev events.SQSEvent
			for _, r := range recs {
				ev.Records = append(ev.Records, sqsRecord(r.id, "{}", tt.arn, r.group, 1))
			}
			resp, err := awslambda.NewSQSHandler(p, func(o *awslambda.Options) { o.Concurrency = 3 }).Handle(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantFailures, failures(resp)); diff != "" {
				t.Errorf("BatchItemFailures (-want +got):\n%s", diff)
			}
			var gotA []string
			for _, id := range order {
				if id[0] == 'a' {
					gotA = append(gotA, id)
				}
				if slices.Contains(tt.notProcessed, id) {
					t.Errorf("%s was processed after an earlier record of its group failed", id)
				}
			}
			if tt.arn == stdARN {
				slices.Sort(gotA) // no order promised
			}
			if diff := cmp.Diff(tt.wantProcessed, gotA); diff != "" {
				t.Errorf("group A processing order (-want +got):\n%s", diff)
			}
		})
	}
}

// pastLimit is the processor of the deadline tests. It records the
// records it is given; the one named hold returns only once the handler's
// start limit has passed for certain, every other one at once. So the
// records before hold start and the ones after it are refused, however
// slow the machine: nothing races a sleep against the limit.
type pastLimit struct {
	deadline time.Time     // the invocation's
	margin   time.Duration // Options.DeadlineMargin
	hold     string

	mu    sync.Mutex
	first time.Time // when the first record started
	seen  []string
}

func (p *pastLimit) Process(ctx context.Context, m remediate.Message) (*audit.Record, error) {
	p.mu.Lock()
	if p.first.IsZero() {
		p.first = time.Now()
	}
	first := p.first
	p.seen = append(p.seen, m.ID)
	p.mu.Unlock()
	if m.ID != p.hold {
		return &audit.Record{}, nil
	}
	// The handler starts no record after deadline − min(margin, left/2),
	// left being the time to the deadline when Handle began: at least
	// deadline − first.
	limit := p.deadline.Add(-min(p.margin, p.deadline.Sub(first)/2))
	select {
	case <-time.After(time.Until(limit) + 10*time.Millisecond):
		return &audit.Record{}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *pastLimit) ids() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.seen)
}

func TestSQSDeadline(t *testing.T) {
	t.Parallel()
	// Concurrency 1, 4 s to the deadline with a 2 s margin: records start
	// during the first 2 s. m1 returns at once, m2 runs past that limit, so
	// the rest are reported without being started.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	deadline, _ := ctx.Deadline()
	const margin, reserve = 2 * time.Second, 20 * time.Millisecond
	p := &pastLimit{deadline: deadline, margin: margin, hold: "m2"}
	var ev events.SQSEvent
	for i := 1; i <= 6; i++ {
		ev.Records = append(ev.Records, sqsRecord(fmt.Sprintf("m%d", i), "{}", stdARN, "", 1))
	}
	h := awslambda.NewSQSHandler(p, func(o *awslambda.Options) {
		o.Concurrency = 1
		o.DeadlineMargin = margin
		o.ResponseReserve = reserve
	})
	resp, err := h.Handle(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if left := time.Until(deadline); left < reserve {
		t.Errorf("Handle returned %s before the deadline, want at least the %s reserve", left, reserve)
	}
	if diff := cmp.Diff([]string{"m1", "m2"}, p.ids()); diff != "" {
		t.Errorf("started records (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"m3", "m4", "m5", "m6"}, failures(resp)); diff != "" {
		t.Errorf("BatchItemFailures (-want +got):\n%s", diff)
	}
}

func TestSQSDeadlineCancelsRunningRecords(t *testing.T) {
	t.Parallel()
	// A record that would run past the deadline is cancelled
	// ResponseReserve before it, reported, and the handler still returns
	// in time. The reserve is capped at a tenth of the invocation, so the
	// invocation is ten times the reserve: the handler has the whole
	// reserve to return after the cancellation.
	const reserve = 500 * time.Millisecond
	var (
		mu          sync.Mutex
		started     time.Time
		cancelledAt time.Time
		recordEnds  time.Time
		hasDeadline bool
	)
	p := procFunc(func(ctx context.Context, m remediate.Message) (*audit.Record, error) {
		mu.Lock()
		started = time.Now()
		recordEnds, hasDeadline = ctx.Deadline()
		mu.Unlock()
		select {
		case <-ctx.Done():
			mu.Lock()
			cancelledAt = time.Now()
			mu.Unlock()
			return nil, ctx.Err()
		case <-time.After(ceiling):
			return &audit.Record{}, nil
		}
	})
	ev := events.SQSEvent{Records: []events.SQSMessage{sqsRecord("slow", "{}", stdARN, "", 1)}}
	h := awslambda.NewSQSHandler(p, func(o *awslambda.Options) {
		o.DeadlineMargin = 10 * time.Millisecond
		o.ResponseReserve = reserve
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*reserve)
	defer cancel()
	deadline, _ := ctx.Deadline()
	resp, err := h.Handle(ctx, ev)
	returned := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"slow"}, failures(resp)); diff != "" {
		t.Errorf("BatchItemFailures (-want +got):\n%s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	// The reserve is min(ResponseReserve, left/10), left being measured
	// before the record started.
	wantReserve := min(reserve, deadline.Sub(started)/10)
	if !hasDeadline || deadline.Sub(recordEnds) < wantReserve {
		t.Errorf("the record's context ends %s before the invocation deadline (has one: %v), want at least %s", deadline.Sub(recordEnds), hasDeadline, wantReserve)
	}
	if cancelledAt.IsZero() {
		t.Errorf("the record's context did not end")
	}
	if !returned.Before(deadline) {
		t.Errorf("Handle returned %s after the invocation deadline, %s after the record was cancelled", returned.Sub(deadline), returned.Sub(cancelledAt))
	}
}

func TestSQSDeadlineMarginCappedAtHalf(t *testing.T) {
	t.Parallel()
	// A 4 s invocation with the default 10 s margin: the margin becomes
	// 2 s, so records start during the first 2 s. Concurrency 1: a1 returns
	// at once, a2 runs past the limit, b1 is refused.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	deadline, _ := ctx.Deadline()
	p := &pastLimit{deadline: deadline, margin: 10 * time.Second, hold: "a2"}
	ev := events.SQSEvent{Records: []events.SQSMessage{
		sqsRecord("a1", "{}", fifoARN, "A", 1), sqsRecord("a2", "{}", fifoARN, "A", 1), sqsRecord("b1", "{}", fifoARN, "B", 1),
	}}
	resp, err := awslambda.NewSQSHandler(p, func(o *awslambda.Options) { o.Concurrency = 1 }).Handle(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a1", "a2"}, p.ids()); diff != "" {
		t.Errorf("started records (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"b1"}, failures(resp)); diff != "" {
		t.Errorf("BatchItemFailures (-want +got):\n%s", diff)
	}
}

func snsRecord(id, message string) events.SNSEventRecord {
	return events.SNSEventRecord{EventSource: "aws:sns", SNS: events.SNSEntity{
		MessageID: id, Type: "Notification", TopicArn: "arn:aws:sns:us-east-1:123456789012:wiz-findings",
		Message: message, Timestamp: time.Date(2026, 11, 2, 10, 11, 12, 0, time.UTC),
	}}
}

func TestSNSHandler(t *testing.T) {
	tests := []struct {
		name    string
		fail    []string
		wantErr bool
	}{
		{name: "acknowledged", wantErr: false},
		{name: "transient failure retries the event", fail: []string{"s2"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &recorder{fail: map[string]bool{}}
			for _, id := range tt.fail {
				p.fail[id] = true
			}
			ev := events.SNSEvent{Records: []events.SNSEventRecord{snsRecord("s1", "{}"), snsRecord("s2", "{}")}}
			err := awslambda.NewSNSHandler(p).Handle(context.Background(), ev)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Handle error = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "s2") {
				t.Errorf("error %q does not name the failed message", err)
			}
			if got := len(p.ids()); got != 2 {
				t.Errorf("processed %d records, want 2", got)
			}
		})
	}
}

func TestSNSHandlerGivesEngineAnEnvelope(t *testing.T) {
	payload, err := os.ReadFile("../../wizpayload/testdata/default.json")
	if err != nil {
		t.Fatal(err)
	}
	p := &recorder{}
	ev := events.SNSEvent{Records: []events.SNSEventRecord{snsRecord("0b9a6c1e-sns-id", string(payload))}}
	if err := awslambda.NewSNSHandler(p).Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if len(p.seen) != 1 {
		t.Fatalf("processed %d records, want 1", len(p.seen))
	}
	var env map[string]string
	if err := json.Unmarshal(p.seen[0].Body, &env); err != nil {
		t.Fatalf("body is not an SNS envelope: %v", err)
	}
	if diff := cmp.Diff(string(payload), env["Message"]); diff != "" {
		t.Errorf("envelope Message differs from the SNS message (-want +got):\n%s", diff)
	}
	// The engine's parser reads it as the SQS-delivered envelope it is.
	f, err := wizpayload.New().Parse(p.seen[0].Body)
	if err != nil {
		t.Fatalf("wizpayload.Parse: %v", err)
	}
	if f.CorrelationID != "0b9a6c1e-sns-id" {
		t.Errorf("CorrelationID = %q, want the SNS MessageId", f.CorrelationID)
	}
}

func TestSNSHandlerDeadline(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	deadline, _ := ctx.Deadline()
	// The default 10 s margin is capped at 2 s: s1 starts and returns at
	// once, s2 starts and runs past the limit, s3 does not start.
	p := &pastLimit{deadline: deadline, margin: 10 * time.Second, hold: "s2"}
	recs := []events.SNSEventRecord{snsRecord("s1", "{}"), snsRecord("s2", "{}"), snsRecord("s3", "{}")}
	h := awslambda.NewSNSHandler(p, func(o *awslambda.Options) { o.Concurrency = 1 })
	err := h.Handle(ctx, events.SNSEvent{Records: recs})
	if !errors.Is(err, awslambda.ErrDeadline) {
		t.Errorf("Handle error = %v, want one wrapping ErrDeadline", err)
	}
	if diff := cmp.Diff([]string{"s1", "s2"}, p.ids()); diff != "" {
		t.Errorf("started records (-want +got):\n%s", diff)
	}
}

// TestSNSHandlerKeepsSignature: the envelope the SNS handler builds from a
// Lambda SNS event still verifies — the signed fields, the timestamp's
// three fractional digits included, reach the engine as SNS signed them.
func TestSNSHandlerKeepsSignature(t *testing.T) {
	const topic = "arn:aws:sns:us-east-1:123456789012:wiz-findings"
	s := snsverifytest.New(t, time.Now().Add(time.Hour))
	v := s.Verifier(t, topic)
	n := s.Notification(topic, `{"issue":{"id":"i-1"}}`)
	n["Subject"] = "Wiz issue"
	s.Sign(n)
	ts, err := time.Parse(time.RFC3339Nano, snsverifytest.Timestamp)
	if err != nil {
		t.Fatal(err)
	}
	rec := events.SNSEventRecord{EventSource: "aws:sns", SNS: events.SNSEntity{
		MessageID: n["MessageId"].(string), Type: "Notification", TopicArn: topic, Subject: "Wiz issue",
		Message: n["Message"].(string), Timestamp: ts, SignatureVersion: "2",
		Signature: n["Signature"].(string), SigningCertURL: s.CertURL(),
	}}
	forged := rec
	forged.SNS.Message = `{"issue":{"id":"i-2"}}`

	verdicts := map[string]error{}
	var mu sync.Mutex
	p := procFunc(func(ctx context.Context, m remediate.Message) (*audit.Record, error) {
		err := v.Authenticate(ctx, m.Body)
		mu.Lock()
		verdicts[string(m.Body)] = err
		mu.Unlock()
		return &audit.Record{}, nil
	})
	if err := awslambda.NewSNSHandler(p).Handle(context.Background(), events.SNSEvent{Records: []events.SNSEventRecord{rec, forged}}); err != nil {
		t.Fatal(err)
	}
	var ok, rejected int
	for body, err := range verdicts {
		var rej *remediate.RejectError
		switch {
		case err == nil && strings.Contains(body, "i-1"):
			ok++
		case errors.As(err, &rej) && strings.Contains(body, "i-2"):
			rejected++
		default:
			t.Errorf("body %s: %v", body, err)
		}
	}
	if ok != 1 || rejected != 1 {
		t.Errorf("%d verified and %d rejected, want 1 and 1", ok, rejected)
	}
}
