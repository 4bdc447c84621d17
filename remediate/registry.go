package remediate

import (
	"fmt"
	"slices"
	"sync"
)

// Registry maps action names to remediators. The zero value is empty and
// ready to use; it is safe for concurrent use.
type Registry struct {
	mu    sync.RWMutex
	byAct map[string]Remediator
}

// NewRegistry returns a registry holding rs, or an error if two share an
// action name or one is invalid.
func NewRegistry(rs ...Remediator) (*Registry, error) {
	reg := &Registry{}
	for _, r := range rs {
		if err := reg.Register(r); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

// Register adds r. It fails if r's action is empty, already registered,
// or r declares no resource type or IAM action.
func (g *Registry) Register(r Remediator) error {
	if r == nil {
		return fmt.Errorf("remediate: register: nil remediator")
	}
	s := r.Spec()
	switch {
	case s.Action == "":
		return fmt.Errorf("remediate: register %T: Spec().Action is empty", r)
	case len(s.ResourceTypes) == 0:
		return fmt.Errorf("remediate: register %q: Spec().ResourceTypes is empty; declare the native types it fixes", s.Action)
	case len(s.IAMActions) == 0:
		return fmt.Errorf("remediate: register %q: Spec().IAMActions is empty; declare every IAM action it calls", s.Action)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, dup := g.byAct[s.Action]; dup {
		return fmt.Errorf("%w: %q", ErrDuplicateAction, s.Action)
	}
	if g.byAct == nil {
		g.byAct = make(map[string]Remediator)
	}
	g.byAct[s.Action] = r
	return nil
}

// Lookup returns the remediator for action, or an error wrapping
// ErrUnknownAction.
func (g *Registry) Lookup(action string) (Remediator, error) {
	g.mu.RLock()
	r, ok := g.byAct[action]
	g.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownAction, action)
	}
	return r, nil
}

// Actions returns the registered action names, sorted.
func (g *Registry) Actions() []string {
	g.mu.RLock()
	defer g.mu.RUnlock()
	out := make([]string, 0, len(g.byAct))
	for a := range g.byAct {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// Specs returns the specs of every registered remediator, sorted by action.
func (g *Registry) Specs() []Spec {
	acts := g.Actions()
	out := make([]Spec, 0, len(acts))
	g.mu.RLock()
	defer g.mu.RUnlock()
	for _, a := range acts {
		out = append(out, g.byAct[a].Spec())
	}
	return out
}
