package eligibility

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/remedy-sec/remedy/internal/ascii"
	"github.com/remedy-sec/remedy/remediate"
)

// Enrich sets f.Environment and f.Owner from the sources the policy
// configures, and f.Exception and f.ExceptionID from the policy's
// exceptions.
//
// Environment and owner are read only from the configured sources, in
// order: tag:<Key> (a resource tag, key compared exactly), account (the
// account's entry in the policy) and declared (what the payload claims);
// the environment also from Options.AccountEnvironments, when set.
// Every source that gives a value must agree; environment names compare
// without case after trimming, owners exactly after trimming. When they
// disagree the field is left empty and a concern is recorded, so the
// finding goes to review. Whatever the fields held before is replaced.
//
// A restricted environment is never lost to a disagreement: account
// metadata (the policy's account entry or Options.AccountEnvironments)
// that names one sets it whatever the other sources say, and when other
// sources disagree and one names a restricted environment, the concern is
// recorded and the environment is that one.
//
// An exception that matches and has not expired sets Exception to
// approved; one that matches but has expired sets it to expired, which
// only records the fact. Enrich never lowers an approval an earlier
// enricher recorded. Nothing in the payload can grant an exception.
//
// With Options.Exceptions set, Enrich first reads that store's
// exceptions for f: one whose every scope field matches and that has not
// expired sets Exception to approved, ExceptionID to its id and
// ExceptionNote to its scope, expiry, owner and reason. If the store
// cannot be read Enrich returns its error (transient unless the store
// marked it remediate.Permanent): the engine retries the finding, or
// sends it to review, and never changes the resource. A malformed
// exception in the store is a permanent error.
func (p *Policy) Enrich(ctx context.Context, f *remediate.Finding) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if f == nil {
		return remediate.Permanentf("eligibility: nil finding")
	}
	f.Environment = p.environment(f)
	f.Owner = p.resolve(f, "owner", p.ownSources, false)
	if p.exceptionSource != nil {
		if err := p.storeExceptions(ctx, f); err != nil {
			return err
		}
	}
	if len(p.exceptions) > 0 {
		e, status := p.matchException(f, p.now())
		switch {
		case status == remediate.ExceptionApproved:
			f.Exception, f.ExceptionID, f.ExceptionNote = status, e.id, ""
		case status == remediate.ExceptionExpired && f.Exception != remediate.ExceptionApproved:
			f.Exception, f.ExceptionID = status, e.id
		}
	}
	return nil
}

// resolve reads field from every source and returns the value they agree
// on, or "" with a concern when they do not.
func (p *Policy) resolve(f *remediate.Finding, field string, sources []source, isEnv bool) string {
	var (
		first    string
		seen     []string // "source says value", for the concern
		conflict bool
	)
	for _, s := range sources {
		v := strings.TrimSpace(p.sourceValue(f, s, isEnv))
		if v == "" {
			continue
		}
		if !ascii.Visible(v) {
			// An invisible or control-laden value must not count as an
			// owner or environment: it is missing, and suspicious.
			f.AddConcern(field, s.text+" gives an unreadable "+field+" "+quote(v)+" (no letter or digit, or a control or format character)")
			continue
		}
		seen = append(seen, s.text+" says "+quote(v))
		switch {
		case first == "":
			first = v
		case isEnv && !ascii.EqualFold(v, first), !isEnv && v != first:
			conflict = true
		}
	}
	if conflict {
		f.AddConcern(field, field+" sources disagree: "+strings.Join(seen, ", "))
		return ""
	}
	if isEnv && first != "" {
		if canon, ok := p.known[ascii.Lower(first)]; ok {
			return canon
		}
	}
	return first
}

func (p *Policy) sourceValue(f *remediate.Finding, s source, isEnv bool) string {
	switch s.kind {
	case sourceTag:
		return f.Resource.Tags[s.key]
	case sourceAccount:
		a := p.accounts[f.Resource.Account]
		if isEnv {
			return a.environment
		}
		return a.owner
	case sourceDeclared:
		if isEnv {
			return f.Declared.Environment
		}
		return f.Declared.Owner
	case sourceRegistry:
		return p.registryEnvironment(f)
	}
	return ""
}

// matchException returns the exception that covers f: an approved one if
// any matches and has not expired at now, else an expired one, else none.
func (p *Policy) matchException(f *remediate.Finding, now time.Time) (*exception, remediate.ExceptionStatus) {
	if len(p.exceptions) == 0 {
		return nil, remediate.ExceptionNone
	}
	var expired *exception
	try := func(idx []int) *exception {
		for _, i := range idx {
			e := &p.exceptions[i]
			if !e.matches(f) {
				continue
			}
			if now.Before(e.expires) {
				return e
			}
			if expired == nil {
				expired = e
			}
		}
		return nil
	}
	// Candidates by any spelling of the resource's identity; matches
	// then keeps only those that name this very resource.
	for _, id := range resourceSpellings(f.Resource.ID, f.Resource.ARN) {
		if e := try(p.byResource[id]); e != nil {
			return e, remediate.ExceptionApproved
		}
	}
	if f.Control.ID != "" {
		if e := try(p.byControl[f.Control.ID]); e != nil {
			return e, remediate.ExceptionApproved
		}
	}
	if f.Control.SourceRuleID != "" && f.Control.SourceRuleID != f.Control.ID {
		if e := try(p.byControl[f.Control.SourceRuleID]); e != nil {
			return e, remediate.ExceptionApproved
		}
	}
	if expired != nil {
		return expired, remediate.ExceptionExpired
	}
	return nil, remediate.ExceptionNone
}

// matches reports whether e covers f, ignoring expiry.
func (e *exception) matches(f *remediate.Finding) bool {
	if e.resource != "" && !e.coversResource(f) {
		return false
	}
	if e.control != "" && e.control != f.Control.ID && e.control != f.Control.SourceRuleID {
		return false
	}
	return e.account == "" || e.account == f.Resource.Account
}

// scope says in words what e covers.
func (e *exception) scope() string {
	var parts []string
	if e.resource != "" {
		parts = append(parts, "resource "+quote(e.resource))
	}
	if e.control != "" {
		parts = append(parts, "control "+quote(e.control))
	}
	if e.account != "" {
		parts = append(parts, "account "+e.account)
	}
	return strings.Join(parts, ", ")
}

// coversResource reports whether e's resource is f's resource by its
// canonical identity: its ARN, or the exact id the policy names. An
// exception naming an ARN covers a finding with that ARN, or one that
// carries only a bare id equal to the ARN's resource part or the id
// after its last slash ("www-example-com", "sg-0abc"); an exception
// naming a bare id covers a finding with that id, or whose ARN has it
// as its resource part or last id. Two ARNs must be equal: the same
// group id in another account's ARN is another resource. The resource's
// display name is never compared: a payload names its resource as it
// likes, and a name equal to an excepted resource's id must not skip a
// finding that should be fixed.
func (e *exception) coversResource(f *remediate.Finding) bool {
	arn := f.Resource.ARN
	if arn == "" && strings.HasPrefix(f.Resource.ID, "arn:") {
		arn = f.Resource.ID
	}
	if strings.HasPrefix(e.resource, "arn:") {
		if arn != "" {
			return e.resource == arn
		}
		return f.Resource.ID != "" && slices.Contains(resourceSpellings(e.resource), f.Resource.ID)
	}
	if e.resource == f.Resource.ID {
		return true
	}
	return arn != "" && slices.Contains(resourceSpellings(arn), e.resource)
}

// resourceSpellings returns the distinct non-empty ways to name a
// resource given ids, ARNs or names: each value itself and, for an ARN,
// its resource part ("bucket", "security-group/sg-1") and the id after
// the last slash ("sg-1").
func resourceSpellings(ids ...string) []string {
	out := make([]string, 0, 2*len(ids))
	add := func(s string) {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, id := range ids {
		add(id)
		if !strings.HasPrefix(id, "arn:") {
			continue
		}
		parts := strings.SplitN(id, ":", 6)
		if len(parts) != 6 {
			continue
		}
		add(parts[5])
		if i := strings.LastIndexByte(parts[5], '/'); i >= 0 {
			add(parts[5][i+1:])
		}
	}
	return out
}
