package eligibility

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/remedy-sec/remedy/remediate"
)

// Exception is one exception kept in a store beside the policy file
// (see ExceptionSource), such as the DynamoDB table of package
// adapters/dynamo that `remedy exception add` writes.
//
// Its scope is one or more of Resource, Control, Account and Tag; it
// covers a finding only when every scope field it sets matches, and
// never once Expires has passed.
type Exception struct {
	// ID names the exception; the decision's reason quotes it.
	ID string `json:"id"`
	// Owner is who asked for the exception and answers for it.
	Owner string `json:"owner"`
	// Reason says why the finding may stay unfixed.
	Reason string `json:"reason"`
	// Resource is an ARN or an exact resource id, matched against the
	// finding's canonical identity as the policy file's exceptions are:
	// never against the resource's display name.
	Resource string `json:"resource,omitempty"`
	// Control is a control id or source rule id.
	Control string `json:"control,omitempty"`
	// Account is a 12-digit account id.
	Account string `json:"account,omitempty"`
	// TagKey and TagValue, when TagKey is set, require the resource to
	// carry the tag TagKey with exactly the value TagValue.
	TagKey   string `json:"tag_key,omitempty"`
	TagValue string `json:"tag_value,omitempty"`
	// Expires is the first instant the exception no longer applies.
	Expires time.Time `json:"expires"`
}

// ExceptionSource reads the exceptions of a store. Options.Exceptions
// sets one; Enrich then consults it for every finding.
type ExceptionSource interface {
	// Exceptions returns the store's exceptions that may cover f —
	// every unrevoked one is fine: Enrich itself keeps those whose scope
	// matches and that have not expired. An error means the store could
	// not be read: Enrich returns it, so the finding is retried (or, if
	// the error is remediate.Permanent, goes to review), never changed.
	Exceptions(ctx context.Context, f *remediate.Finding) ([]Exception, error)
}

// ParseExpiry reads an exception's expiry as the policy file writes it:
// a date (2027-01-31, the exception applies through that day, UTC) or an
// RFC 3339 time. It returns the first instant the exception no longer
// applies.
func ParseExpiry(s string) (time.Time, error) { return parseExpiry(s) }

// Validate reports what is wrong with e: a missing id, owner, reason or
// expiry, no scope at all, an account that is not 12 digits, or a tag
// value without a key.
func (e Exception) Validate() error {
	var errs []error
	for _, f := range []struct{ name, v string }{{"id", e.ID}, {"owner", e.Owner}, {"reason", e.Reason}} {
		if strings.TrimSpace(f.v) == "" {
			errs = append(errs, fmt.Errorf("exception %q: %s is required", e.ID, f.name))
		}
	}
	if e.Expires.IsZero() {
		errs = append(errs, fmt.Errorf("exception %q: expires is required: an exception without an end is not allowed", e.ID))
	}
	if e.TagKey == "" && e.TagValue != "" {
		errs = append(errs, fmt.Errorf("exception %q: tag value %q has no key: write the tag as key=value", e.ID, e.TagValue))
	}
	if e.Resource == "" && e.Control == "" && e.Account == "" && e.TagKey == "" {
		errs = append(errs, fmt.Errorf("exception %q: no scope: name a resource, control, account or tag (one or more)", e.ID))
	}
	if e.Account != "" && !accountIDRe.MatchString(e.Account) {
		errs = append(errs, fmt.Errorf("exception %q: account %q is not 12 digits", e.ID, e.Account))
	}
	return errors.Join(errs...)
}

// Matches reports whether e's scope covers f — every scope field e sets
// matches — ignoring expiry. An exception with no scope matches nothing.
func (e Exception) Matches(f *remediate.Finding) bool {
	if e.Resource == "" && e.Control == "" && e.Account == "" && e.TagKey == "" {
		return false
	}
	if e.Resource != "" && !(&exception{resource: e.Resource}).coversResource(f) {
		return false
	}
	if e.Control != "" && e.Control != f.Control.ID && e.Control != f.Control.SourceRuleID {
		return false
	}
	if e.Account != "" && e.Account != f.Resource.Account {
		return false
	}
	if e.TagKey != "" {
		v, ok := f.Resource.Tags[e.TagKey]
		if !ok || v != e.TagValue {
			return false
		}
	}
	return true
}

// Active reports whether e still applies at now.
func (e Exception) Active(now time.Time) bool { return now.Before(e.Expires) }

// Scope says in words what e covers.
func (e Exception) Scope() string {
	var parts []string
	if e.Resource != "" {
		parts = append(parts, "resource "+quote(e.Resource))
	}
	if e.Control != "" {
		parts = append(parts, "control "+quote(e.Control))
	}
	if e.Account != "" {
		parts = append(parts, "account "+e.Account)
	}
	if e.TagKey != "" {
		parts = append(parts, "tag "+quote(e.TagKey+"="+e.TagValue))
	}
	return strings.Join(parts, ", ")
}

// ExpiresText writes e.Expires as ParseExpiry reads it: the date a
// date-only expiry named (the last day it applies), else an RFC 3339
// time.
func (e Exception) ExpiresText() string {
	t := e.Expires.UTC()
	if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0 {
		return t.AddDate(0, 0, -1).Format(time.DateOnly)
	}
	return t.Format(time.RFC3339)
}

// storeExceptions applies the store's exceptions to f: an approved one
// if any matches and has not expired, else an expired one. It returns
// the store's error, so the finding waits; a malformed exception is a
// permanent error, so the finding goes to review.
func (p *Policy) storeExceptions(ctx context.Context, f *remediate.Finding) error {
	list, err := p.exceptionSource.Exceptions(ctx, f)
	if err != nil {
		return fmt.Errorf("eligibility: read the exception store: %w", err)
	}
	now := p.now()
	var expired *Exception
	unknownResource := false
	for i := range list {
		e := &list[i]
		if err := e.Validate(); err != nil {
			return remediate.Permanent(fmt.Errorf("eligibility: exception store: %w; fix or revoke it", err))
		}
		if e.Resource != "" && f.Resource.ID == "" && f.Resource.ARN == "" && e.Active(now) {
			unknownResource = true
		}
		if !e.Matches(f) {
			continue
		}
		if e.Active(now) {
			f.Exception, f.ExceptionID = remediate.ExceptionApproved, e.ID
			f.ExceptionNote = "approved for " + e.Scope() + " until " + e.ExpiresText() + " (owner " + e.Owner + "): " + e.Reason
			return nil
		}
		if expired == nil {
			expired = e
		}
	}
	if unknownResource {
		// As for the policy's exceptions: a finding with neither id nor
		// ARN could be about an excepted resource.
		f.AddConcern("exception", "the resource has no id or ARN, so whether an exception of the store covers it cannot be told")
	}
	if expired != nil && f.Exception != remediate.ExceptionApproved {
		f.Exception, f.ExceptionID = remediate.ExceptionExpired, expired.ID
	}
	return nil
}
