package eligibility

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/remedy-sec/remedy/internal/ascii"
	"github.com/remedy-sec/remedy/remediate"
)

// Check names. They are stable: audit records, review routing and
// `remedy decide --summary` group by them. A CEL rule's check is "rule:"
// followed by its name.
const (
	CheckPayload      = "payload"       // a concern raised while parsing or enriching
	CheckTrigger      = "trigger_type"  // only CREATED and REOPENED may lead to a change
	CheckStatus       = "status"        // only OPEN and IN_PROGRESS findings are acted on
	CheckSeverity     = "severity"      // only HIGH and CRITICAL are acted on
	CheckEnvironment  = "environment"   // known, not restricted
	CheckOwner        = "owner"         // someone owns the resource
	CheckException    = "exception"     // no approved exception covers the finding
	CheckAccount      = "account"       // the account is allowlisted
	CheckResourceType = "resource_type" // the resource type is approved
	CheckControl      = "control"       // a playbook maps the control to an action
	CheckAction       = "action"        // the action is allowed for the resource type
	CheckRulePrefix   = "rule:"         // prefix of a CEL rule's check name
)

// Options configure a Policy.
type Options struct {
	// Now returns the current time; exceptions expire against it. Nil
	// means time.Now.
	Now func() time.Time
	// AccountEnvironments, if set, states the environment of accounts
	// from a registry the operator keeps, such as the account registry
	// of package crossaccount. Enrich consults it whatever the policy's
	// environment sources are (see Enrich): an account it says is in a
	// restricted environment is treated as restricted, whatever tags say.
	AccountEnvironments AccountEnvironments
	// Exceptions, if set, is a store of exceptions beside the policy
	// file's, such as adapters/dynamo's table. Enrich reads it for every
	// finding; when it cannot be read, Enrich returns the error, so the
	// finding is retried or reviewed, never changed.
	Exceptions ExceptionSource
}

// Policy is a compiled eligibility policy. It is immutable once built
// and safe for concurrent use. It implements remediate.Policy and
// remediate.Enricher. The zero Policy approves nothing: every finding it
// does not skip goes to review.
type Policy struct {
	name        string // the file's name key
	fileVersion string // the file's version key
	id          string // Version()
	now         func() time.Time

	known      map[string]string // lower-case name → spelling in the file
	knownList  string            // for messages
	restricted map[string]bool   // lower-case names
	envSources []source
	ownSources []source
	envText    string // sources, for messages
	ownText    string

	accounts        map[string]account
	accountEnvs     AccountEnvironments // Options.AccountEnvironments, or nil
	exceptionSource ExceptionSource     // Options.Exceptions, or nil
	types           map[string][]string // resource type → allowed actions
	actions         map[string]bool     // union of all allowed actions
	books           map[string]string   // control or source rule id → action

	exceptions []exception
	byResource map[string][]int // exceptions naming a resource
	byControl  map[string][]int // exceptions naming only a control

	sensitive map[string][]sensitiveApproval // action → where it may run although sensitive
	approvals []approvalRule                 // approval_required

	rules []rule
}

var (
	_ remediate.Policy            = (*Policy)(nil)
	_ remediate.Enricher          = (*Policy)(nil)
	_ remediate.ActionNamer       = (*Policy)(nil)
	_ remediate.ResourceTypeNamer = (*Policy)(nil)
)

// account is one allowlisted account and its metadata.
type account struct {
	id, name, environment, owner string
}

// sensitiveApproval lets a sensitive action run unattended: in the
// listed environments (lower-case) and accounts, or anywhere when a list
// is nil.
type sensitiveApproval struct {
	environments, accounts map[string]bool
}

// covers reports whether a covers f.
func (a sensitiveApproval) covers(f *remediate.Finding) bool {
	if a.environments != nil && !a.environments[ascii.Lower(strings.TrimSpace(f.Environment))] {
		return false
	}
	return a.accounts == nil || a.accounts[f.Resource.Account]
}

// approvalRule is one approval_required entry: a finding it matches
// needs a person's approval of its plan. A nil set matches anything.
type approvalRule struct {
	actions, accounts, environments map[string]bool // environments lower-case
	tags                            map[string]string
}

// matches reports whether a covers f and action.
func (a approvalRule) matches(f *remediate.Finding, action string) bool {
	if a.actions != nil && !a.actions[action] {
		return false
	}
	if a.accounts != nil && !a.accounts[f.Resource.Account] {
		return false
	}
	if a.environments != nil && !a.environments[ascii.Lower(strings.TrimSpace(f.Environment))] {
		return false
	}
	for k, v := range a.tags {
		got, ok := f.Resource.Tags[k]
		if !ok || strings.TrimSpace(got) != v {
			return false
		}
	}
	return true
}

// exception is one approved exception from the policy file.
type exception struct {
	id, resource, control, account string
	owner, reason                  string
	expires                        time.Time // first instant it no longer applies
	expiresText                    string
}

// sourceKind says where a source reads environment or owner from.
type sourceKind uint8

const (
	sourceTag      sourceKind = iota + 1 // a resource tag, by exact key
	sourceAccount                        // the account's metadata in the policy
	sourceDeclared                       // what the payload declares about itself
	sourceRegistry                       // Options.AccountEnvironments
)

type source struct {
	kind sourceKind
	key  string // tag key, for sourceTag
	text string // as written in the file: "tag:Environment"
}

// defaultPolicy is the seed's rule with nothing approved. It knows the
// usual environment names and reads environment and owner from the
// conventional tags only: a payload's own claims are not trusted.
const defaultPolicy = `name: default
environment:
  known: [production, staging, development]
  restricted: [restricted-production]
  sources: [tag:Environment]
owner:
  sources: [tag:Owner]
`

// Default returns the seed's rule as a policy: severity HIGH or CRITICAL,
// environment known and not restricted-production, an owner, no approved
// exception, plus trigger type, status and account checks. It approves
// no resource type, action, playbook or account, so it never remediates:
// every finding it cannot skip goes to review. Load a policy file to
// approve fixes.
func Default(optFns ...func(*Options)) *Policy {
	p, err := Parse([]byte(defaultPolicy), "default", optFns...)
	if err != nil {
		// The default is a constant checked by the tests.
		panic("eligibility: default policy does not load: " + err.Error())
	}
	return p
}

// Load reads and compiles the YAML policy file at path. Errors name the
// file and line.
func Load(path string, optFns ...func(*Options)) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("eligibility: %w", err)
	}
	return Parse(data, filepath.Base(path), optFns...)
}

// Parse compiles a YAML policy. name is the file name used in errors and,
// when the file sets no name, in Version. Every problem found is
// returned, joined; each is a *LoadError.
func Parse(data []byte, name string, optFns ...func(*Options)) (*Policy, error) {
	var o Options
	for _, fn := range optFns {
		fn(&o)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	p, err := compile(data, name)
	if err != nil {
		return nil, err
	}
	p.now = o.Now
	p.exceptionSource = o.Exceptions
	if o.AccountEnvironments != nil {
		p.accountEnvs = o.AccountEnvironments
		p.envSources = append(slices.Clip(p.envSources), source{kind: sourceRegistry, text: registryText})
		p.envText = sourcesText(p.envSources)
	}
	sum := sha256.Sum256(data)
	label := p.name
	if label == "" {
		label = strings.TrimSuffix(name, filepath.Ext(name))
	}
	if p.fileVersion != "" {
		label += "/" + p.fileVersion
	}
	p.id = label + "@sha256:" + hex.EncodeToString(sum[:6])
	return p, nil
}

// Version identifies the policy: its name, the version the file declares
// if any, and a prefix of the file's SHA-256, such as
// "acme-remediation/7@sha256:1f2e3d4c5b6a". Decisions carry it.
func (p *Policy) Version() string { return p.id }

// Actions returns every action the policy allows on some resource type,
// sorted; every playbook's action is one of them. It implements
// remediate.ActionNamer, so that an engine refuses a policy naming an
// action no remediator registers.
func (p *Policy) Actions() []string {
	return slices.Sorted(maps.Keys(p.actions))
}

// ResourceTypes returns the resource types the policy allows action on,
// sorted. It implements remediate.ResourceTypeNamer, so that an engine
// refuses a policy approving an action for a type its remediator does
// not fix.
func (p *Policy) ResourceTypes(action string) []string {
	var out []string
	for t, acts := range p.types {
		if slices.Contains(acts, action) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}
