package eligibility

import (
	"strings"

	"github.com/remedy-sec/remedy/internal/ascii"
	"github.com/remedy-sec/remedy/remediate"
)

// AccountEnvironments states which environment accounts are in, from a
// registry the operator keeps: *crossaccount.Accounts implements it with
// the environment of each account entry. See Options.AccountEnvironments.
type AccountEnvironments interface {
	// Environment returns the environment stated for the 12-digit
	// account id, or "" when the registry states none.
	Environment(accountID string) string
}

// registryText names Options.AccountEnvironments as a source in messages.
const registryText = "account registry"

// environment returns f's environment from the configured sources (see
// Enrich), recording a concern when they disagree.
//
// Account metadata — the account's entry in the policy, when "account" is
// a source, and Options.AccountEnvironments — that names a restricted
// environment decides alone: the account is restricted whatever its
// resources' tags or the payload say, and the finding's reasons say so,
// rather than that its environment is unknown. Otherwise every source
// must agree as before; when they disagree and one of them names a
// restricted environment, the concern is kept and the environment is
// that restricted one, so that a review filtered on environment finds it.
func (p *Policy) environment(f *remediate.Finding) string {
	for _, s := range p.envSources {
		if s.kind == sourceAccount || s.kind == sourceRegistry {
			if env, ok := p.restrictedValue(p.sourceValue(f, s, true)); ok {
				return env
			}
		}
	}
	env := p.resolve(f, "environment", p.envSources, true)
	if env != "" {
		return env
	}
	for _, s := range p.envSources {
		if env, ok := p.restrictedValue(p.sourceValue(f, s, true)); ok {
			return env
		}
	}
	return ""
}

// restrictedValue returns the policy's spelling of v when v, trimmed and
// readable, names a restricted environment.
func (p *Policy) restrictedValue(v string) (string, bool) {
	v = strings.TrimSpace(v)
	if v == "" || !ascii.Visible(v) {
		return "", false
	}
	key := ascii.Lower(v)
	if !p.restricted[key] {
		return "", false
	}
	return p.known[key], true
}

// registryEnvironment is what Options.AccountEnvironments states for f's
// account.
func (p *Policy) registryEnvironment(f *remediate.Finding) string {
	if p.accountEnvs == nil || f.Resource.Account == "" {
		return ""
	}
	return p.accountEnvs.Environment(f.Resource.Account)
}
