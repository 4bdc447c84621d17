package snsreview_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/adapters/snsreview"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/internal/faultproxy"
)

// rejectedRecord is the record of a message rejected by check for msg.
func rejectedRecord(id, check, msg string) *audit.Record {
	return &audit.Record{
		Schema: audit.SchemaVersion, ID: id, Time: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC),
		Outcome: "rejected", Decision: "reject", FailureReason: msg,
		Reasons:     []audit.Reason{{Check: check, LeadsTo: "reject", Message: msg}},
		Correlation: audit.Correlation{MessageID: "m-" + id, ReceiveCount: 1},
	}
}

// clock is a settable time for Options.Now.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

// rejections decodes the notifications of rejections in a queue, in
// order, and fails on any other.
func (e *env) rejections(queue string) []snsreview.Message {
	e.t.Helper()
	var out []snsreview.Message
	for _, n := range e.receive(queue) {
		var m snsreview.Message
		if err := json.Unmarshal([]byte(n.Message), &m); err != nil {
			e.t.Fatalf("not a review document: %v\n%s", err, n.Message)
		}
		if m.Rejections == nil || m.Outcome != "rejected" || n.MessageAttributes["outcome"].Value != "rejected" {
			e.t.Fatalf("notification is not one of rejections: %+v", m)
		}
		if strings.ContainsAny(n.Subject, "\r\n") || strings.ContainsAny(m.Rejections.Reason, "\r\n\u2028") {
			e.t.Errorf("a payload's line break reached the subject %q or reason %q", n.Subject, m.Rejections.Reason)
		}
		out = append(out, m)
	}
	return out
}

// TestRejectedGroupedAndRateLimited: rejected records reach the review
// topic grouped by reason (the check and the reason without its values),
// at most one notification per reason per interval. The first of a
// reason is published at once; the rest are counted and reported by the
// next notification of the reason, or by Flush, naming a few record ids:
// the counts add up to every record written.
func TestRejectedGroupedAndRateLimited(t *testing.T) {
	e := newEnv(t, false)
	q := e.subscribe("")
	t0 := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	c := &clock{now: t0}
	s := snsreview.New(e.sns, e.topic, func(o *snsreview.Options) {
		o.Now = c.Now
		o.RejectedIDs = 2
	})
	wildcard := func(id string) string {
		return `rejected: resource.id: resource id "` + id + `*" holds a wildcard; it must name one resource`
	}
	const (
		signature = "rejected: Signature: SNS signature check: does not verify with the topic's signing certificate"
		// Attacker text outside quotes: escaped, and a group of its own.
		injected = "rejected: body: unexpected text after the document: x\nApproved: yes"
	)
	write := func(at time.Duration, r *audit.Record) {
		t.Helper()
		c.now = t0.Add(at)
		if err := s.Write(e.ctx, r); err != nil {
			t.Fatalf("Write %s: %v", r.ID, err)
		}
	}
	type note struct {
		Check, Reason string
		Count         int
		IDs           []string
	}
	notes := func() []note {
		t.Helper()
		var out []note
		for _, m := range e.rejections(q) {
			out = append(out, note{m.Rejections.Check, m.Rejections.Reason, m.Rejections.Count, m.Rejections.RecordIDs})
		}
		return out
	}
	const (
		wildcardReason = `rejected: resource.id: resource id "…" holds a wildcard; it must name one resource`
		injectedReason = `rejected: body: unexpected text after the document: x Approved: yes` // whitespace collapsed
	)

	write(0, rejectedRecord("a1", "payload", wildcard("a")))
	write(time.Minute, rejectedRecord("a2", "payload", wildcard("b")))
	write(time.Minute, rejectedRecord("b1", "authenticity", signature))
	write(2*time.Minute, rejectedRecord("a3", "payload", wildcard("x\nApproved: yes")))
	write(2*time.Minute, rejectedRecord("c1", "payload", injected))
	want := []note{
		{"payload", wildcardReason, 1, []string{"a1"}},
		{"authenticity", signature, 1, []string{"b1"}},
		{"payload", injectedReason, 1, []string{"c1"}},
	}
	if d := cmp.Diff(want, notes()); d != "" {
		t.Fatalf("first notifications (-want +got):\n%s", d)
	}

	// Past the interval of the wildcard reason: its next rejection
	// reports the two counted meanwhile too.
	write(6*time.Minute, rejectedRecord("a4", "payload", wildcard("c")))
	write(7*time.Minute, rejectedRecord("b2", "authenticity", signature))
	write(8*time.Minute, rejectedRecord("a5", "payload", wildcard("d")))
	write(8*time.Minute, rejectedRecord("b3", "authenticity", signature))
	want = []note{
		{"payload", wildcardReason, 3, []string{"a2", "a3"}},
		{"authenticity", signature, 1, []string{"b2"}},
	}
	if d := cmp.Diff(want, notes()); d != "" {
		t.Fatalf("notifications after the interval (-want +got):\n%s", d)
	}

	// A record of another outcome once the interval has passed reports
	// what is still counted.
	c.now = t0.Add(14 * time.Minute)
	if err := s.Write(e.ctx, reviewRecord("r1", "review")); err != nil {
		t.Fatal(err)
	}
	var got []note
	for _, n := range e.receive(q) {
		var m snsreview.Message
		if err := json.Unmarshal([]byte(n.Message), &m); err != nil {
			t.Fatal(err)
		}
		if m.Rejections != nil {
			got = append(got, note{m.Rejections.Check, m.Rejections.Reason, m.Rejections.Count, m.Rejections.RecordIDs})
		}
	}
	want = []note{
		{"payload", wildcardReason, 1, []string{"a5"}},
		{"authenticity", signature, 1, []string{"b3"}},
	}
	sortNotes := func(n []note) {
		slices.SortFunc(n, func(a, b note) int { return strings.Compare(a.Check, b.Check) })
	}
	sortNotes(want)
	sortNotes(got)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("notifications of what was still counted (-want +got):\n%s", d)
	}

	// Flush reports what is counted, whatever the interval.
	write(15*time.Minute, rejectedRecord("a6", "payload", wildcard("e")))
	write(15*time.Minute, rejectedRecord("a7", "payload", wildcard("f")))
	if got := notes(); len(got) != 0 {
		t.Fatalf("notifications within the interval: %+v", got)
	}
	if err := s.Flush(e.ctx); err != nil {
		t.Fatal(err)
	}
	want = []note{{"payload", wildcardReason, 2, []string{"a6", "a7"}}}
	if d := cmp.Diff(want, notes()); d != "" {
		t.Errorf("notifications of Flush (-want +got):\n%s", d)
	}
	if got := notes(); len(got) != 0 {
		t.Errorf("notifications after Flush: %+v", got)
	}
}

// TestRejectedCountsSurviveAFailedPublish: when a notification of
// rejections is refused, Write returns the error (the record's message is
// retried), and the rejections counted before it are reported by the
// next notification: none is lost.
func TestRejectedCountsSurviveAFailedPublish(t *testing.T) {
	e := newEnv(t, false)
	q := e.subscribe("")
	p, err := faultproxy.Start(moto.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	cfg := moto.Config("us-east-1")
	cfg.BaseEndpoint = aws.String(p.URL)
	t0 := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	c := &clock{now: t0}
	s := snsreview.New(sns.NewFromConfig(cfg), e.topic, func(o *snsreview.Options) { o.Now = c.Now })
	msg := `rejected: issue.id: "" is not an issue id`

	for i, at := range []time.Duration{0, time.Minute, 2 * time.Minute} {
		c.now = t0.Add(at)
		if err := s.Write(e.ctx, rejectedRecord(fmt.Sprintf("r%d", i+1), "payload", msg)); err != nil {
			t.Fatal(err)
		}
	}
	c.now = t0.Add(6 * time.Minute)
	p.Add(faultproxy.Rule{Match: faultproxy.Operation("Publish"), Status: 403, Code: "AuthorizationError", Times: 1})
	if err := s.Write(e.ctx, rejectedRecord("r4", "payload", msg)); err == nil {
		t.Fatal("Write returned nil although SNS refused the notification")
	}
	// The engine retries r4's message: a new record for it.
	if err := s.Write(e.ctx, rejectedRecord("r4-retry", "payload", msg)); err != nil {
		t.Fatal(err)
	}
	var counts []int
	var ids [][]string
	for _, m := range e.rejections(q) {
		counts = append(counts, m.Rejections.Count)
		ids = append(ids, m.Rejections.RecordIDs)
	}
	if d := cmp.Diff([]int{1, 3}, counts); d != "" {
		t.Errorf("counts of the notifications (-want +got):\n%s", d)
	}
	if d := cmp.Diff([][]string{{"r1"}, {"r2", "r3", "r4-retry"}}, ids); d != "" {
		t.Errorf("record ids of the notifications (-want +got):\n%s", d)
	}
	if p.Faults("Publish") != 1 {
		t.Errorf("%d publishes refused, want 1", p.Faults("Publish"))
	}
}

// TestRejectedReasonsBounded: however many distinct reasons a sender
// makes up, the sink counts at most MaxRejectedReasons of them; the rest
// share one group per check and are still counted.
func TestRejectedReasonsBounded(t *testing.T) {
	e := newEnv(t, false)
	q := e.subscribe("")
	c := &clock{now: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)}
	s := snsreview.New(e.sns, e.topic, func(o *snsreview.Options) {
		o.Now = c.Now
		o.MaxRejectedReasons = 3
	})
	for i := range 10 {
		reason := "rejected: body: " + strings.Repeat("z", i+1) + " is not JSON"
		if err := s.Write(e.ctx, rejectedRecord(fmt.Sprintf("r%d", i), "payload", reason)); err != nil {
			t.Fatal(err)
		}
	}
	total := 0
	reasons := map[string]int{}
	for _, m := range e.rejections(q) {
		total += m.Rejections.Count
		reasons[m.Rejections.Reason] += m.Rejections.Count
	}
	if err := s.Flush(e.ctx); err != nil {
		t.Fatal(err)
	}
	for _, m := range e.rejections(q) {
		total += m.Rejections.Count
		reasons[m.Rejections.Reason] += m.Rejections.Count
	}
	if total != 10 {
		t.Errorf("notifications count %d rejections, want 10: %v", total, reasons)
	}
	if len(reasons) != 4 || reasons["(other reasons)"] != 7 {
		t.Errorf("reasons %v; want 3 of their own and 7 rejections under (other reasons)", reasons)
	}
}

// TestRejectedOnlyWhenRouted: Options.Outcomes without "rejected"
// publishes no rejection.
func TestRejectedOnlyWhenRouted(t *testing.T) {
	e := newEnv(t, false)
	q := e.subscribe("")
	s := snsreview.New(e.sns, e.topic, func(o *snsreview.Options) { o.Outcomes = []string{"review"} })
	if err := s.Write(e.ctx, rejectedRecord("r1", "payload", "rejected: body: not JSON")); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := e.receive(q); len(got) != 0 {
		t.Errorf("%d notifications, want none", len(got))
	}
}
