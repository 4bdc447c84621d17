package snsverify

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/remedy-sec/remedy/internal/clip"
	"github.com/remedy-sec/remedy/internal/strictjson"
	"github.com/remedy-sec/remedy/remediate"
)

// Options configure a Verifier.
type Options struct {
	// TopicARNs lists the topics whose notifications are accepted.
	// Required.
	TopicARNs []string
	// HTTPClient fetches signing certificates. Nil means a client with a
	// 10 s timeout that follows no redirect.
	HTTPClient *http.Client
	// CertURLAllowed decides whether a SigningCertURL may be fetched for
	// a notification of topicARN. Nil means AWSCertURL. Replace it only
	// in tests.
	CertURLAllowed func(u *url.URL, topicARN string) bool
	// MaxCerts bounds the certificate cache. Default 32.
	MaxCerts int
	// MaxBodyBytes bounds the envelope. Default 1 MiB (SNS messages are
	// at most 256 KiB).
	MaxBodyBytes int
	// MaxAge, if set, rejects notifications whose Timestamp is older (or
	// more than 5 minutes in the future): a replay window, so that a
	// captured notification cannot be sent again once its idempotency
	// marker expired. Keep it no longer than the idempotency store's
	// DoneTTL, and longer than a message can wait in the queue for its
	// last delivery (visibility timeout × maxReceiveCount), or late
	// retries are rejected rather than retried; a replay from the
	// dead-letter queue older than MaxAge is rejected too. Zero checks no
	// age.
	MaxAge time.Duration
	// AllowSignatureV1 accepts SignatureVersion "1" (SHA1withRSA) as well
	// as "2" (SHA256withRSA). Off by default: set the topic's
	// SignatureVersion attribute to 2 rather than turning this on; SHA-1
	// signatures are the weaker of the two.
	AllowSignatureV1 bool
	// Now is for tests. Nil means time.Now.
	Now func() time.Time
}

// Verifier checks SNS signatures. Create it with New; it is safe for
// concurrent use.
type Verifier struct {
	o      Options
	topics map[string]bool

	group singleflight.Group
	mu    sync.Mutex
	certs map[string]cachedCert
}

type cachedCert struct {
	key     *rsa.PublicKey
	expires time.Time
}

var _ remediate.Authenticator = (*Verifier)(nil)

// New returns a verifier for o.
func New(o Options) (*Verifier, error) {
	if len(o.TopicARNs) == 0 {
		return nil, errors.New("snsverify: Options.TopicARNs is empty: name the topic(s) Wiz publishes to")
	}
	topics := make(map[string]bool, len(o.TopicARNs))
	for _, t := range o.TopicARNs {
		p, _, ok := topicRegion(t)
		if !ok {
			return nil, fmt.Errorf("snsverify: %q is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)", t)
		}
		if !slices.Contains([]string{"aws", "aws-cn", "aws-us-gov"}, p) {
			return nil, fmt.Errorf("snsverify: topic %s is in partition %q, whose certificate host is not known here (aws, aws-cn and aws-us-gov are)", t, p)
		}
		topics[t] = true
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{
			Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	if o.CertURLAllowed == nil {
		o.CertURLAllowed = AWSCertURL
	}
	if o.MaxCerts <= 0 {
		o.MaxCerts = 32
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Verifier{o: o, topics: topics, certs: make(map[string]cachedCert)}, nil
}

var certPath = regexp.MustCompile(`^/SimpleNotificationService-[A-Za-z0-9_-]+\.pem$`)

// AWSCertURL reports whether u is an Amazon SNS signing certificate of
// topicARN's region: https://sns.REGION.amazonaws.com/SimpleNotificationService-….pem
// (amazonaws.com.cn in aws-cn), with no user, port, query or fragment.
func AWSCertURL(u *url.URL, topicARN string) bool {
	partition, region, ok := topicRegion(topicARN)
	if !ok {
		return false
	}
	suffix := ".amazonaws.com"
	if partition == "aws-cn" {
		suffix = ".amazonaws.com.cn"
	}
	return u.Scheme == "https" && u.User == nil && u.Port() == "" && u.RawQuery == "" && u.Fragment == "" &&
		u.Host == "sns."+region+suffix && certPath.MatchString(u.Path)
}

// topicRegion returns the partition and region of an SNS topic ARN.
func topicRegion(arn string) (partition, region string, ok bool) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sns" || parts[3] == "" || parts[5] == "" {
		return "", "", false
	}
	for _, r := range parts[3] {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return "", "", false
		}
	}
	return parts[1], parts[3], true
}

// envelope is the signed part of a notification.
type envelope struct {
	typ, messageID, topicARN, subject, message, timestamp string
	hasSubject                                            bool
	version, signature, certURL                           string
}

// Authenticate accepts body only if it is a notification of an expected
// topic signed by Amazon SNS (see the package documentation). Its errors
// wrap *remediate.RejectError, except those of fetching a certificate,
// which are transient.
func (v *Verifier) Authenticate(ctx context.Context, body []byte) error {
	env, err := v.read(body)
	if err != nil {
		return err
	}
	if v.o.MaxAge > 0 {
		ts, err := time.Parse(time.RFC3339Nano, env.timestamp)
		now := v.o.Now()
		switch {
		case err != nil:
			return reject("Timestamp", clip.Quote(env.timestamp)+" is not an RFC 3339 time")
		case now.Sub(ts) > v.o.MaxAge:
			return reject("Timestamp", fmt.Sprintf("the notification is %s old, older than the %s this engine accepts", now.Sub(ts).Round(time.Second), v.o.MaxAge))
		case ts.Sub(now) > 5*time.Minute:
			return reject("Timestamp", fmt.Sprintf("the notification is dated %s in the future", ts.Sub(now).Round(time.Second)))
		}
	}
	if !v.topics[env.topicARN] {
		return reject("TopicArn", "topic "+clip.Quote(env.topicARN)+" is not one this engine accepts notifications from")
	}
	var hash crypto.Hash
	switch env.version {
	case "1":
		if !v.o.AllowSignatureV1 {
			return reject("SignatureVersion", `"1" (SHA1withRSA) is not accepted: set the topic's SignatureVersion attribute to 2, or allow version 1 with Options.AllowSignatureV1`)
		}
		hash = crypto.SHA1
	case "2":
		hash = crypto.SHA256
	default:
		return reject("SignatureVersion", clip.Quote(env.version)+" is not 1 or 2")
	}
	sig, err := base64.StdEncoding.DecodeString(env.signature)
	if err != nil || len(sig) == 0 {
		return reject("Signature", "is not base64")
	}
	u, err := url.Parse(env.certURL)
	if err != nil || !v.o.CertURLAllowed(u, env.topicARN) {
		return reject("SigningCertURL", clip.Quote(env.certURL)+" is not an Amazon SNS certificate of the topic's region")
	}
	key, err := v.cert(ctx, u.String())
	if err != nil {
		return err
	}
	var digest []byte
	if hash == crypto.SHA1 {
		sum := sha1.Sum(env.stringToSign())
		digest = sum[:]
	} else {
		sum := sha256.Sum256(env.stringToSign())
		digest = sum[:]
	}
	if err := rsa.VerifyPKCS1v15(key, hash, digest, sig); err != nil {
		return reject("Signature", "does not verify with the topic's signing certificate: the notification was not sent by Amazon SNS, or was changed")
	}
	return nil
}

// read extracts the signed fields, each a JSON string.
func (v *Verifier) read(body []byte) (*envelope, error) {
	doc, err := strictjson.Parse(body, strictjson.Limits{MaxBytes: v.o.MaxBodyBytes, MaxDepth: 64, MaxStringBytes: v.o.MaxBodyBytes})
	if err != nil {
		return nil, reject("", "the body is not a JSON SNS envelope: "+err.Error())
	}
	env := &envelope{}
	fields := map[string]*string{
		"Type": &env.typ, "MessageId": &env.messageID, "TopicArn": &env.topicARN, "Message": &env.message,
		"Timestamp": &env.timestamp, "SignatureVersion": &env.version, "Signature": &env.signature,
		"SigningCertURL": &env.certURL, "Subject": &env.subject,
	}
	seen := map[string]bool{}
	for k, val := range doc.Root().Members() {
		dst, ok := fields[k]
		if !ok {
			continue
		}
		switch {
		case k == "Subject" && val.Kind() == strictjson.Null:
			continue
		case val.Kind() != strictjson.String:
			return nil, reject(k, "is not a string")
		}
		*dst = val.Text()
		seen[k] = true
	}
	env.hasSubject = seen["Subject"]
	if !seen["Type"] && !seen["Signature"] && !seen["TopicArn"] {
		return nil, reject("", "the body is not an SNS envelope, so it carries no signature: turn raw message delivery off on the subscription")
	}
	for _, k := range []string{"Type", "MessageId", "TopicArn", "Message", "Timestamp", "SignatureVersion", "Signature", "SigningCertURL"} {
		if !seen[k] || *fields[k] == "" {
			return nil, reject(k, "is missing from the SNS envelope")
		}
	}
	if env.typ != "Notification" {
		return nil, reject("Type", clip.Quote(env.typ)+" is not Notification")
	}
	return env, nil
}

// stringToSign is what SNS signs for a notification.
func (e *envelope) stringToSign() []byte {
	var b strings.Builder
	b.Grow(len(e.message) + len(e.subject) + 256)
	add := func(k, v string) { b.WriteString(k); b.WriteByte('\n'); b.WriteString(v); b.WriteByte('\n') }
	add("Message", e.message)
	add("MessageId", e.messageID)
	if e.hasSubject {
		add("Subject", e.subject)
	}
	add("Timestamp", e.timestamp)
	add("TopicArn", e.topicARN)
	add("Type", e.typ)
	return []byte(b.String())
}

// cert returns the public key of the certificate at u, from the cache or
// fetched once for all concurrent callers.
func (v *Verifier) cert(ctx context.Context, u string) (*rsa.PublicKey, error) {
	now := v.o.Now()
	v.mu.Lock()
	c, ok := v.certs[u]
	v.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.key, nil
	}
	ch := v.group.DoChan(u, func() (any, error) {
		// Detached from one caller's cancellation: the others share it.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		return v.fetch(fctx, u)
	})
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("snsverify: waiting for signing certificate %s: %w", u, ctx.Err())
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*rsa.PublicKey), nil
	}
}

// maxCertBytes bounds a certificate download.
const maxCertBytes = 64 << 10

func (v *Verifier) fetch(ctx context.Context, u string) (*rsa.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, reject("SigningCertURL", err.Error())
	}
	resp, err := v.o.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("snsverify: fetch signing certificate %s: %w", u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxCertBytes+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("snsverify: read signing certificate %s: %w", u, err)
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return nil, fmt.Errorf("snsverify: fetch signing certificate %s: %s", u, resp.Status)
	default:
		// Amazon SNS signs with certificates it serves; one that is not
		// there was not used by SNS.
		return nil, reject("SigningCertURL", fmt.Sprintf("%s answered %s", u, resp.Status))
	}
	if len(data) > maxCertBytes {
		return nil, reject("SigningCertURL", fmt.Sprintf("%s is larger than %d bytes", u, maxCertBytes))
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, reject("SigningCertURL", fmt.Sprintf("%s holds no PEM certificate", u))
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, reject("SigningCertURL", fmt.Sprintf("%s: %v", u, err))
	}
	now := v.o.Now()
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return nil, reject("SigningCertURL", fmt.Sprintf("the certificate at %s is valid from %s to %s, not now",
			u, cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339)))
	}
	key, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, reject("SigningCertURL", fmt.Sprintf("the certificate at %s has no RSA key", u))
	}
	v.remember(u, cachedCert{key: key, expires: cert.NotAfter})
	return key, nil
}

// remember caches a certificate, making room by dropping the one that
// expires first.
func (v *Verifier) remember(u string, c cachedCert) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.certs[u]; !ok && len(v.certs) >= v.o.MaxCerts {
		keys := make([]string, 0, len(v.certs))
		for k := range v.certs {
			keys = append(keys, k)
		}
		first := slices.MinFunc(keys, func(a, b string) int { return v.certs[a].expires.Compare(v.certs[b].expires) })
		delete(v.certs, first)
	}
	v.certs[u] = c
}

func reject(field, reason string) error {
	return &remediate.RejectError{Field: field, Reason: "SNS signature check: " + reason}
}
