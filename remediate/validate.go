package remediate

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ActionNamer is an optional extension of a Policy: Actions returns every
// action the policy can choose, such as "s3-block-public-access". A
// policy that implements it (eligibility.Policy does) is checked against
// the Registry when the engine is built, so that an action no remediator
// registers — a typo, a remediator left out of the build — is a load
// error rather than a review of every finding the policy approves.
type ActionNamer interface {
	Actions() []string
}

// UnregisteredActions returns the actions p names that reg has no
// remediator for, sorted and without repeats: none when p does not
// implement ActionNamer. A nil reg registers nothing.
func UnregisteredActions(p Policy, reg *Registry) []string {
	n, ok := p.(ActionNamer)
	if !ok {
		return nil
	}
	var missing []string
	for _, a := range n.Actions() {
		if reg != nil {
			if _, err := reg.Lookup(a); err == nil {
				continue
			}
		}
		missing = append(missing, a)
	}
	slices.Sort(missing)
	return slices.Compact(missing)
}

// validatePolicyActions returns an error wrapping ErrUnknownAction when p
// names an action reg has no remediator for (see UnregisteredActions).
func validatePolicyActions(p Policy, reg *Registry) error {
	missing := UnregisteredActions(p, reg)
	if len(missing) == 0 {
		return nil
	}
	quoted := make([]string, len(missing))
	for i, a := range missing {
		quoted[i] = strconv.Quote(a)
	}
	registered := "none"
	if reg != nil && len(reg.Actions()) > 0 {
		registered = strings.Join(reg.Actions(), ", ")
	}
	return fmt.Errorf("remediate: NewEngine: Options.Policy names %s, which no remediator in Options.Registry has (registered: %s); register a remediator for each or remove it from the policy: %w",
		strings.Join(quoted, ", "), registered, ErrUnknownAction)
}
