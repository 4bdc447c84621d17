package snsreview

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/remedy-sec/remedy/audit"
)

// PublishAPI is the part of the SNS client the sink calls; *sns.Client
// implements it.
type PublishAPI interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

var _ PublishAPI = (*sns.Client)(nil)

// MessageType identifies the JSON document of a review notification.
const MessageType = "remedy.review/v1"

// Link is a named URL in a review notification.
type Link struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// Message is the JSON document published for a review or failed record:
// what a person, or a bridge to a ticketing or chat tool, needs to act.
type Message struct {
	Type     string    `json:"type"`      // MessageType
	Subject  string    `json:"subject"`   // the SNS subject
	RecordID string    `json:"record_id"` // the audit record's id, to find the full record
	Time     time.Time `json:"time"`      // when the message was received
	// Outcome is review or failed (or another routed outcome); Decision,
	// Action and DryRun are the record's.
	Outcome  string `json:"outcome"`
	Decision string `json:"decision,omitempty"`
	Action   string `json:"action,omitempty"`
	DryRun   bool   `json:"dry_run,omitempty"`
	// FailureReason and Reasons say why a person must look.
	FailureReason string         `json:"failure_reason,omitempty"`
	Reasons       []audit.Reason `json:"reasons,omitempty"`
	// Finding and Resource identify what the finding is about.
	Finding  audit.Finding  `json:"finding"`
	Resource audit.Resource `json:"resource"`
	// Links lead to the finding and the resource.
	Links []Link `json:"links,omitempty"`
	// Correlation joins the notification to the delivery and the source.
	Correlation   audit.Correlation `json:"correlation"`
	PolicyVersion string            `json:"policy_version,omitempty"`
	// Evidence is what the remediator read and did, if anything. For a
	// plan that waits for approval it is the plan: the state before and
	// after, and the changes in words.
	Evidence *audit.Evidence `json:"evidence,omitempty"`
	// Approval, set for a plan that waits for approval (status
	// requested, or drifted when an approval came too late), names the
	// request and the plan hash to approve (remedy approve REQUEST_ID);
	// on the record of an approval message it names the approver.
	Approval *audit.Approval `json:"approval,omitempty"`
	// EvidenceTruncated is set when evidence was left out to fit SNS's
	// message size limit; the audit record holds all of it.
	EvidenceTruncated bool `json:"evidence_truncated,omitempty"`
	// Rejections, set on a notification of rejected records, counts the
	// rejections of one reason it stands for; the other fields are those
	// of the latest of them.
	Rejections *Rejections `json:"rejections,omitempty"`
}

// Options configure a Sink.
type Options struct {
	// Outcomes are the record outcomes published; Write ignores the
	// others, so the sink may also sit in an audit.Multi. Default
	// "review", "failed", "applied-unverified" and "rejected"; rejected records are grouped
	// and rate-limited (see RejectedInterval).
	Outcomes []string
	// WizURL is the base URL of the Wiz portal for issue links. Default
	// "https://app.wiz.io"; set it for another Wiz data center.
	WizURL string
	// Links, if set, adds links for a record, such as a runbook or a
	// ticket search.
	Links func(r *audit.Record) []Link
	// SubjectPrefix starts every subject. Default "Remedy".
	SubjectPrefix string
	// RejectedInterval is the least time between two notifications of
	// rejected records of one reason (the check that rejected them and
	// their reason with its values left out). The first rejection of a
	// reason is published at once; those that follow within the interval
	// are counted and reported by the next notification of that reason,
	// or by Flush. Default 5 minutes.
	RejectedInterval time.Duration
	// RejectedIDs is how many record ids a notification of rejections
	// names. Default 5.
	RejectedIDs int
	// MaxRejectedReasons bounds the reasons counted at once; rejections
	// of further reasons are counted together, one group per check.
	// Default 100.
	MaxRejectedReasons int
	// Now is for tests. Nil means time.Now.
	Now func() time.Time
}

// Sink publishes review and failed records to an SNS topic. It is safe
// for concurrent use.
type Sink struct {
	c     PublishAPI
	topic string
	o     Options
	fifo  bool

	mu     sync.Mutex
	groups map[groupKey]*group // rejected records by reason
}

var _ audit.Sink = (*Sink)(nil)

// New returns a sink publishing to topicARN.
func New(client PublishAPI, topicARN string, optFns ...func(*Options)) *Sink {
	o := Options{Outcomes: []string{"review", "failed", "applied-unverified", "rejected"}, WizURL: "https://app.wiz.io", SubjectPrefix: "Remedy"}
	for _, fn := range optFns {
		fn(&o)
	}
	o.WizURL = strings.TrimRight(o.WizURL, "/")
	if o.RejectedInterval <= 0 {
		o.RejectedInterval = 5 * time.Minute
	}
	if o.RejectedIDs <= 0 {
		o.RejectedIDs = 5
	}
	if o.MaxRejectedReasons <= 0 {
		o.MaxRejectedReasons = 100
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Sink{
		c: client, topic: topicARN, o: o, fifo: strings.HasSuffix(topicARN, ".fifo"),
		groups: make(map[groupKey]*group),
	}
}

// maxMessageBytes keeps the published JSON structure under SNS's 256 KiB
// limit, with room for the envelope SNS adds.
const maxMessageBytes = 240 << 10

// Write publishes r if its outcome is one of Options.Outcomes. It returns
// an error if SNS did not accept the notification. A rejected record is
// published at once only when it is the first of its reason in
// Options.RejectedInterval; otherwise it is counted, Write returns nil,
// and the next notification of its reason reports it. Any Write also
// publishes the counts of other reasons whose interval has passed.
func (s *Sink) Write(ctx context.Context, r *audit.Record) error {
	if r == nil {
		return errors.New("snsreview: nil record")
	}
	if !slices.Contains(s.o.Outcomes, r.Outcome) {
		s.flushDue(ctx)
		return nil
	}
	if r.Outcome == rejected {
		return s.writeRejected(ctx, r)
	}
	err := s.publish(ctx, s.Message(r), r, r.ID)
	s.flushDue(ctx)
	return err
}

// publish sends m, built from r, with r's message attributes; dedup is
// its deduplication id on a FIFO topic.
func (s *Sink) publish(ctx context.Context, m Message, r *audit.Record, dedup string) error {
	body, err := structure(m)
	if err != nil {
		return err
	}
	in := &sns.PublishInput{
		TopicArn:          aws.String(s.topic),
		Subject:           aws.String(m.Subject),
		Message:           aws.String(body),
		MessageStructure:  aws.String("json"),
		MessageAttributes: attributes(r),
	}
	if s.fifo {
		in.MessageGroupId = aws.String(cmp.Or(r.Resource.Account, "unknown-account"))
		in.MessageDeduplicationId = aws.String(dedup)
	}
	if _, err := s.c.Publish(ctx, in); err != nil {
		return fmt.Errorf("snsreview: publish record %s to %s: %w", r.ID, s.topic, err)
	}
	return nil
}

// Message returns the notification published for r.
func (s *Sink) Message(r *audit.Record) Message {
	m := Message{
		Type: MessageType, Subject: s.subject(r), RecordID: r.ID, Time: r.Time,
		Outcome: r.Outcome, Decision: r.Decision, Action: r.Action, DryRun: r.DryRun,
		FailureReason: r.FailureReason, Reasons: r.Reasons, Finding: r.Finding, Resource: r.Resource,
		Links: s.links(r), Correlation: r.Correlation, PolicyVersion: r.PolicyVersion,
		Approval: r.Approval,
	}
	if !isZeroEvidence(r.Evidence) {
		ev := r.Evidence
		m.Evidence = &ev
	}
	return m
}

// structure returns the MessageStructure document: plain text for
// email, the JSON Message for everything else. Evidence is shed, largest
// first, if the whole would exceed SNS's limit.
func structure(m Message) (string, error) {
	for attempt := 0; ; attempt++ {
		doc, err := json.Marshal(m)
		if err != nil {
			return "", fmt.Errorf("snsreview: encode record %s: %w", m.RecordID, err)
		}
		b, err := json.Marshal(map[string]string{"default": string(doc), "email": text(m)})
		if err != nil {
			return "", fmt.Errorf("snsreview: encode record %s: %w", m.RecordID, err)
		}
		if len(b) <= maxMessageBytes {
			return string(b), nil
		}
		switch {
		case attempt == 0 && m.Evidence != nil:
			ev := *m.Evidence
			ev.Before, ev.After, ev.Rollback = nil, nil, nil
			m.Evidence, m.EvidenceTruncated = &ev, true
		case attempt <= 1 && m.Evidence != nil:
			m.Evidence, m.EvidenceTruncated = nil, true
		case len(m.Reasons) > 10 || len(m.FailureReason) > 4096:
			m.Reasons = m.Reasons[:min(len(m.Reasons), 10)]
			m.FailureReason = truncate(m.FailureReason, 4096)
			m.EvidenceTruncated = true
		default:
			return "", fmt.Errorf("snsreview: notification for record %s is %d bytes, over SNS's limit", m.RecordID, len(b))
		}
	}
}

func (s *Sink) subject(r *audit.Record) string {
	var b strings.Builder
	b.WriteString(s.o.SubjectPrefix)
	b.WriteString(" ")
	if awaitsApproval(r.Approval) {
		b.WriteString("approval needed")
	} else {
		b.WriteString(cmp.Or(r.Outcome, "review"))
	}
	b.WriteString(":")
	if r.Finding.Severity != "" {
		b.WriteString(" " + r.Finding.Severity)
	}
	b.WriteString(" " + cmp.Or(r.Finding.ControlName, r.Action, "finding "+r.Finding.ID))
	if res := cmp.Or(r.Resource.Name, r.Resource.ID); res != "" {
		b.WriteString(" on " + res)
	}
	if r.Resource.Account != "" {
		b.WriteString(" (" + r.Resource.Account + ")")
	}
	return Subject(b.String())
}

// Subject makes s a valid SNS subject: printable ASCII only (others
// become '?'), spaces collapsed, at most 100 characters, ending in "..."
// when cut.
func Subject(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			space = b.Len() > 0
			continue
		case r < 0x20 || r > 0x7e:
			r = '?'
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	out := b.String()
	if len(out) > 100 {
		out = strings.TrimRight(out[:97], " ") + "..."
	}
	if out == "" {
		out = "Remedy review"
	}
	return out
}

func (s *Sink) links(r *audit.Record) []Link {
	var out []Link
	if strings.EqualFold(r.Finding.Source, "wiz") && r.Finding.ID != "" && s.o.WizURL != "" {
		out = append(out, Link{Name: "Wiz issue", URL: s.o.WizURL + "/issues#~(issue~'" + url.PathEscape(r.Finding.ID) + ")"})
	}
	if u := ConsoleURL(r.Resource); u != "" {
		out = append(out, Link{Name: "AWS console", URL: u})
	}
	if s.o.Links != nil {
		out = append(out, s.o.Links(r)...)
	}
	return out
}

// ConsoleURL returns a link to the resource in the AWS console, or "" if
// none can be derived. The reader must be signed in to the resource's
// account.
func ConsoleURL(res audit.Resource) string {
	id := res.ID
	switch {
	case strings.HasPrefix(id, "arn:aws:s3:::") && !strings.Contains(id[len("arn:aws:s3:::"):], "/"):
		u := "https://s3.console.aws.amazon.com/s3/buckets/" + url.PathEscape(id[len("arn:aws:s3:::"):])
		if res.Region != "" {
			u += "?region=" + url.QueryEscape(res.Region)
		}
		return u
	case strings.HasPrefix(id, "arn:"):
		return "https://console.aws.amazon.com/go/view?arn=" + url.QueryEscape(id)
	case res.Region == "":
		return ""
	}
	for _, e := range [...]struct{ prefix, frag string }{
		{"sg-", "SecurityGroup:groupId="}, {"i-", "InstanceDetails:instanceId="},
		{"vol-", "VolumeDetails:volumeId="}, {"snap-", "SnapshotDetails:snapshotId="},
	} {
		if strings.HasPrefix(id, e.prefix) {
			r := url.QueryEscape(res.Region)
			return "https://" + r + ".console.aws.amazon.com/ec2/home?region=" + r + "#" + e.frag + url.QueryEscape(id)
		}
	}
	return ""
}

// attributes returns the string message attributes that subscription
// filter policies match on.
func attributes(r *audit.Record) map[string]types.MessageAttributeValue {
	out := map[string]types.MessageAttributeValue{}
	for name, v := range map[string]string{
		"outcome": r.Outcome, "decision": r.Decision, "severity": r.Finding.Severity,
		"account": r.Resource.Account, "region": r.Resource.Region, "action": r.Action,
		"environment": r.Finding.Environment, "resource_type": r.Resource.Type,
		"approval": approvalStatus(r.Approval),
	} {
		if v != "" { // SNS rejects empty attribute values
			out[name] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
	}
	return out
}

// awaitsApproval reports whether a is a request a person is asked to
// approve: a new one, or the new one made when an approval came after
// live state changed.
func awaitsApproval(a *audit.Approval) bool {
	return a != nil && (a.Status == "requested" || a.Status == "drifted")
}

func approvalStatus(a *audit.Approval) string {
	if a == nil {
		return ""
	}
	return a.Status
}

// text is the plain-text notification for email subscribers. Every value
// in it goes through Escape: a payload's strings (resource and control
// names, reasons, ids) cannot add lines to it or reorder what it shows.
func text(m Message) string {
	var b strings.Builder
	line := func(label, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-13s %s\n", label+":", Escape(v))
		}
	}
	switch {
	case m.Rejections != nil:
		g := m.Rejections
		fmt.Fprintf(&b, "Remedy rejected %d %s for the same reason and did not process %s: a sender or a payload\n"+
			"template may be broken. Each rejection has an audit record; the latest is below.\n\n",
			g.Count, plural(g.Count, "message", "messages"), plural(g.Count, "it", "them"))
		line("Check", g.Check)
		line("Reason", g.Reason)
		line("Rejections", strconv.Itoa(g.Count))
		line("First", g.First.UTC().Format(time.RFC3339))
		line("Last", g.Last.UTC().Format(time.RFC3339))
		ids := strings.Join(g.RecordIDs, ", ")
		if more := g.Count - len(g.RecordIDs); more > 0 {
			ids += fmt.Sprintf(" and %d more", more)
		}
		line("Records", ids)
		b.WriteString("\n")
	case m.Outcome == "failed":
		b.WriteString("Remedy could not remediate a finding and needs a person to look at it.\n\n")
	case awaitsApproval(m.Approval):
		b.WriteString("Remedy planned a fix that needs a person's approval before it runs. Nothing was changed.\n" +
			"Check the plan below; to let it run, approve its request (the plan is read again first, and\n" +
			"nothing runs if it changed):\n\n")
		id := m.Approval.RequestID
		if m.Approval.NextRequestID != "" {
			id = m.Approval.NextRequestID
		}
		fmt.Fprintf(&b, "  remedy approve %s --approver NAME\n\n", Escape(id))
	default:
		b.WriteString("Remedy routed a finding to human review.\n\n")
	}
	line("Outcome", m.Outcome)
	line("Decision", m.Decision)
	line("Action", m.Action)
	line("Finding", strings.TrimSpace(fmt.Sprintf("%s %s", m.Finding.ControlName, bracket(m.Finding.Severity))))
	line("Finding ID", m.Finding.ID)
	line("Source", strings.TrimSpace(m.Finding.Source+" "+m.Finding.TriggerSource+" "+m.Finding.TriggerType))
	line("Resource", strings.TrimSpace(m.Resource.Type+" "+m.Resource.Name))
	line("Resource ID", m.Resource.ID)
	line("Account", m.Resource.Account)
	line("Region", m.Resource.Region)
	line("Environment", m.Finding.Environment)
	line("Owner", m.Finding.Owner)
	line("Failure", truncate(m.FailureReason, 4096))
	if a := m.Approval; a != nil {
		line("Approval", a.Status)
		line("Request", a.RequestID)
		line("Plan hash", a.PlanHash)
		line("Approver", a.Approver)
		if !a.Expires.IsZero() {
			line("Expires", a.Expires.UTC().Format(time.RFC3339))
		}
		line("New request", a.NextRequestID)
		line("New plan", a.NextPlanHash)
	}
	if len(m.Reasons) > 0 {
		b.WriteString("\nWhy:\n")
		for _, r := range m.Reasons[:min(len(m.Reasons), 20)] {
			fmt.Fprintf(&b, "  - %s (%s -> %s)\n", Escape(truncate(r.Message, 1024)), Escape(r.Check), Escape(r.LeadsTo))
		}
	}
	if m.Evidence != nil && len(m.Evidence.Changes) > 0 {
		b.WriteString("\nChanges:\n")
		for _, c := range m.Evidence.Changes[:min(len(m.Evidence.Changes), 20)] {
			fmt.Fprintf(&b, "  - %s\n", Escape(truncate(c, 1024)))
		}
	}
	if len(m.Links) > 0 {
		b.WriteString("\nLinks:\n")
		for _, l := range m.Links {
			fmt.Fprintf(&b, "  %s: %s\n", Escape(l.Name), Escape(l.URL))
		}
	}
	b.WriteString("\n")
	line("Record", m.RecordID)
	line("Time", m.Time.UTC().Format(time.RFC3339))
	line("Message", m.Correlation.MessageID)
	line("Correlation", m.Correlation.CorrelationID)
	if m.Correlation.ReceiveCount > 0 {
		line("Deliveries", strconv.Itoa(m.Correlation.ReceiveCount))
	}
	line("Policy", m.PolicyVersion)
	return b.String()
}

// Escape makes s safe to show on one line of text a person reads: it
// replaces each character that could start a new line, hide text or
// reorder it — C0 and C1 controls (newline, carriage return, tab, escape…),
// DEL, the Unicode line and paragraph separators, bidirectional overrides
// and isolates, zero-width and other format characters — with a visible
// escape (\n, \r, \t or \u202e), and each byte that is not UTF-8 with
// \xNN. Other text, backslashes included, is kept as it is.
func Escape(s string) string {
	i := strings.IndexFunc(s, func(r rune) bool { return r == utf8.RuneError || hidden(r) })
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for s = s[i:]; s != ""; {
		r, n := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[0])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case hidden(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[:n])
		}
		s = s[n:]
	}
	return b.String()
}

// hidden reports whether r is a control, separator or format character
// (see Escape).
func hidden(r rune) bool {
	return r < 0x20 || (0x7f <= r && r < 0xa0) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Cf, r)
}

func bracket(s string) string {
	if s == "" {
		return ""
	}
	return "[" + s + "]"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && s[cut]&0xc0 == 0x80 { // do not split a UTF-8 sequence
		cut--
	}
	return s[:cut] + "..."
}

func isZeroEvidence(e audit.Evidence) bool {
	return len(e.Before) == 0 && len(e.After) == 0 && len(e.Changes) == 0 &&
		len(e.Rollback) == 0 && len(e.RequestIDs) == 0 && !e.Verified
}
