// Package snsverifytest stands in for Amazon SNS in tests of code that
// verifies SNS signatures: it signs notifications with its own key and
// serves the certificate over TLS on 127.0.0.1, and it builds a
// snsverify.Verifier that trusts that server in place of
// sns.<region>.amazonaws.com.
//
//	s := snsverifytest.New(t, time.Now().Add(time.Hour))
//	body := s.Notification(topic, payload).JSON(t)
//	engine := ... remediate.Options{Authenticator: s.Verifier(t, topic)} ...
package snsverifytest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/remedy-sec/remedy/adapters/snsverify"
)

// CertPath is the path the certificate is served at.
const CertPath = "/SimpleNotificationService-0123456789abcdef.pem"

// Signer is a stand-in for Amazon SNS. Create it with New.
type Signer struct {
	key *rsa.PrivateKey
	srv *httptest.Server
	pem []byte
	// Fetches counts certificate downloads.
	Fetches atomic.Int32
	// Status, if non-zero, is answered instead of the certificate.
	Status atomic.Int32
}

// New returns a signer whose certificate is valid until notAfter (from an
// hour ago). Its server stops when the test ends.
func New(t testing.TB, notAfter time.Time) *Signer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "sns.amazonaws.com"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	s := &Signer{key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Fetches.Add(1)
		if st := s.Status.Load(); st != 0 {
			w.WriteHeader(int(st))
			return
		}
		if r.URL.Path != CertPath {
			http.NotFound(w, r)
			return
		}
		w.Write(s.pem)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// CertURL is the SigningCertURL of the signer's notifications.
func (s *Signer) CertURL() string { return s.srv.URL + CertPath }

// HTTPClient trusts the signer's TLS server.
func (s *Signer) HTTPClient() *http.Client { return s.srv.Client() }

// Close stops the certificate server (a host that is down).
func (s *Signer) Close() { s.srv.Close() }

// Verifier returns a verifier of topic that fetches certificates from
// the signer's server, and only from there; optFns change its other
// options.
func (s *Signer) Verifier(t testing.TB, topic string, optFns ...func(*snsverify.Options)) *snsverify.Verifier {
	t.Helper()
	host := strings.TrimPrefix(s.srv.URL, "https://")
	o := snsverify.Options{
		TopicARNs:  []string{topic},
		HTTPClient: s.HTTPClient(),
		CertURLAllowed: func(u *url.URL, _ string) bool {
			return u.Scheme == "https" && u.Host == host && strings.HasSuffix(u.Path, ".pem")
		},
	}
	for _, fn := range optFns {
		fn(&o)
	}
	v, err := snsverify.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Notification is an SNS envelope as SNS delivers it to SQS: field name
// to value (a string, or anything else to test malformed envelopes).
type Notification map[string]any

// Timestamp is the Timestamp of the signer's notifications; its trailing
// zero catches re-encodings that drop it.
const Timestamp = "2026-11-28T17:31:38.120Z"

// Notification returns a notification of topic carrying message, signed
// with SignatureVersion "2".
func (s *Signer) Notification(topic, message string) Notification {
	n := Notification{
		"Type": "Notification", "MessageId": "6f3c5b9e-41e0-5d6a-9a47-3e2c7b1d0a11", "TopicArn": topic,
		"Message": message, "Timestamp": Timestamp, "SignatureVersion": "2",
		"SigningCertURL": s.CertURL(),
		"UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=" + topic + ":1",
	}
	s.Sign(n)
	return n
}

// Sign sets n's Signature over the string SNS signs, with the hash of n's
// SignatureVersion ("1": SHA1, otherwise SHA256).
func (s *Signer) Sign(n Notification) {
	n["Signature"] = s.Signature(n)
}

// Signature returns the signature of n without setting it.
func (s *Signer) Signature(n Notification) string {
	var b strings.Builder
	for _, k := range []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"} {
		if v, ok := n[k].(string); ok {
			b.WriteString(k + "\n" + v + "\n")
		}
	}
	var sig []byte
	var err error
	if n["SignatureVersion"] == "1" {
		sum := sha1.Sum([]byte(b.String()))
		sig, err = rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA1, sum[:])
	} else {
		sum := sha256.Sum256([]byte(b.String()))
		sig, err = rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	}
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// JSON encodes n.
func (n Notification) JSON(t testing.TB) []byte {
	t.Helper()
	b, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
