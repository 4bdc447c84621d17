package remediate

import (
	"encoding/json"
	"strings"
	"time"
)

// Severity is a finding's severity, normalized to upper case. The zero
// value means the source did not say, which a policy treats as unknown.
type Severity string

// Severities, in increasing order of urgency.
const (
	SeverityInformational Severity = "INFORMATIONAL"
	SeverityLow           Severity = "LOW"
	SeverityMedium        Severity = "MEDIUM"
	SeverityHigh          Severity = "HIGH"
	SeverityCritical      Severity = "CRITICAL"
)

// ParseSeverity trims s, folds ASCII case and reports whether it names a
// known severity. Unknown values return "" and false: a caller must not
// guess a severity it cannot read. Only ASCII letters fold, so a
// look-alike such as "hıgh" (dotless i) is unknown, not HIGH.
func ParseSeverity(s string) (Severity, bool) {
	s = strings.TrimSpace(s)
	b := make([]byte, len(s))
	for i := range len(s) {
		c := s[i]
		if c >= 0x80 {
			return "", false
		}
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		b[i] = c
	}
	switch v := Severity(b); v {
	case SeverityInformational, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical:
		return v, true
	}
	return "", false
}

// Finding is a normalized, source-agnostic security finding: what a
// detection tool reported about one resource. Parsers (such as package
// wizpayload) build it; enrichers add context; policies read it.
//
// Identifiers are kept exactly as the source sent them. Fields a source
// did not provide stay empty: nothing is guessed.
type Finding struct {
	// ID is the source's identifier for the finding (the Wiz issue id).
	ID string `json:"id"`
	// Source names the detection tool, such as "wiz".
	Source string `json:"source"`
	// TriggerSource is what raised the automation, such as "ISSUES".
	TriggerSource string `json:"trigger_source,omitempty"`
	// TriggerType is why it was sent: CREATED, UPDATED, RESOLVED, REOPENED.
	TriggerType string `json:"trigger_type,omitempty"`
	// Status is the finding's status: OPEN, IN_PROGRESS, RESOLVED, REJECTED.
	Status string `json:"status,omitempty"`
	// Severity is the finding's own severity (for Wiz, issue.severity).
	Severity Severity `json:"severity,omitempty"`
	// Rule is the automation rule that delivered the finding.
	Rule Rule `json:"rule,omitzero"`
	// Control is the control or configuration rule that detected it.
	Control Control `json:"control,omitzero"`
	// Resource is the resource the finding is about.
	Resource Resource `json:"resource"`
	// Projects are the source's project names, if any.
	Projects []string `json:"projects,omitempty"`

	// Declared holds context the payload itself claims (top-level
	// environment or owner fields). An enricher decides whether to trust
	// it; a policy never reads it directly.
	Declared Declared `json:"declared,omitzero"`

	// Environment, Owner and Exception are set by enrichment from the
	// sources a policy trusts. A parser leaves them empty: a payload can
	// never grant itself an exception.
	Environment string          `json:"environment,omitempty"`
	Owner       string          `json:"owner,omitempty"`
	Exception   ExceptionStatus `json:"exception,omitempty"`
	// ExceptionID names the exception that applied, if any.
	ExceptionID string `json:"exception_id,omitempty"`
	// ExceptionNote describes an approved exception an enricher found
	// (scope, expiry, owner, reason), for the policy to quote in its
	// decision; empty when the policy knows the exception itself.
	ExceptionNote string `json:"exception_note,omitempty"`

	// ProposedAction is the remediation action the source or policy
	// proposes, such as "s3-block-public-access".
	ProposedAction string `json:"proposed_action,omitempty"`
	// CorrelationID joins every record about this delivery together.
	CorrelationID string `json:"correlation_id,omitempty"`
	// Revision distinguishes deliveries of the same finding that should be
	// processed separately (for Wiz: trigger type and update time, or the SNS
	// delivery time when the payload has no update time).
	Revision string `json:"revision,omitempty"`

	DetectedAt time.Time `json:"detected_at,omitzero"`
	UpdatedAt  time.Time `json:"updated_at,omitzero"`

	// Concerns are problems found while parsing or enriching that make the
	// finding ambiguous. Any concern sends the finding to review.
	Concerns []Concern `json:"concerns,omitempty"`

	// Raw is the payload as received (after unwrapping any envelope).
	Raw json.RawMessage `json:"-"`
}

// Rule identifies the automation rule that sent a finding.
type Rule struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// Control identifies what detected the finding. ID is the source's id for
// the control; SourceRuleID is the underlying configuration rule, if any.
type Control struct {
	ID             string   `json:"id,omitempty"`
	Name           string   `json:"name,omitempty"`
	Severity       Severity `json:"severity,omitempty"`
	SourceRuleID   string   `json:"source_rule_id,omitempty"`
	SourceRuleName string   `json:"source_rule_name,omitempty"`
}

// Resource is the cloud resource a finding is about.
type Resource struct {
	// ID is the provider's identifier, usually an ARN; composite ids are
	// kept verbatim.
	ID string `json:"id"`
	// ARN is ID when ID is an ARN, empty otherwise.
	ARN  string `json:"arn,omitempty"`
	Name string `json:"name,omitempty"`
	// Type is the provider-native type as the source names it ("bucket").
	Type string `json:"type,omitempty"`
	// Cloud is the platform in upper case, such as "AWS".
	Cloud   string            `json:"cloud,omitempty"`
	Account string            `json:"account,omitempty"`
	Region  string            `json:"region,omitempty"`
	Tags    map[string]string `json:"tags,omitempty"`
}

// Declared is context a payload claims about itself.
type Declared struct {
	Environment string `json:"environment,omitempty"`
	Owner       string `json:"owner,omitempty"`
}

// ExceptionStatus records whether an approved exception covers a finding.
type ExceptionStatus string

// Exception statuses. The zero value means none is known.
const (
	ExceptionNone     ExceptionStatus = ""
	ExceptionApproved ExceptionStatus = "approved"
	ExceptionExpired  ExceptionStatus = "expired"
)

// Concern is a problem that makes a finding ambiguous: a field that is
// absent, conflicting or outside what Remedy can act on safely.
type Concern struct {
	// Field is the payload path, such as "resource.id".
	Field string `json:"field"`
	// Message is a sentence a person can act on.
	Message string `json:"message"`
}

// AddConcern records a concern about field.
func (f *Finding) AddConcern(field, message string) {
	f.Concerns = append(f.Concerns, Concern{Field: field, Message: message})
}
