package remediate

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
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

// Register adds r. It fails, naming what to fix, if r's action is
// already registered or its Spec is incomplete or malformed (see
// Spec.Validate): above all a resource type without the ARN patterns
// its session may cover.
func (g *Registry) Register(r Remediator) error {
	if r == nil {
		return fmt.Errorf("remediate: register: nil remediator")
	}
	s := r.Spec()
	if err := s.Validate(); err != nil {
		if s.Action == "" {
			return fmt.Errorf("remediate: register %T: %w", r, err)
		}
		return fmt.Errorf("remediate: register %q: %w", s.Action, err)
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

// Placeholders of the ARN patterns in Spec.Resources, replaced by the
// partition, region and account of the session the pattern scopes.
const (
	PatternPartition = "{partition}"
	PatternRegion    = "{region}"
	PatternAccount   = "{account}"
)

// Validate reports every problem of s at once, each naming the field and
// what to declare:
//
//   - Action, ResourceTypes or IAMActions is empty;
//   - an IAM action is not "service:Action" or holds a wildcard;
//   - a resource type has no ARN pattern in Resources, or Resources
//     declares a type that is not in ResourceTypes;
//   - a pattern is not of the form Resources documents, or its service
//     is not the service of any of IAMActions;
//   - a PermanentErrorCodes entry is empty, holds a space, or is a code
//     that a retry fixes (throttling, a timeout, a server error, the
//     platform's own expired or invalid token).
//
// Registry.Register calls it, and so does package crossaccount before it
// builds a session policy.
func (s Spec) Validate() error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if s.Action == "" {
		bad("Spec().Action is empty; name the action policies refer to, such as \"s3-block-public-access\"")
	}
	if len(s.ResourceTypes) == 0 {
		bad("Spec().ResourceTypes is empty; declare the native types it fixes")
	}
	if len(s.IAMActions) == 0 {
		bad("Spec().IAMActions is empty; declare every IAM action it calls")
	}
	services := map[string]bool{}
	for _, a := range s.IAMActions {
		svc, ok := iamService(a)
		if !ok {
			bad("Spec().IAMActions: %q is not service:Action without a wildcard, such as \"s3:GetBucketAcl\"; declare each action it calls", a)
			continue
		}
		services[svc] = true
	}
	for _, t := range s.ResourceTypes {
		if len(s.Resources[t]) == 0 {
			bad("Spec().Resources has no ARN pattern for resource type %q; declare the ARNs of its resources, such as %q, so that its session covers them and no more",
				t, "arn:"+PatternPartition+":s3:::*")
		}
	}
	types := make([]string, 0, len(s.Resources))
	for t := range s.Resources {
		types = append(types, t)
	}
	slices.Sort(types)
	for _, t := range types {
		if !slices.Contains(s.ResourceTypes, t) {
			bad("Spec().Resources declares resource type %q, which is not in ResourceTypes %q; add it there or remove it", t, s.ResourceTypes)
		}
		for _, p := range s.Resources[t] {
			svc, err := checkPattern(p)
			switch {
			case err != nil:
				bad("Spec().Resources[%q]: pattern %q %v", t, p, err)
			case len(services) > 0 && !services[svc]:
				bad("Spec().Resources[%q]: pattern %q is of service %q, which none of IAMActions %q belongs to; declare the pattern of the resources its actions act on",
					t, p, svc, s.IAMActions)
			}
		}
	}
	for _, c := range s.PermanentErrorCodes {
		switch {
		case c == "" || strings.IndexFunc(c, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
			bad("Spec().PermanentErrorCodes: %q is not an AWS error code, such as \"DBInstanceNotFound\"", c)
		case retryFixes(c):
			bad("Spec().PermanentErrorCodes: %q is an error a retry fixes (throttling, a timeout, a server error, the platform's own credentials); remove it", c)
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(problems, "; "))
}

// iamService returns the service of an IAM action "service:Action",
// which must be written out (no wildcard).
func iamService(a string) (string, bool) {
	svc, name, ok := strings.Cut(a, ":")
	if !ok || !isServiceName(svc) || name == "" {
		return "", false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return "", false
		}
	}
	return svc, true
}

func isServiceName(svc string) bool {
	if svc == "" {
		return false
	}
	for _, r := range svc {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// checkPattern checks an ARN pattern of Spec.Resources and returns its
// service. The error completes the sentence "pattern P ...".
func checkPattern(p string) (string, error) {
	f := strings.SplitN(p, ":", 6)
	switch {
	case len(f) != 6 || f[0] != "arn":
		return "", errors.New("is not an ARN (arn:{partition}:service:{region}:{account}:resource*)")
	case f[1] != PatternPartition:
		return "", fmt.Errorf("has partition %q; write %s, so that it holds in every partition", f[1], PatternPartition)
	case !isServiceName(f[2]):
		return "", fmt.Errorf("has service %q; write the IAM service prefix, such as ec2", f[2])
	case f[3] != "" && f[3] != PatternRegion:
		return "", fmt.Errorf("has region %q; write %s, or nothing for a service whose ARNs have no region", f[3], PatternRegion)
	case f[4] != "" && f[4] != PatternAccount:
		return "", fmt.Errorf("has account %q; write %s, or nothing for a service whose ARNs have no account", f[4], PatternAccount)
	case !strings.HasSuffix(f[5], "*"):
		return "", errors.New("does not end in \"*\", which stands for the resource id")
	case strings.ContainsAny(f[5], "?{}"):
		return "", errors.New("holds ? or a placeholder in its resource part; only a trailing \"*\" stands for the id")
	}
	return f[2], nil
}

// retryFixes reports whether an AWS error code is one the SDK retries
// (throttling, timeouts), a server error, or one of the platform's own
// credentials, which ClassifyAWS keeps transient on purpose (see there):
// never a permanent one.
func retryFixes(code string) bool {
	if _, ok := retry.DefaultThrottleErrorCodes[code]; ok {
		return true
	}
	if _, ok := retry.DefaultRetryableErrorCodes[code]; ok {
		return true
	}
	switch code {
	case "ExpiredToken", "ExpiredTokenException", "RequestExpired", "InvalidClientTokenId",
		"InternalError", "InternalFailure", "ServiceUnavailable":
		return true
	}
	return false
}
