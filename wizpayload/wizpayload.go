package wizpayload

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/remedy-sec/remedy/internal/clip"
	"github.com/remedy-sec/remedy/internal/strictjson"
	"github.com/remedy-sec/remedy/remediate"
)

// Defaults for Options fields left zero.
const (
	DefaultMaxBodyBytes   = 256 << 10
	DefaultMaxDepth       = 64
	DefaultMaxStringBytes = 64 << 10
)

// DefaultTriggerSource is the trigger source accepted when
// Options.AcceptedTriggerSources is nil.
const DefaultTriggerSource = "ISSUES"

// TriggerSourceAPI is the trigger source recorded for the GraphQL issue
// shape, which carries no trigger of its own.
const TriggerSourceAPI = "API"

// Source is the Finding.Source of every finding this package parses.
const Source = "wiz"

// Options configure a Parser. Zero or negative limits take their
// defaults; no limit can be turned off.
type Options struct {
	// MaxBodyBytes bounds the message body and, for an SNS envelope, the
	// Wiz payload inside it. Default 256 KiB; at most 1 GiB.
	MaxBodyBytes int
	// MaxDepth bounds the nesting of objects and arrays in each JSON
	// document (the body, the SNS Message, a tags string). Default 64.
	MaxDepth int
	// MaxStringBytes bounds, decoded, the strings a decision reads that
	// have no tighter bound of their own: tag keys and values, and the
	// payload's declared environment and owner. A longer one is rejected.
	// Identifiers have their own, smaller bounds. Members the parser does
	// not read (a description, a remediation text) are bounded only by
	// MaxBodyBytes, and free text it keeps without deciding on it (names,
	// the automation rule) is cut to 1 KiB, never a reason to reject.
	// Default 64 KiB.
	MaxStringBytes int
	// AcceptedTriggerSources lists the Wiz trigger sources accepted, such
	// as "ISSUES" or "CONTROL", compared case-insensitively. Payloads
	// whose trigger.source is not listed are rejected. Nil means
	// ["ISSUES"]; an empty non-nil slice rejects every payload that
	// carries a trigger. It does not apply to payloads without a trigger:
	// the GraphQL issue shape (TriggerSource "API") and a template
	// without one (a concern, so review).
	AcceptedTriggerSources []string
}

// Parser parses Wiz payloads into findings. It is immutable after New
// and safe for concurrent use. The zero Parser uses the default options.
type Parser struct {
	p parser
	// docs recycles parse trees between calls. It holds no state that
	// outlives a call: a tree is emptied before it is put back.
	docs sync.Pool
}

var _ remediate.Parser = (*Parser)(nil)

// parser is a Parser's configuration and logic, without the pool, so
// that the zero Parser and the function Parse need no allocation for it.
type parser struct {
	maxBody int
	// lim bounds each JSON document (the body, the SNS Message, a tags
	// string): its size, depth, and any one string only by the body limit,
	// since a long member nobody reads is no reason to reject a finding.
	lim strictjson.Limits
	// maxString bounds the strings a decision reads (MaxStringBytes).
	maxString int
	// triggers are the accepted trigger sources, upper case, when
	// customTriggers; otherwise DefaultTriggerSource alone.
	triggers       []string
	customTriggers bool
	docs           *sync.Pool // nil: no reuse
}

// maxPooledNodes bounds the trees kept for reuse, so one large payload
// does not pin its memory.
const maxPooledNodes = 1024

func (p *parser) getDoc() *strictjson.Document {
	if p.docs != nil {
		if d, ok := p.docs.Get().(*strictjson.Document); ok {
			return d
		}
	}
	return new(strictjson.Document)
}

func (p *parser) putDoc(d *strictjson.Document) {
	if p.docs == nil || d.Cap() > maxPooledNodes {
		return
	}
	d.Reset()
	p.docs.Put(d)
}

// matchTrigger returns the accepted trigger source s names.
func (p *parser) matchTrigger(s string) (string, bool) {
	if !p.customTriggers {
		return matchEnum(s, DefaultTriggerSource)
	}
	return matchEnum(s, p.triggers...)
}

// acceptedTriggers lists the accepted trigger sources for a message.
func (p *parser) acceptedTriggers() string {
	if !p.customTriggers {
		return DefaultTriggerSource
	}
	if len(p.triggers) == 0 {
		return "none"
	}
	return strings.Join(p.triggers, ", ")
}

// New returns a Parser configured by optFns, applied in order to a zero
// Options.
func New(optFns ...func(*Options)) *Parser {
	var o Options
	for _, fn := range optFns {
		fn(&o)
	}
	pp := new(Parser)
	pp.p.init(o)
	pp.p.docs = &pp.docs
	return pp
}

func (p *parser) init(o Options) {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxBodyBytes > 1<<30 {
		o.MaxBodyBytes = 1 << 30
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	if o.MaxStringBytes <= 0 {
		o.MaxStringBytes = DefaultMaxStringBytes
	}
	p.maxBody = o.MaxBodyBytes
	p.lim = strictjson.Limits{MaxBytes: o.MaxBodyBytes, MaxDepth: o.MaxDepth, MaxStringBytes: o.MaxBodyBytes}
	p.maxString = o.MaxStringBytes
	if o.AcceptedTriggerSources != nil {
		p.customTriggers = true
		p.triggers = make([]string, 0, len(o.AcceptedTriggerSources))
		for _, s := range o.AcceptedTriggerSources {
			if v, ok := upperASCII(s); ok && v != "" {
				p.triggers = append(p.triggers, v)
			}
		}
	}
}

// Parse parses body with the default options. See Parser.Parse.
func Parse(body []byte) (*remediate.Finding, error) {
	var p parser // no package-level state
	p.init(Options{})
	return p.parse(body)
}

// Parse parses a message body, either a Wiz payload (raw delivery) or an
// SNS Notification envelope whose Message holds one, into a Finding.
//
// A payload that cannot be accepted returns a nil Finding and an error
// wrapping *remediate.RejectError naming the offending field. A payload
// that is well formed but ambiguous returns a Finding with Concerns, one
// per problem, which a policy turns into review.
func (pp *Parser) Parse(body []byte) (*remediate.Finding, error) {
	if pp.p.maxBody == 0 {
		return Parse(body) // the zero Parser
	}
	return pp.p.parse(body)
}

func (p *parser) parse(body []byte) (*remediate.Finding, error) {
	if len(body) > p.maxBody {
		return nil, reject("", "body is "+strconv.Itoa(len(body))+" bytes, over the limit of "+strconv.Itoa(p.maxBody))
	}
	// The trees are used only within this call: the Finding's strings
	// point into the documents' text, never into the trees.
	outer := p.getDoc()
	defer p.putDoc(outer)
	if err := outer.Parse(body, p.lim); err != nil {
		return nil, jsonReject("", "", "", err)
	}
	root := outer.Root()
	var correlation string
	var delivered time.Time // the SNS Timestamp, if any
	var raw []byte
	if isEnvelope(root) {
		msg, id, ts, err := envelope(root)
		if err != nil {
			return nil, err
		}
		inner := p.getDoc()
		defer p.putDoc(inner)
		if err := inner.ParseString(msg, p.lim); err != nil {
			return nil, jsonReject("", "Message", "in the SNS Message: ", err)
		}
		root = inner.Root()
		if isEnvelope(root) {
			return nil, reject("Message", "the SNS Message holds another SNS envelope")
		}
		correlation, delivered = id, ts
		raw = []byte(msg)
	} else {
		raw = bytes.Clone(body)
	}

	f := &remediate.Finding{Source: Source, Raw: raw}
	if err := p.mapPayload(root, f); err != nil {
		return nil, withIDs(err, root)
	}
	finish(f, correlation, delivered)
	return f, nil
}

// finish sets the revision (the trigger type, a colon, and the update or
// else creation time) and, without an SNS MessageId, the correlation id
// "wiz:<issue id>:<revision>", sharing one allocation.
//
// Without an update time, two events of one issue other than its creation
// (a second REOPENED) would share a revision, so the second would be
// taken for a duplicate of the first and never processed: then the SNS
// Timestamp of the delivery, when there is one, is appended as
// "/sns:<time>". SNS stamps each message once, so a redelivery of the
// same message (an SQS retry) keeps its revision. CREATED happens once
// per issue and its creation time tells it apart: it gets no SNS time, so
// a second notification of the same creation is still a duplicate.
func finish(f *remediate.Finding, correlation string, delivered time.Time) {
	t := f.UpdatedAt
	if t.IsZero() {
		t = f.DetectedAt
		if f.TriggerType == "CREATED" {
			delivered = time.Time{}
		}
	} else {
		delivered = time.Time{}
	}
	var buf [128]byte
	b := buf[:0]
	if correlation == "" {
		b = append(b, "wiz:"...)
		b = append(b, f.ID...)
		b = append(b, ':')
	}
	rev := len(b)
	b = append(b, f.TriggerType...)
	b = append(b, ':')
	if !t.IsZero() {
		b = t.AppendFormat(b, time.RFC3339Nano)
	}
	if !delivered.IsZero() {
		b = append(b, "/sns:"...)
		b = delivered.AppendFormat(b, time.RFC3339Nano)
	}
	s := string(b)
	f.Revision = s[rev:]
	f.CorrelationID = correlation
	if correlation == "" {
		f.CorrelationID = s
	}
}

// isEnvelope reports whether root looks like an SNS envelope: any of its
// members has a name SNS uses and Wiz does not. Such a body is processed
// as an envelope or rejected, never read as a Wiz payload.
func isEnvelope(root strictjson.Value) bool {
	for k := range root.Members() {
		switch k {
		case "Type", "Message", "MessageId", "TopicArn":
			return true
		}
	}
	return false
}

// envelope checks an SNS envelope and returns its Message, MessageId and
// Timestamp (zero when absent). Only Notification is processed: a
// SubscriptionConfirmation's URLs are never fetched.
func envelope(root strictjson.Value) (msg, id string, ts time.Time, err error) {
	var typ, mid, m, stamp strictjson.Value
	for k, v := range root.Members() {
		switch k {
		case "Type":
			typ = v
		case "MessageId":
			mid = v
		case "Message":
			m = v
		case "Timestamp":
			stamp = v
		}
	}
	t, err := str(typ, "Type")
	if err != nil {
		return "", "", time.Time{}, err
	}
	switch t {
	case "Notification":
	case "":
		return "", "", time.Time{}, reject("Type", "SNS envelope has no Type")
	default:
		return "", "", time.Time{}, reject("Type", "SNS message type "+clip.Quote(t)+" is not processed; only Notification is")
	}
	id, err = str(mid, "MessageId")
	if err != nil {
		return "", "", time.Time{}, err
	}
	if id == "" {
		return "", "", time.Time{}, reject("MessageId", "SNS envelope has no MessageId")
	}
	if why := checkToken(id, maxIDBytes); why != "" {
		return "", "", time.Time{}, reject("MessageId", "SNS MessageId "+why)
	}
	msg, err = str(m, "Message")
	if err != nil {
		return "", "", time.Time{}, err
	}
	if msg == "" {
		return "", "", time.Time{}, reject("Message", "SNS envelope has no Message")
	}
	if ts, err = timeField(stamp, "Timestamp"); err != nil {
		return "", "", time.Time{}, err
	}
	return msg, id, ts, nil
}

// withIDs adds to the rejection err the ids the payload root still gives,
// so that its record says which finding was lost (see
// remediate.RejectError). Each is read from its usual place in either
// shape and kept only if it passes the check an accepted payload's would:
// an id that is malformed is left out, not repaired.
func withIDs(err error, root strictjson.Value) error {
	var rej *remediate.RejectError
	if !errors.As(err, &rej) {
		return err
	}
	member := func(v strictjson.Value, path ...string) string {
		for _, k := range path {
			if v.Kind() != strictjson.Object {
				return ""
			}
			v, _ = v.Get(k)
		}
		if v.Kind() != strictjson.String {
			return ""
		}
		return v.Text()
	}
	issue, rule, res := member(root, "issue", "id"), member(root, "trigger", "ruleId"), member(root, "resource", "id")
	if issue == "" && res == "" {
		issue, res = member(root, "id"), member(root, "entitySnapshot", "providerId")
	}
	if issue != "" && checkToken(issue, maxIDBytes) == "" {
		rej.FindingID = strings.Clone(issue)
	}
	if rule != "" && checkIdent(rule, maxTokenBytes) == "" {
		rej.RuleID = strings.Clone(rule)
	}
	if res != "" && checkIdent(res, maxResourceIDBytes) == "" && !strings.ContainsAny(res, "*?") {
		rej.ResourceID = strings.Clone(res)
	}
	return err
}

// reject returns an error wrapping a *remediate.RejectError.
func reject(field, reason string) error {
	return fmt.Errorf("wizpayload: %w", &remediate.RejectError{Field: field, Reason: reason})
}

// jsonReject turns a strictjson error into a rejection naming the field:
// prefix (a parent field, for a nested document) and the error's path, or
// rootField when both are empty.
func jsonReject(prefix, rootField, context string, err error) error {
	var e *strictjson.Error
	if !errors.As(err, &e) {
		return reject(prefix, context+err.Error())
	}
	field := prefix
	switch {
	case e.Path == "" && prefix == "":
		field = rootField
	case e.Path == "":
	case field == "":
		field = e.Path
	case strings.HasPrefix(e.Path, "["):
		field += e.Path
	default:
		field += "." + e.Path
	}
	reason := context + e.Err.Error()
	if e.Detail != "" {
		reason += ": " + e.Detail
	}
	reason += " at byte " + strconv.Itoa(e.Offset)
	// A path is built from payload keys: bound it like any echoed value.
	if len(field) > maxFieldBytes {
		field = clip.UTF8(field, maxFieldBytes) + "…"
	}
	return reject(field, reason)
}

// maxFieldBytes bounds a field path in a rejection.
const maxFieldBytes = 256
