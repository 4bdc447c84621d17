package crossaccount

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/remedy-sec/remedy/remediate"
)

// DefaultRoleTemplate is the role assumed in an account whose entry names
// no role and whose registry names no template.
const DefaultRoleTemplate = "arn:aws:iam::{account}:role/RemedyRemediation"

// maxRegistrySize bounds a YAML registry read by ReadAccounts.
const maxRegistrySize = 1 << 20

// Account is one allowlisted account as an operator declares it.
type Account struct {
	// ID is the 12-digit account id.
	ID string `yaml:"id"`
	// RoleARN is the role to assume. Empty means the registry's
	// RoleTemplate with {account} replaced by ID.
	RoleARN string `yaml:"role_arn,omitempty"`
	// ExternalID is the external id, written literally. Exactly one of
	// ExternalID and ExternalIDFrom is required.
	ExternalID string `yaml:"external_id,omitempty"`
	// ExternalIDFrom is a reference to the external id, resolved once by
	// LoadAccounts: "env:NAME" reads an environment variable, "ssm:/name"
	// an SSM parameter (with an SSMResolver), and other schemes whatever
	// LoadOptions.Resolvers holds.
	ExternalIDFrom string `yaml:"external_id_from,omitempty"`
	// Regions are the regions Remedy may act in for this account. Empty
	// means the registry's Regions; ["*"] means any region.
	Regions []string `yaml:"regions,omitempty"`
	// Environment is the environment the account is in, such as
	// "production" or "restricted-production"; empty states none. A
	// policy given the registry (eligibility.Options.AccountEnvironments,
	// as the reference deployment does) reads it: an account stated to be
	// in a restricted environment is restricted whatever its resources'
	// tags say.
	Environment string `yaml:"environment,omitempty"`

	line int // in the YAML source, for error messages
}

// AccountsConfig is the account registry as an operator declares it, in
// Go or in YAML (see ReadAccounts):
//
//	role_template: arn:aws:iam::{account}:role/RemedyRemediation
//	regions: [us-east-1, eu-west-1]
//	accounts:
//	  - id: "111111111111"
//	    external_id_from: env:REMEDY_EXTERNAL_ID_PROD
//	  - id: "222222222222"
//	    role_arn: arn:aws:iam::222222222222:role/SecurityFixer
//	    external_id_from: ssm:/remedy/external-id/222222222222
//	    regions: ["*"]
//	    environment: restricted-production
type AccountsConfig struct {
	// RoleTemplate builds the role ARN of accounts that name none;
	// "{account}" is replaced by the account id. Empty means
	// DefaultRoleTemplate.
	RoleTemplate string `yaml:"role_template,omitempty"`
	// Regions are the default allowed regions.
	Regions []string `yaml:"regions,omitempty"`
	// Accounts are the allowlisted accounts. An account not listed is
	// never assumed into.
	Accounts []Account `yaml:"accounts"`
}

// LoadOptions configure LoadAccounts and ReadAccounts.
type LoadOptions struct {
	// Resolvers resolve ExternalIDFrom references, by scheme (the part
	// before the first colon). "env" maps to EnvResolver{} unless set.
	Resolvers map[string]Resolver
}

// Accounts is a validated account registry whose external ids are
// resolved. It is immutable and safe for concurrent use. Its String and
// LogValue never show external ids.
type Accounts struct {
	byID map[string]*account
	ids  []string
}

type account struct {
	id, roleARN, partition string
	externalID             string
	externalIDHash         string   // identifies the external id in cache keys
	regions                []string // nil means any region
	environment            string   // trimmed; "" states none
}

// LoadAccounts validates c, resolves its external-id references and
// returns the registry. Every problem is reported, joined into one error:
// a malformed account id, a duplicate, a role ARN outside the account,
// an entry without an external id, a reference that does not resolve, an
// account without allowed regions.
func LoadAccounts(ctx context.Context, c AccountsConfig, optFns ...func(*LoadOptions)) (*Accounts, error) {
	var o LoadOptions
	for _, fn := range optFns {
		fn(&o)
	}
	resolvers := map[string]Resolver{"env": EnvResolver{}}
	maps.Copy(resolvers, o.Resolvers)
	tmpl := c.RoleTemplate
	if tmpl == "" {
		tmpl = DefaultRoleTemplate
	}
	var errs []error
	if !strings.Contains(tmpl, "{account}") {
		errs = append(errs, fmt.Errorf("crossaccount: role_template %q has no {account} placeholder", tmpl))
	}
	if len(c.Accounts) == 0 {
		errs = append(errs, errors.New("crossaccount: the registry lists no account"))
	}
	reg := &Accounts{byID: make(map[string]*account, len(c.Accounts))}
	for _, a := range c.Accounts {
		where := fmt.Sprintf("account %q", a.ID)
		if a.line > 0 {
			where += " (line " + strconv.Itoa(a.line) + ")"
		}
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("crossaccount: "+where+": "+format, args...))
		}
		if !isAccountID(a.ID) {
			bad("the id must be 12 digits")
			continue
		}
		if _, dup := reg.byID[a.ID]; dup {
			bad("listed twice")
			continue
		}
		acc := &account{id: a.ID, roleARN: a.RoleARN}
		if acc.roleARN == "" {
			acc.roleARN = strings.ReplaceAll(tmpl, "{account}", a.ID)
		}
		role, ok := parseARN(acc.roleARN)
		switch {
		case !ok || role.service != "iam" || role.region != "" || !strings.HasPrefix(role.resource, "role/"):
			bad("role %q is not an IAM role ARN", acc.roleARN)
		case role.account != a.ID:
			bad("role %s belongs to account %q", acc.roleARN, role.account)
		}
		acc.partition = role.partition
		acc.environment = strings.TrimSpace(a.Environment)
		if why := checkEnvironment(a.Environment); why != "" {
			bad("environment %s", why)
		}

		switch ext, err := resolveExternalID(ctx, a, resolvers); {
		case err != nil:
			bad("%v", err)
		default:
			acc.externalID = ext
			sum := sha256.Sum256([]byte(ext))
			acc.externalIDHash = hex.EncodeToString(sum[:8])
		}

		regions := a.Regions
		if len(regions) == 0 {
			regions = c.Regions
		}
		switch {
		case len(regions) == 0:
			bad(`no allowed regions: list them, or write ["*"] to allow any`)
		case slices.Contains(regions, "*"):
			if len(regions) > 1 {
				bad(`regions: "*" must stand alone`)
			}
		default:
			for _, r := range regions {
				if !isRegion(r) {
					bad("regions: %q is not a region name", r)
				}
			}
			acc.regions = slices.Compact(slices.Sorted(slices.Values(regions)))
		}
		reg.byID[a.ID] = acc
		reg.ids = append(reg.ids, a.ID)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.Sort(reg.ids)
	return reg, nil
}

// resolveExternalID returns a's external id. Error messages name the
// reference, never the value.
func resolveExternalID(ctx context.Context, a Account, resolvers map[string]Resolver) (string, error) {
	var ext string
	switch {
	case a.ExternalID != "" && a.ExternalIDFrom != "":
		return "", errors.New("set external_id or external_id_from, not both")
	case a.ExternalID != "":
		ext = a.ExternalID
	case a.ExternalIDFrom != "":
		scheme, ref, _ := strings.Cut(a.ExternalIDFrom, ":")
		r, ok := resolvers[scheme]
		if !ok || ref == "" {
			return "", fmt.Errorf("external_id_from %q: want scheme:reference with a known scheme (%s)", a.ExternalIDFrom, strings.Join(slices.Sorted(maps.Keys(resolvers)), ", "))
		}
		v, err := r.Resolve(ctx, ref)
		if err != nil {
			return "", fmt.Errorf("external_id_from %q: %w", a.ExternalIDFrom, err)
		}
		if v == "" {
			return "", fmt.Errorf("external_id_from %q resolved to an empty value", a.ExternalIDFrom)
		}
		ext = v
	default:
		return "", errors.New("no external id: set external_id or external_id_from (STS AssumeRole always sends one)")
	}
	if !validExternalID(ext) {
		if a.ExternalIDFrom != "" {
			return "", fmt.Errorf("external_id_from %q: the value is not a valid external id (2-1224 characters of [\\w+=,.@:/-])", a.ExternalIDFrom)
		}
		return "", errors.New("external_id is not a valid external id (2-1224 characters of [\\w+=,.@:/-])")
	}
	return ext, nil
}

// validExternalID checks STS's rules for ExternalId.
func validExternalID(s string) bool {
	if len(s) < 2 || len(s) > 1224 {
		return false
	}
	for _, r := range s {
		if !isSessionRune(r) && r != ':' && r != '/' {
			return false
		}
	}
	return true
}

// ReadAccounts reads a YAML registry (the shape of AccountsConfig) and
// loads it with LoadAccounts. Unknown keys are errors that name their
// line; so are the problems LoadAccounts finds in an account entry.
func ReadAccounts(ctx context.Context, r io.Reader, optFns ...func(*LoadOptions)) (*Accounts, error) {
	src, err := io.ReadAll(io.LimitReader(r, maxRegistrySize+1))
	if err != nil {
		return nil, fmt.Errorf("crossaccount: read registry: %w", err)
	}
	if len(src) > maxRegistrySize {
		return nil, fmt.Errorf("crossaccount: registry is larger than %d bytes", maxRegistrySize)
	}
	var c AccountsConfig
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("crossaccount: registry is empty")
		}
		return nil, fmt.Errorf("crossaccount: registry: %w", err)
	}
	// A second pass over the node tree finds each account's line.
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err == nil && len(root.Content) == 1 {
		m := root.Content[0]
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value != "accounts" {
				continue
			}
			for j, n := range m.Content[i+1].Content {
				if j < len(c.Accounts) {
					c.Accounts[j].line = n.Line
				}
			}
		}
	}
	return LoadAccounts(ctx, c, optFns...)
}

// maxEnvironmentBytes bounds an account's environment name.
const maxEnvironmentBytes = 128

// checkEnvironment returns why env is not a usable environment name, or
// "" when it is one or is empty: an environment that is only spaces, or
// holds control or format characters, would read as something it is not.
func checkEnvironment(env string) string {
	if env == "" {
		return ""
	}
	if strings.TrimSpace(env) == "" {
		return "is blank: name one, or leave the key out"
	}
	if len(env) > maxEnvironmentBytes {
		return fmt.Sprintf("is %d bytes, over the limit of %d", len(env), maxEnvironmentBytes)
	}
	if !utf8.ValidString(env) || strings.ContainsFunc(env, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) {
		return fmt.Sprintf("%q holds a control or format character", env)
	}
	return ""
}

// Environment returns the environment the registry states for account
// id, trimmed, or "" when it states none or does not list the account. It
// implements eligibility.AccountEnvironments.
func (a *Accounts) Environment(id string) string {
	if acc, ok := a.byID[id]; ok {
		return acc.environment
	}
	return ""
}

// IDs returns the allowlisted account ids, sorted.
func (a *Accounts) IDs() []string { return slices.Clone(a.ids) }

// RoleARN returns the role assumed in account id.
func (a *Accounts) RoleARN(id string) (string, bool) {
	acc, ok := a.byID[id]
	if !ok {
		return "", false
	}
	return acc.roleARN, true
}

// Check reports whether Remedy may act in account id and region. The
// error wraps ErrNotAllowlisted or ErrRegionNotAllowed and is permanent.
func (a *Accounts) Check(id, region string) error {
	_, err := a.lookup(id, region)
	return err
}

func (a *Accounts) lookup(id, region string) (*account, error) {
	acc, ok := a.byID[id]
	if !ok {
		if id == "" {
			return nil, remediate.Permanent(fmt.Errorf("%w: the finding names no account", ErrNotAllowlisted))
		}
		return nil, remediate.Permanent(fmt.Errorf("%w: %q", ErrNotAllowlisted, id))
	}
	if region == "" {
		return nil, remediate.Permanent(fmt.Errorf("%w: the finding names no region (account %s)", ErrRegionNotAllowed, id))
	}
	if acc.regions != nil && !slices.Contains(acc.regions, region) {
		return nil, remediate.Permanent(fmt.Errorf("%w: %q (account %s allows %s)", ErrRegionNotAllowed, region, id, strings.Join(acc.regions, ", ")))
	}
	return acc, nil
}

// String lists the account ids; it never shows external ids.
func (a *Accounts) String() string {
	return "crossaccount.Accounts[" + strings.Join(a.ids, " ") + "]"
}

// LogValue implements slog.LogValuer without external ids.
func (a *Accounts) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("count", len(a.ids)), slog.Any("ids", a.ids))
}
