package crossaccount

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/remedy-sec/remedy/remediate"
)

// MaxPolicySize is the largest session policy STS accepts, in characters
// of plain text (minified JSON).
const MaxPolicySize = 2048

// Scope says where the statements of a session policy apply.
type Scope struct {
	// Partition is the ARN partition; empty means "aws".
	Partition string
	// Account is the 12-digit account the session acts in. Required.
	Account string
	// Regions are the regions the session may act in. Empty, or a list
	// holding "*", means any region.
	Regions []string
	// ResourceARN, when set, is the one resource the session is for
	// (strict mode): actions of its service are allowed on it alone. It
	// may not hold * or ?, which IAM would read as wildcards. In strict
	// mode the Cache sets it from the finding's ARN, or builds it from a
	// bare resource id (a bucket name, "sg-…") and the finding's type,
	// account, region and partition; a finding it cannot build one for is
	// refused rather than given a session scoped to every resource of the
	// type.
	ResourceARN string
}

// SessionPolicy returns the session policy, as minified JSON, that allows
// the IAM actions s declares and nothing more.
//
// Actions of the service named by sc.ResourceARN apply to that resource
// only. Actions of other services apply to the account's resources that
// s declares (Spec.Resources: the ARN patterns of each resource type,
// with the partition, the region — "*" unless sc names one region — and
// the account filled in). ARNs without an account field (S3 buckets, EBS
// snapshots) are held to the account with aws:ResourceAccount, and listed
// regions are enforced with aws:RequestedRegion. The few read-only
// actions that AWS cannot scope to a resource (ec2:Describe*,
// s3:ListAllMyBuckets, ...) get "Resource": "*"; no other action ever
// does.
//
// A Spec that does not validate (remediate.Spec.Validate), or that
// declares an action AWS can scope to a resource of a service none of
// its patterns belong to, is an error naming what to declare: a session
// is never widened to every resource of a service because a resource was
// not declared.
//
// In shared mode (no sc.ResourceARN), a policy longer than MaxPolicySize
// is rebuilt with coarser resources, first the account's declared
// resources, then every ARN of the service in the account. A strict
// policy is never widened. If no allowed scope fits, the error wraps
// ErrPolicyTooLarge. Every error is permanent: retrying cannot help.
func SessionPolicy(s remediate.Spec, sc Scope) (string, error) {
	b, err := newPolicyBuilder(s, sc)
	if err != nil {
		return "", remediate.Permanent(err)
	}
	// A strict session is scoped to its finding's resource or not made:
	// widening it to the account's resources of the type would break
	// what strict mode promises.
	levels := levelCount
	if sc.ResourceARN != "" {
		levels = levelResource + 1
	}
	var doc []byte
	for level := range levels {
		if doc, err = b.build(level); err != nil {
			return "", remediate.Permanent(err)
		}
		if len(doc) <= MaxPolicySize {
			return string(doc), nil
		}
	}
	return "", remediate.Permanent(fmt.Errorf("%w: %d characters for %d actions of %q at the coarsest scope allowed (strict mode: %v)",
		ErrPolicyTooLarge, len(doc), len(s.IAMActions), s.Action, sc.ResourceARN != ""))
}

// strictResourceARN returns the ARN a strict session for f is scoped to,
// in partition and account: the finding's ARN, its id when that is an
// ARN, or, for a bare id (a bucket name, "sg-…", "snap-…", a key id), the
// ARN built from it, the finding's region and the first ARN pattern s
// declares for the finding's resource type (Spec.Resources). A finding it
// cannot build one for is refused with an error: a strict session is
// never scoped, in its place, to every resource of the type in the
// account.
func strictResourceARN(f *remediate.Finding, s remediate.Spec, partition, account string) (string, error) {
	r := f.Resource
	switch {
	case r.ARN != "":
		return r.ARN, nil
	case strings.HasPrefix(r.ID, "arn:"):
		return r.ID, nil
	case r.ID == "":
		return "", fmt.Errorf("crossaccount: strict mode: finding %s names no resource id or ARN to scope its session to", f.ID)
	case !isBareID(r.ID):
		return "", fmt.Errorf("crossaccount: strict mode: finding %s names resource %q, which is neither an ARN nor a bare resource id; give its ARN", f.ID, r.ID)
	}
	patterns := s.Resources[r.Type]
	if len(patterns) == 0 || !slices.Contains(s.ResourceTypes, r.Type) {
		return "", fmt.Errorf("crossaccount: strict mode: finding %s names resource %q by a bare id, and its type %q is not one whose ARN can be built "+
			"from what %q declares (Spec.Resources); give the resource's ARN", f.ID, r.ID, r.Type, s.Action)
	}
	pattern, ok := strings.CutSuffix(patterns[0], "*")
	switch {
	case !ok || strings.Contains(pattern, "*"):
		return "", fmt.Errorf("crossaccount: strict mode: finding %s names resource %q by a bare id, and the pattern %q of type %q has a wildcard other than the id's; give the resource's ARN",
			f.ID, r.ID, patterns[0], r.Type)
	case strings.Contains(pattern, remediate.PatternRegion) && !isRegion(r.Region):
		return "", fmt.Errorf("crossaccount: strict mode: finding %s names resource %q by a bare id and region %q; give the resource's ARN or a valid region", f.ID, r.ID, r.Region)
	}
	return expandPattern(pattern, partition, r.Region, account) + r.ID, nil
}

// expandPattern fills in the placeholders of an ARN pattern of
// Spec.Resources.
func expandPattern(pattern, partition, region, account string) string {
	return strings.NewReplacer(remediate.PatternPartition, partition, remediate.PatternRegion, region, remediate.PatternAccount, account).Replace(pattern)
}

// isBareID reports whether s can stand for one resource at the end of an
// ARN: letters, digits, '.', '_' and '-', and no separator ('/', ':') or
// IAM wildcard ('*', '?') that would make it name another or several.
func isBareID(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Scope levels, from finest to coarsest.
const (
	levelResource = iota // the finding's resource, where one is known
	levelType            // the account's resources of the declared types
	levelService         // every ARN of the service in the account
	levelCount
)

type policyBuilder struct {
	partition, account string
	arnRegion          string   // region field of generated ARNs
	regions            []string // for aws:RequestedRegion; nil means any
	patterns           []string // declared ARN patterns, in the order of the Spec's types
	resource           arn      // zero unless strict
	byService          map[string][]string
	services           []string
	unscoped           []string // read-only actions that need "*"
}

func newPolicyBuilder(s remediate.Spec, sc Scope) (*policyBuilder, error) {
	b := &policyBuilder{partition: sc.Partition, account: sc.Account, byService: map[string][]string{}}
	if b.partition == "" {
		b.partition = "aws"
	}
	if !isAccountID(b.account) {
		return nil, fmt.Errorf("crossaccount: session policy: account %q is not 12 digits", b.account)
	}
	if !slices.Contains(sc.Regions, "*") {
		for _, r := range sc.Regions {
			if !isRegion(r) {
				return nil, fmt.Errorf("crossaccount: session policy: bad region %q", r)
			}
		}
		b.regions = slices.Compact(slices.Sorted(slices.Values(sc.Regions)))
	}
	b.arnRegion = "*"
	if len(b.regions) == 1 {
		b.arnRegion = b.regions[0]
	}
	if sc.ResourceARN != "" {
		a, ok := parseARN(sc.ResourceARN)
		switch {
		case strings.ContainsAny(sc.ResourceARN, "*?"):
			// IAM reads * and ? in a Resource as wildcards: the policy
			// would allow every resource the pattern matches.
			return nil, fmt.Errorf("crossaccount: session policy: resource %q holds a wildcard; it must name one resource", sc.ResourceARN)
		case !ok:
			return nil, fmt.Errorf("crossaccount: session policy: resource %q is not an ARN", sc.ResourceARN)
		case a.partition != b.partition:
			return nil, fmt.Errorf("crossaccount: session policy: resource %s is in partition %q, not %q", sc.ResourceARN, a.partition, b.partition)
		case a.account != "" && a.account != b.account:
			return nil, fmt.Errorf("crossaccount: session policy: resource %s belongs to account %s, not %s", sc.ResourceARN, a.account, b.account)
		}
		b.resource = a
	}
	if len(s.IAMActions) == 0 {
		return nil, fmt.Errorf("crossaccount: session policy: %q declares no IAM action", s.Action)
	}
	for _, act := range slices.Compact(slices.Sorted(slices.Values(s.IAMActions))) {
		svc, name, ok := splitAction(act)
		if !ok {
			return nil, fmt.Errorf("crossaccount: session policy: %q declares %q, which is not service:Action", s.Action, act)
		}
		if strings.Trim(name, "*?") == "" {
			return nil, fmt.Errorf("crossaccount: session policy: %q declares %q; declare the actions it calls, not a wildcard", s.Action, act)
		}
		if needsAnyResource(svc, name) {
			b.unscoped = append(b.unscoped, act)
			continue
		}
		if _, seen := b.byService[svc]; !seen {
			b.services = append(b.services, svc)
		}
		b.byService[svc] = append(b.byService[svc], act)
	}
	slices.Sort(b.services)
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("crossaccount: session policy: %q: %w", s.Action, err)
	}
	declared := map[string]bool{}
	for _, t := range s.ResourceTypes {
		for _, p := range s.Resources[t] {
			if !slices.Contains(b.patterns, p) {
				b.patterns = append(b.patterns, p)
			}
			a, _ := parseARN(p)
			declared[a.service] = true
		}
	}
	for _, svc := range b.services {
		if !declared[svc] {
			return nil, fmt.Errorf("crossaccount: session policy: %q declares %s, which act on resources, but none of its Spec.Resources patterns is of service %q; "+
				"declare the ARN pattern of the %s resources it acts on", s.Action, strings.Join(b.byService[svc], ", "), svc, svc)
		}
	}
	return b, nil
}

type statement struct {
	Effect    string                         `json:"Effect"`
	Action    []string                       `json:"Action"`
	Resource  []string                       `json:"Resource"`
	Condition map[string]map[string][]string `json:"Condition,omitempty"`
}

type policyDoc struct {
	Version   string      `json:"Version"`
	Statement []statement `json:"Statement"`
}

func (b *policyBuilder) build(level int) ([]byte, error) {
	doc := policyDoc{Version: "2012-10-17"}
	for _, svc := range b.services {
		res := b.resources(svc, level)
		st := statement{Effect: "Allow", Action: b.byService[svc], Resource: res}
		cond := map[string][]string{}
		if b.regions != nil && !isGlobalService(svc) {
			cond["aws:RequestedRegion"] = b.regions
		}
		for _, r := range res {
			if a, _ := parseARN(r); a.account == "" {
				cond["aws:ResourceAccount"] = []string{b.account}
				break
			}
		}
		if len(cond) > 0 {
			st.Condition = map[string]map[string][]string{"StringEquals": cond}
		}
		doc.Statement = append(doc.Statement, st)
	}
	if len(b.unscoped) > 0 {
		st := statement{Effect: "Allow", Action: b.unscoped, Resource: []string{"*"}}
		if b.regions != nil {
			st.Condition = map[string]map[string][]string{"StringEquals": {"aws:RequestedRegion": b.regions}}
		}
		doc.Statement = append(doc.Statement, st)
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("crossaccount: session policy: %w", err)
	}
	return out, nil
}

// resources returns the Resource list for the actions of svc at level.
func (b *policyBuilder) resources(svc string, level int) []string {
	if level == levelResource && b.resource.service == svc {
		return []string{b.resource.String()}
	}
	var typed []string
	for _, p := range b.patterns {
		if a, _ := parseARN(p); a.service == svc {
			typed = append(typed, b.expand(p))
		}
	}
	typed = slices.Compact(slices.Sorted(slices.Values(typed)))
	if level <= levelType && len(typed) > 0 {
		return typed
	}
	// Coarsest: the whole service in the account, plus the type patterns
	// whose ARNs carry no account (the account-wide pattern cannot match
	// them; aws:ResourceAccount holds them to the account).
	out := []string{b.expand(servicePattern(svc))}
	for _, r := range typed {
		if a, _ := parseARN(r); a.account == "" && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

func (b *policyBuilder) expand(pattern string) string {
	return expandPattern(pattern, b.partition, b.arnRegion, b.account)
}

// servicePattern is every ARN of svc in the account: the coarsest scope
// a shared session falls back to when its declared resources make the
// policy too long.
func servicePattern(svc string) string {
	const p, r, a = remediate.PatternPartition, remediate.PatternRegion, remediate.PatternAccount
	switch svc {
	case "s3":
		return "arn:" + p + ":s3:::*" // bucket ARNs have no account; see aws:ResourceAccount
	case "iam":
		return "arn:" + p + ":iam::" + a + ":*"
	}
	return "arn:" + p + ":" + svc + ":" + r + ":" + a + ":*"
}

// needsAnyResource reports whether an action is read-only and cannot be
// scoped to a resource, so that it only works with "Resource": "*". Only
// names starting with Describe, Get, List or Lookup qualify: a write
// action never gets "*".
func needsAnyResource(svc, name string) bool {
	if !hasAnyPrefix(name, "Describe", "Get", "List", "Lookup") {
		return false
	}
	switch svc {
	case "ec2":
		return strings.HasPrefix(name, "Describe")
	case "s3":
		return name == "ListAllMyBuckets" || name == "GetAccountPublicAccessBlock"
	case "kms":
		return name == "ListKeys" || name == "ListAliases"
	case "cloudtrail":
		return name == "DescribeTrails" || name == "ListTrails" || name == "LookupEvents"
	case "sts":
		return name == "GetCallerIdentity"
	case "tag":
		return name == "GetResources"
	case "iam":
		return name == "GetAccountSummary" || name == "GetAccountPasswordPolicy" || name == "ListRoles" || name == "ListUsers" || name == "ListPolicies"
	}
	return false
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// isGlobalService reports whether a service's calls are all made in one
// fixed region, so aws:RequestedRegion must not restrict them.
func isGlobalService(svc string) bool {
	switch svc {
	case "iam", "organizations", "route53", "cloudfront", "waf", "shield", "support", "budgets", "ce", "globalaccelerator", "account":
		return true
	}
	return false
}

// splitAction splits "service:Action" and checks both halves.
func splitAction(a string) (svc, name string, ok bool) {
	svc, name, ok = strings.Cut(a, ":")
	if !ok || svc == "" || name == "" {
		return "", "", false
	}
	for _, r := range svc {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return "", "", false
		}
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '*' || r == '?') {
			return "", "", false
		}
	}
	return svc, name, true
}

// arn is a parsed ARN.
type arn struct {
	partition, service, region, account, resource string
}

func parseARN(s string) (arn, bool) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] == "" || parts[2] == "" || parts[5] == "" {
		return arn{}, false
	}
	return arn{partition: parts[1], service: parts[2], region: parts[3], account: parts[4], resource: parts[5]}, true
}

// arnAccount returns the account field of an ARN. It runs on every
// lookup, so it neither allocates nor scans past the account.
func arnAccount(s string) (string, bool) {
	if len(s) < 4 || s[:4] != "arn:" {
		return "", false
	}
	colons, start := 1, 0 // "arn:" holds the first colon
	for i := 4; i < len(s); i++ {
		if s[i] != ':' {
			continue
		}
		colons++
		switch colons {
		case 4:
			start = i + 1
		case 5:
			return s[start:i], true
		}
	}
	return "", false
}

// arnPartition returns the partition field of an ARN: what follows
// "arn:" up to the next colon. Like arnAccount it runs on every lookup
// and does not allocate.
func arnPartition(s string) (string, bool) {
	rest, ok := strings.CutPrefix(s, "arn:")
	if !ok {
		return "", false
	}
	p, _, ok := strings.Cut(rest, ":")
	return p, ok
}

func (a arn) String() string {
	return "arn:" + a.partition + ":" + a.service + ":" + a.region + ":" + a.account + ":" + a.resource
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// isRegion accepts names such as "us-east-1" or "us-gov-west-1".
func isRegion(s string) bool {
	if len(s) < 4 || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return s[0] != '-' && s[len(s)-1] != '-'
}
