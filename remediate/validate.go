package remediate

import (
	"fmt"
	"maps"
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

// ResourceTypeNamer is an optional extension of a Policy that also
// implements ActionNamer: ResourceTypes returns the resource types the
// policy approves action for, such as "bucket" (eligibility.Policy
// implements both). The engine then checks, when it is built, that each
// action's remediator declares every type the policy approves it for,
// so that a policy approving "s3-block-public-access" for "AWS::S3::Bucket"
// while the remediator fixes "bucket" is a load error rather than a
// review of every finding of that type.
type ResourceTypeNamer interface {
	ActionNamer
	ResourceTypes(action string) []string
}

// MismatchedResourceTypes returns, for each action p approves for a
// resource type its remediator in reg does not declare in
// Spec.ResourceTypes, those types, sorted: none when p does not
// implement ResourceTypeNamer. Actions reg has no remediator for are
// left to UnregisteredActions.
func MismatchedResourceTypes(p Policy, reg *Registry) map[string][]string {
	n, ok := p.(ResourceTypeNamer)
	if !ok || reg == nil {
		return nil
	}
	var out map[string][]string
	for _, a := range n.Actions() {
		rem, err := reg.Lookup(a)
		if err != nil {
			continue
		}
		fixes := rem.Spec().ResourceTypes
		for _, t := range n.ResourceTypes(a) {
			if slices.Contains(fixes, t) || slices.Contains(out[a], t) {
				continue
			}
			if out == nil {
				out = map[string][]string{}
			}
			out[a] = append(out[a], t)
		}
		slices.Sort(out[a])
	}
	return out
}

// validateResourceTypes returns an error naming each action p approves
// for a resource type its remediator does not fix (see
// MismatchedResourceTypes).
func validateResourceTypes(p Policy, reg *Registry) error {
	bad := MismatchedResourceTypes(p, reg)
	if len(bad) == 0 {
		return nil
	}
	var msgs []string
	for _, a := range slices.Sorted(maps.Keys(bad)) {
		rem, _ := reg.Lookup(a)
		quoted := make([]string, len(bad[a]))
		for i, t := range bad[a] {
			quoted[i] = strconv.Quote(t)
		}
		msgs = append(msgs, fmt.Sprintf("%q for resource type %s, which its remediator does not fix (it fixes %q)",
			a, strings.Join(quoted, ", "), rem.Spec().ResourceTypes))
	}
	return fmt.Errorf("remediate: NewEngine: Options.Policy approves %s; approve each action only for the types its remediator declares (Spec.ResourceTypes), or register a remediator that fixes them",
		strings.Join(msgs, "; "))
}
