package eligibility

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/remedy-sec/remedy/remediate"
)

// Decide evaluates every check against f and returns one decision with
// every failing check as a reason. The verdict is Remediate only when no
// check fails; Decision.Action is the playbook's action whenever the
// control maps to one. Decide does not modify f.
//
// Decide reads the environment, owner and exception status that
// enrichment set (see Enrich); it also applies the policy's own
// exceptions, so an excepted resource is skipped even if Enrich did not
// run. It returns an error only when ctx is done or f is nil.
func (p *Policy) Decide(ctx context.Context, f *remediate.Finding) (remediate.Decision, error) {
	if err := ctx.Err(); err != nil {
		return remediate.Decision{}, err
	}
	if f == nil {
		return remediate.Decision{}, remediate.Permanentf("eligibility: nil finding")
	}
	d := remediate.Decision{Verdict: remediate.Remediate, PolicyVersion: p.id}

	for _, c := range f.Concerns {
		add(&d, CheckPayload, remediate.Review, "%s: %s", c.Field, c.Message)
	}
	p.checkTrigger(&d, f)
	p.checkStatus(&d, f)
	p.checkSeverity(&d, f)
	p.checkEnvironment(&d, f)
	p.checkOwner(&d, f)
	var now time.Time
	if len(p.exceptions) > 0 || len(p.rules) > 0 {
		now = p.now()
	}
	p.checkException(&d, f, now)
	p.checkAccount(&d, f)
	typeActions, typeOK := p.checkResourceType(&d, f)
	action := p.checkControl(&d, f)
	d.Action = action
	p.checkAction(&d, f, action, typeActions, typeOK)

	if len(p.rules) > 0 {
		vars := p.newRuleVars(f, action, now)
		for i := range p.rules {
			r := &p.rules[i]
			ok, err := r.eval(ctx, vars)
			switch {
			case err != nil:
				if cerr := ctx.Err(); cerr != nil {
					return remediate.Decision{}, cerr
				}
				add(&d, r.check, remediate.Review, "rule %s could not be evaluated: %v", r.name, err)
			case !ok:
				add(&d, r.check, r.leadsTo, "%s", r.message)
			}
		}
	}
	return d, nil
}

func (p *Policy) checkTrigger(d *remediate.Decision, f *remediate.Finding) {
	t := strings.TrimSpace(f.TriggerType)
	switch {
	case strings.EqualFold(t, "CREATED"), strings.EqualFold(t, "REOPENED"):
	case strings.EqualFold(t, "RESOLVED"):
		add(d, CheckTrigger, remediate.Skip, "trigger type is RESOLVED: the finding no longer needs a fix")
	case t == "":
		add(d, CheckTrigger, remediate.Review, "trigger type is missing: only CREATED or REOPENED may lead to a change")
	case strings.EqualFold(t, "UPDATED"):
		add(d, CheckTrigger, remediate.Review, "trigger type is UPDATED: only CREATED or REOPENED may lead to a change (acting on updates could loop on Remedy's own changes)")
	default:
		add(d, CheckTrigger, remediate.Review, "trigger type %q is not CREATED or REOPENED", q(t))
	}
}

func (p *Policy) checkStatus(d *remediate.Decision, f *remediate.Finding) {
	s := strings.TrimSpace(f.Status)
	switch {
	case strings.EqualFold(s, "OPEN"), strings.EqualFold(s, "IN_PROGRESS"):
	case strings.EqualFold(s, "RESOLVED"):
		add(d, CheckStatus, remediate.Skip, "status is RESOLVED: nothing to fix")
	case strings.EqualFold(s, "REJECTED"):
		add(d, CheckStatus, remediate.Skip, "status is REJECTED: the finding was dismissed")
	case s == "":
		add(d, CheckStatus, remediate.Review, "status is missing: only OPEN or IN_PROGRESS findings are fixed")
	default:
		add(d, CheckStatus, remediate.Review, "status %q is not OPEN or IN_PROGRESS", q(s))
	}
}

func (p *Policy) checkSeverity(d *remediate.Decision, f *remediate.Finding) {
	if strings.TrimSpace(string(f.Severity)) == "" {
		add(d, CheckSeverity, remediate.Review, "severity is missing: only HIGH or CRITICAL findings are fixed")
		return
	}
	sev, ok := remediate.ParseSeverity(string(f.Severity))
	switch {
	case !ok:
		add(d, CheckSeverity, remediate.Review, "severity %q is not a known severity", q(string(f.Severity)))
	case sev == remediate.SeverityHigh, sev == remediate.SeverityCritical:
	default:
		add(d, CheckSeverity, remediate.Skip, "severity is %s: only HIGH or CRITICAL findings are fixed", string(sev))
	}
}

func (p *Policy) checkEnvironment(d *remediate.Decision, f *remediate.Finding) {
	env := strings.TrimSpace(f.Environment)
	if env == "" {
		add(d, CheckEnvironment, remediate.Review, "environment is unknown: no configured source (%s) named one", orNone(p.envText))
		return
	}
	key := strings.ToLower(env)
	if _, ok := p.known[key]; !ok {
		add(d, CheckEnvironment, remediate.Review, "environment %q is not one the policy knows (known: %s)", q(env), orNone(p.knownList))
		return
	}
	if p.restricted[key] {
		add(d, CheckEnvironment, remediate.Review, "environment %q is restricted: changes there need a person", q(env))
	}
}

func (p *Policy) checkOwner(d *remediate.Decision, f *remediate.Finding) {
	if strings.TrimSpace(f.Owner) == "" {
		add(d, CheckOwner, remediate.Review, "owner is unknown: no configured source (%s) named one", orNone(p.ownText))
	}
}

// checkException skips a finding an approved exception covers: one that
// enrichment recorded, or one of the policy's own.
func (p *Policy) checkException(d *remediate.Decision, f *remediate.Finding, now time.Time) {
	if e, status := p.matchException(f, now); status == remediate.ExceptionApproved {
		add(d, CheckException, remediate.Skip, "exception %q approved for %s until %s (owner %s): %s", q(e.id), e.scope(), e.expiresText, e.owner, e.reason)
		return
	}
	if f.Exception == remediate.ExceptionApproved {
		add(d, CheckException, remediate.Skip, "exception %q is approved", q(f.ExceptionID))
	}
}

func (p *Policy) checkAccount(d *remediate.Decision, f *remediate.Finding) {
	id := f.Resource.Account
	if id == "" {
		add(d, CheckAccount, remediate.Review, "account is missing: only allowlisted accounts are changed")
		return
	}
	if _, ok := p.accounts[id]; !ok {
		add(d, CheckAccount, remediate.Review, "account %q is not allowlisted", q(id))
	}
}

func (p *Policy) checkResourceType(d *remediate.Decision, f *remediate.Finding) ([]string, bool) {
	t := f.Resource.Type
	if t == "" {
		add(d, CheckResourceType, remediate.Review, "resource type is missing")
		return nil, false
	}
	actions, ok := p.types[t]
	if !ok {
		add(d, CheckResourceType, remediate.Review, "resource type %q is not approved for automatic remediation", q(t))
	}
	return actions, ok
}

// checkControl finds the playbook action for the finding's control, by
// control id or by the control's source rule id. Both may map; if they
// name different actions the finding is ambiguous.
func (p *Policy) checkControl(d *remediate.Decision, f *remediate.Finding) string {
	id, src := f.Control.ID, f.Control.SourceRuleID
	byID, okID := "", false
	if id != "" {
		byID, okID = p.books[id]
	}
	bySrc, okSrc := "", false
	if src != "" {
		bySrc, okSrc = p.books[src]
	}
	switch {
	case okID && okSrc && byID != bySrc:
		add(d, CheckControl, remediate.Review, "control %q maps to %q but its source rule %q maps to %q", q(id), q(byID), q(src), q(bySrc))
		return ""
	case okID:
		return byID
	case okSrc:
		return bySrc
	case id == "" && src == "":
		add(d, CheckControl, remediate.Review, "the finding names no control: no playbook applies")
	case src == "":
		add(d, CheckControl, remediate.Review, "no playbook for control %q", q(id))
	case id == "":
		add(d, CheckControl, remediate.Review, "no playbook for source rule %q", q(src))
	default:
		add(d, CheckControl, remediate.Review, "no playbook for control %q or its source rule %q", q(id), q(src))
	}
	return ""
}

func (p *Policy) checkAction(d *remediate.Decision, f *remediate.Finding, action string, typeActions []string, typeOK bool) {
	proposed := f.ProposedAction
	if proposed != "" && action != "" && proposed != action {
		add(d, CheckAction, remediate.Review, "proposed action %q differs from the playbook's action %q", q(proposed), q(action))
	}
	a := action
	if a == "" {
		a = proposed
	}
	if a == "" {
		return
	}
	switch {
	case typeOK:
		for _, t := range typeActions {
			if t == a {
				return
			}
		}
		add(d, CheckAction, remediate.Review, "action %q is not allowed for resource type %q", q(a), q(f.Resource.Type))
	case !p.actions[a]:
		add(d, CheckAction, remediate.Review, "action %q is not an allowed action", q(a))
	}
}

// add records a failing check. The first reason makes room for several:
// a finding that fails one check usually fails a few, and growing the
// slice one reason at a time costs more than the checks themselves.
func add(d *remediate.Decision, check string, v remediate.Verdict, format string, args ...any) {
	if d.Reasons == nil {
		d.Reasons = make([]remediate.Reason, 0, 8)
	}
	d.Add(check, v, format, args...)
}

func orNone(list string) string {
	if list == "" {
		return "none"
	}
	return list
}

// q formats a value taken from a finding for a reason: quoted in Go
// syntax, so control characters and stray spaces are visible in audit
// records. Plain values skip the cost of escaping rune by rune.
type q string

func (s q) Format(f fmt.State, _ rune) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			io.WriteString(f, strconv.Quote(string(s)))
			return
		}
	}
	io.WriteString(f, `"`)
	io.WriteString(f, string(s))
	io.WriteString(f, `"`)
}
