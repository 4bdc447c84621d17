package snsverify_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/remedy-sec/remedy/adapters/snsverify"
	"github.com/remedy-sec/remedy/adapters/snsverify/snsverifytest"
	"github.com/remedy-sec/remedy/remediate"
)

const topic = "arn:aws:sns:eu-west-1:111122223333:remedy-findings"

// note returns a notification of topic carrying msg, with subject (nil:
// none) and SignatureVersion version, signed by s.
func note(s *snsverifytest.Signer, msg string, subject *string, version string) snsverifytest.Notification {
	n := s.Notification(topic, msg)
	if subject != nil {
		n["Subject"] = *subject
	}
	n["SignatureVersion"] = version
	s.Sign(n)
	return n
}

func rejected(err error) (*remediate.RejectError, bool) {
	var rej *remediate.RejectError
	return rej, errors.As(err, &rej)
}

func TestAuthenticate(t *testing.T) {
	s := snsverifytest.New(t, time.Now().Add(24*time.Hour))
	subject := "Wiz issue"
	payload := `{"issue":{"id":"i-1"}}`
	tests := []struct {
		name      string
		allowV1   bool // Options.AllowSignatureV1
		body      func() []byte
		wantField string // "" accepts; "-" rejects without naming a field
	}{
		{name: "version 1 with a subject, allowed", allowV1: true, body: func() []byte { return note(s, payload, &subject, "1").JSON(t) }},
		{name: "version 1 without AllowSignatureV1", wantField: "SignatureVersion", body: func() []byte { return note(s, payload, &subject, "1").JSON(t) }},
		{name: "version 2 without a subject", body: func() []byte { return note(s, payload, nil, "2").JSON(t) }},
		{name: "null subject is no subject", body: func() []byte {
			n := note(s, payload, nil, "2")
			n["Subject"] = nil
			return n.JSON(t)
		}},
		{name: "message changed", wantField: "Signature", body: func() []byte {
			n := note(s, payload, nil, "2")
			n["Message"] = `{"issue":{"id":"i-2"}}`
			return n.JSON(t)
		}},
		{name: "subject added", allowV1: true, wantField: "Signature", body: func() []byte {
			n := note(s, payload, nil, "1")
			n["Subject"] = "added"
			return n.JSON(t)
		}},
		{name: "timestamp changed", wantField: "Signature", body: func() []byte {
			n := note(s, payload, nil, "2")
			n["Timestamp"] = "2026-11-28T17:31:38.12Z"
			return n.JSON(t)
		}},
		{name: "version swapped", wantField: "Signature", body: func() []byte {
			n := note(s, payload, nil, "1")
			n["SignatureVersion"] = "2"
			return n.JSON(t)
		}},
		{name: "another key", wantField: "Signature", body: func() []byte {
			other := snsverifytest.New(t, time.Now().Add(time.Hour))
			n := note(s, payload, nil, "2")
			n["Signature"] = other.Signature(n)
			return n.JSON(t)
		}},
		{name: "unknown version", wantField: "SignatureVersion", body: func() []byte {
			n := note(s, payload, nil, "2")
			n["SignatureVersion"] = "3"
			return n.JSON(t)
		}},
		{name: "signature not base64", wantField: "Signature", body: func() []byte {
			n := note(s, payload, nil, "2")
			n["Signature"] = "not base64!"
			return n.JSON(t)
		}},
		{name: "subscription confirmation", wantField: "Type", body: func() []byte {
			n := note(s, payload, nil, "2")
			n["Type"] = "SubscriptionConfirmation"
			s.Sign(n)
			return n.JSON(t)
		}},
		{name: "signature missing", wantField: "Signature", body: func() []byte {
			n := note(s, payload, nil, "2")
			delete(n, "Signature")
			return n.JSON(t)
		}},
		{name: "message not a string", wantField: "Message", body: func() []byte {
			n := note(s, payload, nil, "2")
			n["Message"] = map[string]any{"issue": 1}
			return n.JSON(t)
		}},
		{name: "huge certificate URL", wantField: "SigningCertURL", body: func() []byte {
			n := note(s, payload, nil, "2")
			n["SigningCertURL"] = "https://sns.eu-west-1.amazonaws.com/" + strings.Repeat("A", 200_000) + ".pem"
			s.Sign(n)
			return n.JSON(t)
		}},
		{name: "raw delivery", wantField: "-", body: func() []byte { return []byte(payload) }},
		{name: "not JSON", wantField: "-", body: func() []byte { return []byte("Type=Notification") }},
		{name: "duplicate message key", wantField: "-", body: func() []byte {
			b := note(s, payload, nil, "2").JSON(t)
			return append(b[:len(b)-1], []byte(`,"Message":"{}"}`)...)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := s.Verifier(t, topic, func(o *snsverify.Options) { o.AllowSignatureV1 = tt.allowV1 })
			err := v.Authenticate(context.Background(), tt.body())
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Authenticate = %v, want nil", err)
				}
				return
			}
			rej, ok := rejected(err)
			if !ok {
				t.Fatalf("Authenticate = %v, want a *remediate.RejectError", err)
			}
			if tt.wantField != "-" && rej.Field != tt.wantField {
				t.Errorf("rejected field %q (%v), want %q", rej.Field, err, tt.wantField)
			}
			if len(err.Error()) > 1000 {
				t.Errorf("the rejection is %d bytes long; hostile values must be cut", len(err.Error()))
			}
		})
	}
}

// TestNothingFetchedBeforeTopicAndURLChecks: a notification of another
// topic, or naming a certificate anywhere but Amazon SNS, is rejected
// without any download.
func TestNothingFetchedBeforeTopicAndURLChecks(t *testing.T) {
	s := snsverifytest.New(t, time.Now().Add(time.Hour))
	otherTopic := note(s, "{}", nil, "2")
	otherTopic["TopicArn"] = "arn:aws:sns:eu-west-1:999999999999:attacker"
	s.Sign(otherTopic)
	if rej, ok := rejected(s.Verifier(t, topic).Authenticate(context.Background(), otherTopic.JSON(t))); !ok || rej.Field != "TopicArn" {
		t.Errorf("another topic: %v, want rejected on TopicArn", rej)
	}
	// The production URL check: the test server is not Amazon SNS.
	v, err := snsverify.New(snsverify.Options{TopicARNs: []string{topic}, HTTPClient: s.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	if rej, ok := rejected(v.Authenticate(context.Background(), note(s, "{}", nil, "2").JSON(t))); !ok || rej.Field != "SigningCertURL" {
		t.Errorf("certificate on another host: %v, want rejected on SigningCertURL", rej)
	}
	if n := s.Fetches.Load(); n != 0 {
		t.Errorf("%d certificate downloads, want none", n)
	}
}

func TestAWSCertURL(t *testing.T) {
	tests := []struct {
		url, topic string
		want       bool
	}{
		{"https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-7ff5318490ec183fbaddaa2a969abfda.pem", topic, true},
		{"https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem", "arn:aws-cn:sns:cn-north-1:111122223333:t", true},
		{"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", topic, false},            // another region
		{"http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem", topic, false},             // not TLS
		{"https://sns.eu-west-1.amazonaws.com.evil.example/SimpleNotificationService-a.pem", topic, false}, // look-alike host
		{"https://evil.example/sns.eu-west-1.amazonaws.com/SimpleNotificationService-a.pem", topic, false},
		{"https://sns.eu-west-1.amazonaws.com:8443/SimpleNotificationService-abc.pem", topic, false},
		{"https://user@sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem", topic, false},
		{"https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem?x=1", topic, false},
		{"https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem#f", topic, false},
		{"https://sns.eu-west-1.amazonaws.com/other/SimpleNotificationService-abc.pem", topic, false},
		{"https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.txt", topic, false},
		{"https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-../x.pem", topic, false},
		{"https://sns.cn-north-1.amazonaws.com/SimpleNotificationService-abc.pem", "arn:aws-cn:sns:cn-north-1:111122223333:t", false},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := snsverify.AWSCertURL(u, tt.topic); got != tt.want {
			t.Errorf("AWSCertURL(%s, %s) = %v, want %v", tt.url, tt.topic, got, tt.want)
		}
	}
}

// TestCertificateFetchFailures: an unreachable or failing certificate
// host retries the message (never accepts it), and the next attempt
// succeeds once it answers; a certificate that is not there, or expired,
// rejects.
func TestCertificateFetchFailures(t *testing.T) {
	s := snsverifytest.New(t, time.Now().Add(time.Hour))
	v := s.Verifier(t, topic)
	body := note(s, "{}", nil, "2").JSON(t)

	s.Status.Store(http.StatusServiceUnavailable)
	err := v.Authenticate(context.Background(), body)
	if _, ok := rejected(err); ok || err == nil || remediate.IsPermanent(err) {
		t.Fatalf("certificate host answering 503: %v, want a transient error", err)
	}
	s.Status.Store(0)
	if err := v.Authenticate(context.Background(), body); err != nil {
		t.Fatalf("after the host recovered: %v, want accepted", err)
	}

	s2 := snsverifytest.New(t, time.Now().Add(time.Hour))
	s2.Status.Store(http.StatusNotFound)
	if rej, ok := rejected(s2.Verifier(t, topic).Authenticate(context.Background(), note(s2, "{}", nil, "2").JSON(t))); !ok || rej.Field != "SigningCertURL" {
		t.Errorf("certificate not found: %v, want rejected on SigningCertURL", rej)
	}

	expired := snsverifytest.New(t, time.Now().Add(-time.Minute))
	if rej, ok := rejected(expired.Verifier(t, topic).Authenticate(context.Background(), note(expired, "{}", nil, "2").JSON(t))); !ok || !strings.Contains(rej.Reason, "not now") {
		t.Errorf("expired certificate: %v, want rejected as not valid now", rej)
	}

	down := snsverifytest.New(t, time.Now().Add(time.Hour))
	vd := down.Verifier(t, topic)
	down.Close()
	err = vd.Authenticate(context.Background(), note(down, "{}", nil, "2").JSON(t))
	if _, ok := rejected(err); ok || err == nil {
		t.Errorf("certificate host down: %v, want a transient error", err)
	}
}

// TestCertificateCached: many notifications, many of them concurrent
// first requests, download the certificate once.
func TestCertificateCached(t *testing.T) {
	s := snsverifytest.New(t, time.Now().Add(time.Hour))
	v := s.Verifier(t, topic)
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := range 50 {
		body := note(s, `{"n":`+strings.Repeat("1", i%5+1)+`}`, nil, "2").JSON(t)
		wg.Go(func() {
			if err := v.Authenticate(context.Background(), body); err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of 50 notifications failed", failed.Load())
	}
	if n := s.Fetches.Load(); n != 1 {
		t.Errorf("%d certificate downloads for 50 notifications, want 1", n)
	}
}

func TestNewNeedsTopics(t *testing.T) {
	for _, topics := range [][]string{nil, {"remedy-findings"}, {"arn:aws:sqs:eu-west-1:111122223333:q"}, {"arn:aws-iso:sns:us-iso-east-1:111122223333:t"}} {
		if _, err := snsverify.New(snsverify.Options{TopicARNs: topics}); err == nil {
			t.Errorf("New(%q) = nil error, want one", topics)
		}
	}
}

// TestMaxAge: with a replay window, a notification older than it (or
// dated in the future, or with an unreadable time) is rejected before
// its certificate is fetched; without one, age does not matter.
func TestMaxAge(t *testing.T) {
	s := snsverifytest.New(t, time.Now().Add(3*time.Hour))
	// Sent now, so that the certificate is valid at every "now" below.
	sent := time.Now().UTC().Truncate(time.Millisecond)
	newV := func(now time.Time) *snsverify.Verifier {
		return s.Verifier(t, topic, func(o *snsverify.Options) {
			o.MaxAge = time.Hour
			o.Now = func() time.Time { return now }
		})
	}
	fresh := note(s, "{}", nil, "2")
	fresh["Timestamp"] = sent.Format("2006-01-02T15:04:05.000Z")
	s.Sign(fresh)
	body := fresh.JSON(t)
	if err := newV(sent.Add(59*time.Minute)).Authenticate(context.Background(), body); err != nil {
		t.Errorf("59 minutes old: %v, want accepted", err)
	}
	for name, now := range map[string]time.Time{"61 minutes old": sent.Add(61 * time.Minute), "from the future": sent.Add(-10 * time.Minute)} {
		if rej, ok := rejected(newV(now).Authenticate(context.Background(), body)); !ok || rej.Field != "Timestamp" {
			t.Errorf("%s: %v, want rejected on Timestamp", name, rej)
		}
	}
	bad := note(s, "{}", nil, "2")
	bad["Timestamp"] = "yesterday"
	s.Sign(bad)
	if rej, ok := rejected(newV(sent).Authenticate(context.Background(), bad.JSON(t))); !ok || rej.Field != "Timestamp" {
		t.Errorf("unreadable time: %v, want rejected on Timestamp", rej)
	}
	if err := s.Verifier(t, topic).Authenticate(context.Background(), body); err != nil {
		t.Errorf("no replay window: %v, want accepted", err)
	}
}
