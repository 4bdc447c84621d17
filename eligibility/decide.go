package eligibility

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/remedy-sec/remedy/internal/ascii"
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
	d := remediate.Decision{Verdict: remediate.VerdictRemediate, PolicyVersion: p.id}

	for _, c := range f.Concerns {
		add(&d, CheckPayload, remediate.VerdictReview, c.Field+": "+c.Message)
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
	d.SensitiveApproved = p.sensitiveApproved(f, action)
	d.ApprovalRequired = p.approvalRequired(f, action)

	if len(p.rules) > 0 {
		// Rules are bounded by a cost limit, so ctx is checked between
		// them rather than inside each.
		vars := &ruleVars{p: p, f: f, action: action, now: now}
		for i := range p.rules {
			if err := ctx.Err(); err != nil {
				return remediate.Decision{}, err
			}
			r := &p.rules[i]
			ok, err := r.eval(vars)
			switch {
			case err != nil:
				add(&d, r.check, remediate.VerdictReview, "rule "+r.name+" could not be evaluated: "+err.Error())
			case !ok:
				add(&d, r.check, r.leadsTo, r.message)
			}
		}
	}
	return d, nil
}

// sensitiveApproved reports whether an entry of sensitive_approved lets
// action run unattended on f, although its remediator is sensitive.
func (p *Policy) sensitiveApproved(f *remediate.Finding, action string) bool {
	if action == "" {
		return false
	}
	for _, a := range p.sensitive[action] {
		if a.covers(f) {
			return true
		}
	}
	return false
}

// approvalRequired reports whether an entry of approval_required matches
// f and action: a person must approve the plan before it runs.
func (p *Policy) approvalRequired(f *remediate.Finding, action string) bool {
	if action == "" {
		return false
	}
	for _, a := range p.approvals {
		if a.matches(f, action) {
			return true
		}
	}
	return false
}

func (p *Policy) checkTrigger(d *remediate.Decision, f *remediate.Finding) {
	t := strings.TrimSpace(f.TriggerType)
	switch {
	case ascii.EqualFold(t, "CREATED"), ascii.EqualFold(t, "REOPENED"):
	case ascii.EqualFold(t, "RESOLVED"):
		add(d, CheckTrigger, remediate.VerdictSkip, "trigger type is RESOLVED: the finding no longer needs a fix")
	case t == "":
		add(d, CheckTrigger, remediate.VerdictReview, "trigger type is missing: only CREATED or REOPENED may lead to a change")
	case ascii.EqualFold(t, "UPDATED"):
		// Wiz sends UPDATED for every note, ticket link or status change,
		// including Remedy's own: acting on it could loop, and sending each
		// one to a person would flood the review channel. The CREATED or
		// REOPENED delivery is the one that counts.
		add(d, CheckTrigger, remediate.VerdictSkip, "trigger type is UPDATED: only CREATED or REOPENED may lead to a change (acting on updates could loop on Remedy's own changes)")
	default:
		add(d, CheckTrigger, remediate.VerdictReview, "trigger type "+quote(t)+" is not CREATED or REOPENED")
	}
}

func (p *Policy) checkStatus(d *remediate.Decision, f *remediate.Finding) {
	s := strings.TrimSpace(f.Status)
	switch {
	case ascii.EqualFold(s, "OPEN"), ascii.EqualFold(s, "IN_PROGRESS"):
	case ascii.EqualFold(s, "RESOLVED"):
		add(d, CheckStatus, remediate.VerdictSkip, "status is RESOLVED: nothing to fix")
	case ascii.EqualFold(s, "REJECTED"):
		add(d, CheckStatus, remediate.VerdictSkip, "status is REJECTED: the finding was dismissed")
	case s == "":
		add(d, CheckStatus, remediate.VerdictReview, "status is missing: only OPEN or IN_PROGRESS findings are fixed")
	default:
		add(d, CheckStatus, remediate.VerdictReview, "status "+quote(s)+" is not OPEN or IN_PROGRESS")
	}
}

func (p *Policy) checkSeverity(d *remediate.Decision, f *remediate.Finding) {
	if strings.TrimSpace(string(f.Severity)) == "" {
		add(d, CheckSeverity, remediate.VerdictReview, "severity is missing: only HIGH or CRITICAL findings are fixed")
		return
	}
	sev, ok := remediate.ParseSeverity(string(f.Severity))
	switch {
	case !ok:
		add(d, CheckSeverity, remediate.VerdictReview, "severity "+quote(string(f.Severity))+" is not a known severity")
	case sev == remediate.SeverityHigh, sev == remediate.SeverityCritical:
	default:
		add(d, CheckSeverity, remediate.VerdictSkip, "severity is "+string(sev)+": only HIGH or CRITICAL findings are fixed")
	}
}

func (p *Policy) checkEnvironment(d *remediate.Decision, f *remediate.Finding) {
	env := strings.TrimSpace(f.Environment)
	if env == "" {
		add(d, CheckEnvironment, remediate.VerdictReview, "environment is unknown: no configured source ("+orNone(p.envText)+") named one")
		return
	}
	key := ascii.Lower(env)
	if _, ok := p.known[key]; !ok {
		add(d, CheckEnvironment, remediate.VerdictReview, "environment "+quote(env)+" is not one the policy knows (known: "+orNone(p.knownList)+")")
		return
	}
	if p.restricted[key] {
		add(d, CheckEnvironment, remediate.VerdictReview, "environment "+quote(env)+" is restricted: changes there need a person")
	}
}

func (p *Policy) checkOwner(d *remediate.Decision, f *remediate.Finding) {
	if strings.TrimSpace(f.Owner) == "" {
		add(d, CheckOwner, remediate.VerdictReview, "owner is unknown: no configured source ("+orNone(p.ownText)+") named one")
	}
}

// checkException skips a finding an approved exception covers: one that
// enrichment recorded, or one of the policy's own. A finding whose
// resource has no id or ARN goes to review when the policy excepts any
// resource.
func (p *Policy) checkException(d *remediate.Decision, f *remediate.Finding, now time.Time) {
	if e, status := p.matchException(f, now); status == remediate.ExceptionApproved {
		add(d, CheckException, remediate.VerdictSkip, "exception "+quote(e.id)+" approved for "+e.scope()+" until "+e.expiresText+" (owner "+e.owner+"): "+e.reason)
		return
	}
	if f.Exception == remediate.ExceptionApproved {
		if f.ExceptionNote != "" {
			add(d, CheckException, remediate.VerdictSkip, "exception "+quote(f.ExceptionID)+" "+f.ExceptionNote)
			return
		}
		add(d, CheckException, remediate.VerdictSkip, "exception "+quote(f.ExceptionID)+" is approved")
		return
	}
	// Exceptions match a resource's id or ARN, never its display name; a
	// finding with neither could be about an excepted resource that a
	// remediator finds by name (an S3 bucket), so a person decides.
	if len(p.byResource) > 0 && f.Resource.ID == "" && f.Resource.ARN == "" {
		add(d, CheckException, remediate.VerdictReview, "the resource has no id or ARN, so whether an exception of the policy covers it cannot be told")
	}
}

func (p *Policy) checkAccount(d *remediate.Decision, f *remediate.Finding) {
	id := f.Resource.Account
	if id == "" {
		add(d, CheckAccount, remediate.VerdictReview, "account is missing: only allowlisted accounts are changed")
		return
	}
	if _, ok := p.accounts[id]; !ok {
		add(d, CheckAccount, remediate.VerdictReview, "account "+quote(id)+" is not allowlisted")
	}
}

func (p *Policy) checkResourceType(d *remediate.Decision, f *remediate.Finding) ([]string, bool) {
	t := f.Resource.Type
	if t == "" {
		add(d, CheckResourceType, remediate.VerdictReview, "resource type is missing")
		return nil, false
	}
	actions, ok := p.types[t]
	if !ok {
		add(d, CheckResourceType, remediate.VerdictReview, "resource type "+quote(t)+" is not approved for automatic remediation")
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
		add(d, CheckControl, remediate.VerdictReview, "control "+quote(id)+" maps to "+quote(byID)+" but its source rule "+quote(src)+" maps to "+quote(bySrc))
		return ""
	case okID:
		return byID
	case okSrc:
		return bySrc
	case id == "" && src == "":
		add(d, CheckControl, remediate.VerdictReview, "the finding names no control: no playbook applies")
	case src == "":
		add(d, CheckControl, remediate.VerdictReview, "no playbook for control "+quote(id))
	case id == "":
		add(d, CheckControl, remediate.VerdictReview, "no playbook for source rule "+quote(src))
	default:
		add(d, CheckControl, remediate.VerdictReview, "no playbook for control "+quote(id)+" or its source rule "+quote(src))
	}
	return ""
}

func (p *Policy) checkAction(d *remediate.Decision, f *remediate.Finding, action string, typeActions []string, typeOK bool) {
	proposed := f.ProposedAction
	if proposed != "" && action != "" && proposed != action {
		add(d, CheckAction, remediate.VerdictReview, "proposed action "+quote(proposed)+" differs from the playbook's action "+quote(action))
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
		add(d, CheckAction, remediate.VerdictReview, "action "+quote(a)+" is not allowed for resource type "+quote(f.Resource.Type))
	case !p.actions[a]:
		add(d, CheckAction, remediate.VerdictReview, "action "+quote(a)+" is not an allowed action")
	}
}

// add records a failing check, as remediate.Decision.Add does, with a
// message already built: the decision's verdict becomes the strongest of
// its reasons (Verdict values are ordered by precedence). Messages are
// concatenated rather than formatted because fmt would cost more than
// all the checks together. The first reason makes room for several: a
// finding that fails one check usually fails a few.
func add(d *remediate.Decision, check string, v remediate.Verdict, msg string) {
	if d.Reasons == nil {
		d.Reasons = make([]remediate.Reason, 0, 8)
	}
	d.Reasons = append(d.Reasons, remediate.Reason{Check: check, Verdict: v, Message: msg})
	if v > d.Verdict {
		d.Verdict = v
	}
}

func orNone(list string) string {
	if list == "" {
		return "none"
	}
	return list
}

// quote quotes a value taken from a finding, as %q would, so control
// characters and stray spaces are visible in audit records. Plain values
// skip escaping rune by rune.
func quote(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return strconv.Quote(s)
		}
	}
	return `"` + s + `"`
}
