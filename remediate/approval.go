package remediate

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// CheckApproval is the check name of the reasons the approval path
// records: a request for approval, and an approval rejected (forged,
// expired, replayed, for another plan) or not applied.
const CheckApproval = "approval"

// Approval statuses, as audit.Approval.Status records them.
const (
	// ApprovalRequested: the plan was stored as a request and sent to
	// review; nothing was changed.
	ApprovalRequested = "requested"
	// ApprovalGranted: an authentic, unexpired, first use of an approval
	// for the plan live state still yields. The outcome says what the
	// change came to.
	ApprovalGranted = "granted"
	// ApprovalDrifted: the approval was authentic but live state now
	// yields another plan. Nothing was changed; a new request was made
	// (audit.Approval.NextRequestID).
	ApprovalDrifted = "drifted"
	// ApprovalForged: the signature does not verify with the engine's key.
	ApprovalForged = "forged"
	// ApprovalExpired: the approval, or the request it names, expired.
	ApprovalExpired = "expired"
	// ApprovalReplayed: the request was already consumed by another
	// approval message.
	ApprovalReplayed = "replayed"
	// ApprovalWrongPlan: the approval names a plan hash other than the
	// request's.
	ApprovalWrongPlan = "wrong-plan"
	// ApprovalUnknownRequest: no request of that id is stored.
	ApprovalUnknownRequest = "unknown-request"
	// ApprovalMalformed: the approval message could not be read.
	ApprovalMalformed = "malformed"
	// ApprovalNotApplied: the approval was authentic but the engine would
	// not act on it (the policy no longer approves the finding, or the
	// engine does not apply changes).
	ApprovalNotApplied = "not-applied"
)

// ApprovalMessageKey is the one top-level key of an approval message
// body: {"remedy_approval": {...}} (see Approval).
const ApprovalMessageKey = "remedy_approval"

// ApprovalRequest is a plan waiting for a person's approval: the engine
// stores one (in Options.Approvals) for each finding a policy requires
// approval for, instead of applying its plan, and routes the finding to
// review with the request's id and plan hash.
type ApprovalRequest struct {
	// ID names the request in approvals and `remedy approve ID`, such as
	// "apr-3f1c…". It is derived from the delivery and the plan hash, so
	// that a retried delivery stores the same request.
	ID string `json:"id"`
	// Finding is the finding as it was enriched when planned; an
	// approval re-enriches and re-decides it before acting.
	Finding *Finding `json:"finding"`
	// Action is the remediation action, such as "rds-disable-public-access".
	Action        string `json:"action"`
	PolicyVersion string `json:"policy_version,omitempty"`
	// Plan is what the remediator would change, read from live state.
	Plan ApprovalPlan `json:"plan"`
	// PlanHash is PlanHash of the finding, action and plan: an approval
	// approves this hash, and nothing is applied unless a fresh plan
	// hashes the same.
	PlanHash string `json:"plan_hash"`
	// RecordID is the id of the review record that announced the request.
	RecordID string `json:"record_id,omitempty"`
	// Created is when it was stored; after Expires no approval of it is
	// accepted.
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	// Consumed is set once, by the first approval that used it.
	Consumed *ApprovalConsumption `json:"consumed,omitempty"`
}

// ApprovalPlan is the part of a Plan a person approves.
type ApprovalPlan struct {
	Before  json.RawMessage `json:"before,omitempty"`
	After   json.RawMessage `json:"after,omitempty"`
	Changes []string        `json:"changes,omitempty"`
}

// ApprovalConsumption records which approval message used a request.
type ApprovalConsumption struct {
	// Token identifies the delivery that consumed the request (the
	// engine's key of the approval message): the same delivery retried
	// may consume it again, any other may not.
	Token    string    `json:"token"`
	Approver string    `json:"approver"`
	Time     time.Time `json:"time"`
}

// PlanHash returns the SHA-256, as "sha256:" and 64 hex digits, of a
// canonical encoding of what a plan would do: the target (the finding's
// account, region, resource type and id, and the action) and the plan's
// before and after states and changes. The states are canonical JSON
// (object keys sorted, insignificant space removed, numbers as written),
// so that two reads of the same live state hash the same; every part is
// length-prefixed, so that no two different plans share an encoding.
func PlanHash(f *Finding, action string, p Plan) string {
	var r Resource
	if f != nil {
		r = f.Resource
	}
	buf := make([]byte, 0, 512)
	add := func(s []byte) {
		buf = strconv.AppendInt(buf, int64(len(s)), 10)
		buf = append(append(append(buf, ':'), s...), '|')
	}
	for _, s := range [...]string{"remedy.plan/v1", r.Account, r.Region, r.Type, r.ID, action} {
		add([]byte(s))
	}
	add(canonicalJSON(p.Before))
	add(canonicalJSON(p.After))
	add([]byte(strconv.Itoa(len(p.Changes))))
	for _, c := range p.Changes {
		add([]byte(c))
	}
	sum := sha256.Sum256(buf)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// canonicalJSON re-encodes a JSON document with sorted keys and no
// insignificant space. A value that is not valid JSON is returned
// trimmed and marked, so that it can never equal a valid document.
func canonicalJSON(doc json.RawMessage) []byte {
	doc = bytes.TrimSpace(doc)
	if len(doc) == 0 {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil || d.More() {
		return append([]byte("!invalid:"), doc...)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return append([]byte("!invalid:"), doc...)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// Approval is a person's approval of one request's plan. It is
// authenticated with HMAC-SHA256 under a key the engine and the approving
// tool share (Options.ApprovalKey; the deployment reads it from an SSM
// SecureString parameter): Sign sets Signature, Verify checks it. It
// travels as an approval message (see ApprovalMessage) on the findings
// queue.
type Approval struct {
	// RequestID is the ApprovalRequest's id.
	RequestID string `json:"request_id"`
	// Approver names the person who approved, such as "alice@example.com".
	Approver string `json:"approver"`
	// PlanHash is the request's plan hash the person saw and approved.
	PlanHash string `json:"plan_hash"`
	// Expires is when the approval stops being accepted.
	Expires time.Time `json:"expires"`
	// Signature is the hex HMAC-SHA256 of the fields above (see Sign).
	Signature string `json:"signature"`
}

// MinApprovalKeyBytes is the shortest approval key accepted: the
// HMAC-SHA256 key should be as long as its output.
const MinApprovalKeyBytes = 32

// ErrApprovalForged is returned by Approval.Verify when the signature
// does not verify: the approval was not made with the key, or was changed
// after it was signed.
var ErrApprovalForged = errors.New("remediate: the approval's signature does not verify with the approval key")

// signingInput is the canonical, length-prefixed encoding of the signed
// fields, with the expiry in UTC so that its JSON round trip keeps it.
func (a Approval) signingInput() []byte {
	buf := make([]byte, 0, 256)
	for _, s := range [...]string{"remedy.approval/v1", a.RequestID, a.Approver, a.PlanHash, a.Expires.UTC().Format(time.RFC3339Nano)} {
		buf = strconv.AppendInt(buf, int64(len(s)), 10)
		buf = append(append(append(buf, ':'), s...), '|')
	}
	return buf
}

func (a Approval) mac(key []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(a.signingInput())
	return m.Sum(nil)
}

// Sign returns a with Signature set: the HMAC-SHA256 under key of
// RequestID, Approver, PlanHash and Expires.
func (a Approval) Sign(key []byte) Approval {
	a.Signature = hex.EncodeToString(a.mac(key))
	return a
}

// Verify checks a's Signature under key in constant time. It returns an
// error wrapping ErrApprovalForged when it does not match.
func (a Approval) Verify(key []byte) error {
	got, err := hex.DecodeString(a.Signature)
	if err != nil || !hmac.Equal(got, a.mac(key)) {
		return fmt.Errorf("%w (request %q, approver %q)", ErrApprovalForged, a.RequestID, a.Approver)
	}
	return nil
}

// ApprovalMessage returns the queue message body that carries a:
// {"remedy_approval": {...}}.
func ApprovalMessage(a Approval) ([]byte, error) {
	return json.Marshal(map[string]Approval{ApprovalMessageKey: a})
}

// ParseApprovalMessage reports whether body is an approval message — a
// JSON object whose only key is "remedy_approval", spelt without escapes
// — and returns its approval. ok is false for any other body, which the engine parses as
// a finding. An approval message whose approval cannot be read returns
// ok and an error.
func ParseApprovalMessage(body []byte) (a Approval, ok bool, err error) {
	// A quick test first, as every finding on the queue passes here: the
	// one key of the object must come first.
	rest, ok := bytes.CutPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("{"))
	if !ok || !bytes.HasPrefix(bytes.TrimLeft(rest, " \t\r\n"), []byte(`"`+ApprovalMessageKey+`"`)) {
		return Approval{}, false, nil
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil || len(top) != 1 {
		return Approval{}, false, nil
	}
	raw, found := top[ApprovalMessageKey]
	if !found {
		return Approval{}, false, nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(&a); err != nil {
		return Approval{}, true, fmt.Errorf("remediate: approval message: %w", err)
	}
	var missing []string
	for _, f := range [...]struct{ name, v string }{{"request_id", a.RequestID}, {"approver", a.Approver}, {"plan_hash", a.PlanHash}, {"signature", a.Signature}} {
		if strings.TrimSpace(f.v) == "" {
			missing = append(missing, f.name)
		}
	}
	if a.Expires.IsZero() {
		missing = append(missing, "expires")
	}
	if len(missing) > 0 {
		return a, true, fmt.Errorf("remediate: approval message: missing %s", strings.Join(missing, ", "))
	}
	return a, true, nil
}

// ApprovalKeySource returns the HMAC key approvals are signed with. A
// source that reads a secret store (SSM Parameter Store) may cache it; an
// error is transient unless marked Permanent.
type ApprovalKeySource interface {
	ApprovalKey(ctx context.Context) ([]byte, error)
}

// ApprovalKeyFunc adapts a function to an ApprovalKeySource.
type ApprovalKeyFunc func(ctx context.Context) ([]byte, error)

// ApprovalKey calls f(ctx).
func (f ApprovalKeyFunc) ApprovalKey(ctx context.Context) ([]byte, error) { return f(ctx) }

// StaticApprovalKey returns a source of a fixed key, such as one read
// once from SSM at start-up.
func StaticApprovalKey(key []byte) ApprovalKeySource {
	k := bytes.Clone(key)
	return ApprovalKeyFunc(func(context.Context) ([]byte, error) { return k, nil })
}

// approvalRequestID derives a request's id from the key of the delivery
// that made it and its plan hash: a retry of that delivery stores the
// same request, a new plan gets a new one.
func approvalRequestID(deliveryKey, planHash string) string {
	sum := sha256.Sum256([]byte(strconv.Itoa(len(deliveryKey)) + ":" + deliveryKey + "|" + planHash))
	return "apr-" + hex.EncodeToString(sum[:16])
}

// approvalDeliveryKey is the idempotency key of an approval message,
// and the token with which it consumes its request: the signed approval
// itself (its signed fields and signature), not the queue's message id.
// Every copy of one approval — a redelivery, a copy the worker requeued
// while throttled, a dead-letter replay — is thus one delivery, which
// finds the evidence an interrupted copy kept and may resume the request
// it consumed; any other approval of the request is a replay. A body that
// could not be read is keyed by its bytes.
func approvalDeliveryKey(a Approval, body []byte, perr error) string {
	var sum [sha256.Size]byte
	if perr != nil {
		sum = sha256.Sum256(body)
	} else {
		sum = sha256.Sum256(append(a.signingInput(), a.Signature...))
	}
	return "a:" + hex.EncodeToString(sum[:])
}
