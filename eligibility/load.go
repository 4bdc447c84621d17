package eligibility

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/remedy-sec/remedy/internal/ascii"
	"github.com/remedy-sec/remedy/remediate"
)

// LoadError is one problem in a policy file. Parse and Load return every
// problem they find, joined with errors.Join; use errors.As to get the
// first.
type LoadError struct {
	File string
	Line int    // 1-based; 0 when the problem has no single line
	Rule string // the CEL rule's name, when the problem is in a rule
	Msg  string
}

func (e *LoadError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Rule != "" {
		fmt.Fprintf(&b, "rule %q: ", e.Rule)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// maxLoadErrors caps how many problems one load reports.
const maxLoadErrors = 25

var (
	accountIDRe = regexp.MustCompile(`^[0-9]{12}$`)
	ruleNameRe  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	yamlLineRe  = regexp.MustCompile(`^yaml: line ([0-9]+): (.*)$`)
)

// loader walks a policy document and collects every problem with its line.
type loader struct {
	file string
	errs []*LoadError
}

func (l *loader) errorf(n *yaml.Node, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	l.errs = append(l.errs, &LoadError{File: l.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (l *loader) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	sort.SliceStable(l.errs, func(i, j int) bool { return l.errs[i].Line < l.errs[j].Line })
	errs := make([]error, 0, min(len(l.errs), maxLoadErrors)+1)
	for i, e := range l.errs {
		if i == maxLoadErrors {
			errs = append(errs, &LoadError{File: l.file, Msg: fmt.Sprintf("%d more problems not shown", len(l.errs)-i)})
			break
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// document parses data into the root mapping, or returns nil.
func (l *loader) document(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			l.errorf(nil, "the policy is empty")
			return nil
		}
		l.yamlError(err)
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		if err != nil {
			l.yamlError(err)
		} else {
			l.errorf(&extra, "a policy file holds one YAML document; found another")
		}
		return nil
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		l.errorf(&doc, "the policy must be a mapping of keys such as name, approved_resource_types, playbooks")
		return nil
	}
	l.noAliases(doc.Content[0])
	if len(l.errs) > 0 {
		return nil
	}
	return doc.Content[0]
}

// yamlError turns a YAML syntax error into a LoadError with its line.
func (l *loader) yamlError(err error) {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if isParserError(m[2]) {
			// yaml.v3 reports parser (not scanner) errors with a
			// 0-based line: the start of the collection it was reading.
			line++
		}
		l.errs = append(l.errs, &LoadError{File: l.file, Line: line, Msg: m[2]})
		return
	}
	l.errs = append(l.errs, &LoadError{File: l.file, Msg: strings.TrimPrefix(msg, "yaml: ")})
}

// isParserError reports whether msg is one of yaml.v3's parser errors
// (parserc.go), whose line it reports 0-based.
func isParserError(msg string) bool {
	switch msg {
	case "did not find expected ',' or ']'", "did not find expected ',' or '}'",
		"did not find expected '-' indicator", "did not find expected <document start>",
		"did not find expected <stream-start>", "did not find expected key",
		"did not find expected node content", "found duplicate %TAG directive",
		"found duplicate %YAML directive", "found incompatible YAML document",
		"found undefined tag handle":
		return true
	}
	return false
}

// noAliases rejects anchors, aliases and tags beyond the core schema: a
// policy is read by people, and each value should be where it applies.
func (l *loader) noAliases(n *yaml.Node) {
	switch {
	case n.Kind == yaml.AliasNode:
		l.errorf(n, "aliases (*%s) are not supported: write the value out", n.Value)
		return
	case n.Anchor != "":
		l.errorf(n, "anchors (&%s) are not supported: write the value out", n.Anchor)
	case n.Tag != "" && !strings.HasPrefix(n.Tag, "!!"):
		l.errorf(n, "custom tag %s is not supported", n.Tag)
	}
	for _, c := range n.Content {
		l.noAliases(c)
	}
}

// fields checks that n is a mapping whose keys are all in allowed, with
// no duplicates, and returns the value node of each key present.
func (l *loader) fields(n *yaml.Node, what string, allowed ...string) map[string]*yaml.Node {
	if isNull(n) {
		return map[string]*yaml.Node{}
	}
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "%s must be a mapping with keys %s", what, strings.Join(allowed, ", "))
		return out
	}
	keyLine := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			l.errorf(k, "%s: keys must be plain names", what)
			continue
		}
		if !slices.Contains(allowed, k.Value) {
			msg := fmt.Sprintf("unknown key %q", k.Value)
			if s := suggest(k.Value, allowed); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			} else {
				msg += fmt.Sprintf(" in %s (known keys: %s)", what, strings.Join(allowed, ", "))
			}
			l.errorf(k, "%s", msg)
			continue
		}
		if first, dup := keyLine[k.Value]; dup {
			l.errorf(k, "duplicate key %q (first at line %d)", k.Value, first)
			continue
		}
		keyLine[k.Value] = k.Line
		out[k.Value] = v
	}
	return out
}

// mapping checks that n is a mapping with string keys and returns its
// pairs in order, rejecting duplicate keys.
func (l *loader) mapping(n *yaml.Node, what string) [][2]*yaml.Node {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "%s must be a mapping", what)
		return nil
	}
	var out [][2]*yaml.Node
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			l.errorf(k, "%s: keys must be plain values", what)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			l.errorf(k, "%s: duplicate key %q (first at line %d)", what, k.Value, first)
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, [2]*yaml.Node{k, v})
	}
	return out
}

// seq checks that n is a sequence (or empty) and returns its items.
func (l *loader) seq(n *yaml.Node, what string) []*yaml.Node {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.errorf(n, "%s must be a list", what)
		return nil
	}
	return n.Content
}

// str returns the text of a scalar. It reports a problem for anything
// else, and for an empty or blank value.
func (l *loader) str(n *yaml.Node, what string) (string, bool) {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		l.errorf(n, "%s must be a non-empty value", what)
		return "", false
	}
	if strings.TrimSpace(n.Value) == "" {
		l.errorf(n, "%s must not be empty", what)
		return "", false
	}
	return n.Value, true
}

// ident returns a scalar used as an identifier: compared exactly, so it
// may not carry spaces or control characters that would never match.
func (l *loader) ident(n *yaml.Node, what string) (string, bool) {
	s, ok := l.str(n, what)
	if !ok {
		return "", false
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }); i >= 0 {
		l.errorf(n, "%s %q contains a space or control character", what, s)
		return "", false
	}
	return s, true
}

// strs returns a list of scalars, or a single scalar as a one-item list.
func (l *loader) strs(n *yaml.Node, what string, get func(*yaml.Node, string) (string, bool)) []namedNode {
	var items []*yaml.Node
	if n != nil && n.Kind == yaml.ScalarNode && !isNull(n) {
		items = []*yaml.Node{n}
	} else {
		items = l.seq(n, what)
	}
	out := make([]namedNode, 0, len(items))
	for _, it := range items {
		if s, ok := get(it, what+" item"); ok {
			out = append(out, namedNode{s, it})
		}
	}
	return out
}

type namedNode struct {
	s string
	n *yaml.Node
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// compile loads a policy document into a Policy without Version or clock.
func compile(data []byte, file string) (*Policy, error) {
	l := &loader{file: file}
	root := l.document(data)
	if root == nil {
		return nil, l.err()
	}
	p := &Policy{
		known:      map[string]string{},
		restricted: map[string]bool{},
		accounts:   map[string]account{},
		types:      map[string][]string{},
		actions:    map[string]bool{},
		books:      map[string]string{},
		byResource: map[string][]int{},
		byControl:  map[string][]int{},
	}
	top := l.fields(root, "the policy",
		"name", "version", "approved_resource_types", "playbooks", "environment", "owner", "accounts", "exceptions", "rules",
		"sensitive_approved", "approval_required")
	if n, ok := top["name"]; ok {
		p.name, _ = l.ident(n, "name")
	}
	if n, ok := top["version"]; ok {
		p.fileVersion, _ = l.ident(n, "version")
	}
	l.environment(p, top["environment"])
	l.owner(p, top["owner"])
	l.resourceTypes(p, top["approved_resource_types"])
	l.playbooks(p, top["playbooks"])
	l.accounts(p, top["accounts"])
	l.exceptions(p, top["exceptions"])
	l.sensitiveApprovals(p, top["sensitive_approved"])
	l.approvalRules(p, top["approval_required"])
	l.rules(p, top["rules"])
	if err := l.err(); err != nil {
		return nil, err
	}
	return p, nil
}

func (l *loader) environment(p *Policy, n *yaml.Node) {
	f := l.fields(n, "environment", "known", "restricted", "sources")
	var names []string
	add := func(list, what string, restricted bool) {
		for _, it := range l.strs(f[list], what, l.str) {
			name := strings.TrimSpace(it.s)
			key := ascii.Lower(name)
			if _, dup := p.known[key]; dup {
				l.errorf(it.n, "environment %q is listed twice (names compare without case)", name)
				continue
			}
			p.known[key] = name
			p.restricted[key] = restricted
			names = append(names, name)
		}
	}
	add("known", "environment.known", false)
	add("restricted", "environment.restricted", true)
	p.knownList = strings.Join(names, ", ")
	p.envSources = l.sources(f["sources"], "environment.sources")
	p.envText = sourcesText(p.envSources)
}

func (l *loader) owner(p *Policy, n *yaml.Node) {
	f := l.fields(n, "owner", "sources")
	p.ownSources = l.sources(f["sources"], "owner.sources")
	p.ownText = sourcesText(p.ownSources)
}

// sources parses a list such as [tag:Environment, account, declared].
func (l *loader) sources(n *yaml.Node, what string) []source {
	var out []source
	seen := map[string]bool{}
	for _, it := range l.strs(n, what, l.str) {
		var s source
		switch {
		case it.s == "account":
			s = source{kind: sourceAccount, text: it.s}
		case it.s == "declared":
			s = source{kind: sourceDeclared, text: it.s}
		case strings.HasPrefix(it.s, "tag:"):
			key := strings.TrimPrefix(it.s, "tag:")
			if key == "" || strings.TrimSpace(key) != key {
				l.errorf(it.n, "%s: tag key in %q is empty or has surrounding spaces (tag keys compare exactly)", what, it.s)
				continue
			}
			s = source{kind: sourceTag, key: key, text: it.s}
		default:
			l.errorf(it.n, "%s: unknown source %q (want tag:<Key>, account or declared)", what, it.s)
			continue
		}
		if seen[s.text] {
			l.errorf(it.n, "%s: source %q is listed twice", what, s.text)
			continue
		}
		seen[s.text] = true
		out = append(out, s)
	}
	return out
}

func sourcesText(ss []source) string {
	t := make([]string, len(ss))
	for i, s := range ss {
		t[i] = s.text
	}
	return strings.Join(t, ", ")
}

func (l *loader) resourceTypes(p *Policy, n *yaml.Node) {
	for _, kv := range l.mapping(n, "approved_resource_types") {
		typ, ok := l.ident(kv[0], "resource type")
		if !ok {
			continue
		}
		what := fmt.Sprintf("approved_resource_types.%s", typ)
		if isNull(kv[1]) || (kv[1].Kind == yaml.SequenceNode && len(kv[1].Content) == 0) {
			l.errorf(kv[0], "resource type %q allows no action: list at least one, or remove the type", typ)
			continue
		}
		acts := l.strs(kv[1], what, l.ident)
		list := make([]string, 0, len(acts))
		for _, a := range acts {
			if slices.Contains(list, a.s) {
				l.errorf(a.n, "%s: action %q is listed twice", what, a.s)
				continue
			}
			list = append(list, a.s)
			p.actions[a.s] = true
		}
		p.types[typ] = list
	}
}

func (l *loader) playbooks(p *Policy, n *yaml.Node) {
	for _, kv := range l.mapping(n, "playbooks") {
		id, ok1 := l.ident(kv[0], "playbook control id")
		act, ok2 := l.ident(kv[1], "playbook action")
		if !ok1 || !ok2 {
			continue
		}
		if !p.actions[act] {
			l.errorf(kv[1], "playbook %q: action %q is not allowed for any resource type in approved_resource_types", id, act)
			continue
		}
		p.books[id] = act
	}
}

func (l *loader) accounts(p *Policy, n *yaml.Node) {
	for _, it := range l.seq(n, "accounts") {
		f := l.fields(it, "an account", "id", "name", "environment", "owner")
		idn, ok := f["id"]
		if !ok {
			l.errorf(it, "account: id is required")
			continue
		}
		id, ok := l.str(idn, "account id")
		if !ok {
			continue
		}
		if !accountIDRe.MatchString(id) {
			l.errorf(idn, "account id %q is not 12 digits (quote it if it starts with 0)", id)
			continue
		}
		if _, dup := p.accounts[id]; dup {
			l.errorf(idn, "account %s is listed twice", id)
			continue
		}
		a := account{id: id}
		if v, ok := f["name"]; ok {
			a.name, _ = l.str(v, "account name")
		}
		if v, ok := f["owner"]; ok {
			a.owner, _ = l.str(v, "account owner")
		}
		if v, ok := f["environment"]; ok {
			if env, ok := l.str(v, "account environment"); ok {
				canon, known := p.known[ascii.Lower(strings.TrimSpace(env))]
				if !known {
					l.errorf(v, "account %s: environment %q is not listed under environment.known or environment.restricted", id, env)
				}
				a.environment = canon
			}
		}
		p.accounts[id] = a
	}
}

func (l *loader) exceptions(p *Policy, n *yaml.Node) {
	ids := map[string]bool{}
	for _, it := range l.seq(n, "exceptions") {
		f := l.fields(it, "an exception", "id", "resource", "control", "account", "owner", "reason", "expires")
		var e exception
		ok := true
		req := func(key string, get func(*yaml.Node, string) (string, bool)) string {
			v, present := f[key]
			if !present {
				l.errorf(it, "exception: %s is required", key)
				ok = false
				return ""
			}
			s, good := get(v, "exception "+key)
			ok = ok && good
			return s
		}
		opt := func(key string) string {
			v, present := f[key]
			if !present {
				return ""
			}
			s, good := l.ident(v, "exception "+key)
			ok = ok && good
			return s
		}
		e.id = req("id", l.ident)
		e.owner = req("owner", l.str)
		e.reason = req("reason", l.str)
		e.expiresText = req("expires", l.str)
		e.resource = opt("resource")
		e.control = opt("control")
		e.account = opt("account")
		if !ok {
			continue
		}
		if ids[e.id] {
			l.errorf(f["id"], "exception %q is listed twice", e.id)
			continue
		}
		ids[e.id] = true
		if e.resource == "" && e.control == "" {
			l.errorf(it, "exception %q: name a resource, a control or both", e.id)
			continue
		}
		if e.account != "" && !accountIDRe.MatchString(e.account) {
			l.errorf(f["account"], "exception %q: account %q is not 12 digits", e.id, e.account)
			continue
		}
		exp, err := parseExpiry(e.expiresText)
		if err != nil {
			l.errorf(f["expires"], "exception %q: %v", e.id, err)
			continue
		}
		e.expires = exp
		i := len(p.exceptions)
		p.exceptions = append(p.exceptions, e)
		if e.resource != "" {
			for _, id := range resourceSpellings(e.resource) {
				p.byResource[id] = append(p.byResource[id], i)
			}
		} else {
			p.byControl[e.control] = append(p.byControl[e.control], i)
		}
	}
}

// sensitiveApprovals reads the sensitive_approved list: each entry
// approves one action of a sensitive remediator to run unattended,
// optionally only in some environments and accounts.
func (l *loader) sensitiveApprovals(p *Policy, n *yaml.Node) {
	for _, it := range l.seq(n, "sensitive_approved") {
		f := l.fields(it, "a sensitive approval", "action", "environments", "accounts")
		an, ok := f["action"]
		if !ok {
			l.errorf(it, "sensitive_approved: action is required")
			continue
		}
		action, ok := l.ident(an, "sensitive_approved action")
		if !ok {
			continue
		}
		if !p.actions[action] {
			l.errorf(an, "sensitive_approved: action %q is not allowed for any resource type in approved_resource_types", action)
			continue
		}
		a := sensitiveApproval{}
		if v, present := f["environments"]; present {
			envs := l.strs(v, "sensitive_approved environments", l.str)
			if len(envs) == 0 {
				l.errorf(v, "sensitive_approved %q: environments is empty; list some, or leave the key out to approve every environment", action)
				continue
			}
			a.environments = map[string]bool{}
			for _, e := range envs {
				key := ascii.Lower(strings.TrimSpace(e.s))
				switch _, known := p.known[key]; {
				case !known:
					l.errorf(e.n, "sensitive_approved %q: environment %q is not listed under environment.known", action, e.s)
				case p.restricted[key]:
					l.errorf(e.n, "sensitive_approved %q: environment %q is restricted, where every finding goes to review", action, e.s)
				}
				a.environments[key] = true
			}
		}
		if v, present := f["accounts"]; present {
			accs := l.strs(v, "sensitive_approved accounts", l.str)
			if len(accs) == 0 {
				l.errorf(v, "sensitive_approved %q: accounts is empty; list some, or leave the key out to approve every allowlisted account", action)
				continue
			}
			a.accounts = map[string]bool{}
			for _, id := range accs {
				switch _, listed := p.accounts[id.s]; {
				case !accountIDRe.MatchString(id.s):
					l.errorf(id.n, "sensitive_approved %q: account %q is not 12 digits (quote it if it starts with 0)", action, id.s)
				case !listed:
					l.errorf(id.n, "sensitive_approved %q: account %s is not listed under accounts", action, id.s)
				}
				a.accounts[id.s] = true
			}
		}
		if p.sensitive == nil {
			p.sensitive = map[string][]sensitiveApproval{}
		}
		p.sensitive[action] = append(p.sensitive[action], a)
	}
}

// approvalRules reads the approval_required list: each entry requires a
// person's approval of the plan for the findings it matches, by actions,
// accounts, environments and tags (every key given must match; an entry
// without keys matches every finding).
func (l *loader) approvalRules(p *Policy, n *yaml.Node) {
	for i, it := range l.seq(n, "approval_required") {
		what := fmt.Sprintf("approval_required entry %d", i+1)
		f := l.fields(it, "an approval_required entry", "actions", "accounts", "environments", "tags")
		var a approvalRule
		if v, present := f["actions"]; present {
			acts := l.strs(v, what+" actions", l.ident)
			if len(acts) == 0 {
				l.errorf(v, "%s: actions is empty; list some, or leave the key out to match every action", what)
			}
			a.actions = map[string]bool{}
			for _, x := range acts {
				if !p.actions[x.s] {
					l.errorf(x.n, "%s: action %q is not allowed for any resource type in approved_resource_types", what, x.s)
				}
				a.actions[x.s] = true
			}
		}
		if v, present := f["environments"]; present {
			envs := l.strs(v, what+" environments", l.str)
			if len(envs) == 0 {
				l.errorf(v, "%s: environments is empty; list some, or leave the key out to match every environment", what)
			}
			a.environments = map[string]bool{}
			for _, e := range envs {
				key := ascii.Lower(strings.TrimSpace(e.s))
				if _, known := p.known[key]; !known {
					l.errorf(e.n, "%s: environment %q is not listed under environment.known", what, e.s)
				}
				a.environments[key] = true
			}
		}
		if v, present := f["accounts"]; present {
			accs := l.strs(v, what+" accounts", l.str)
			if len(accs) == 0 {
				l.errorf(v, "%s: accounts is empty; list some, or leave the key out to match every account", what)
			}
			a.accounts = map[string]bool{}
			for _, id := range accs {
				switch _, listed := p.accounts[id.s]; {
				case !accountIDRe.MatchString(id.s):
					l.errorf(id.n, "%s: account %q is not 12 digits (quote it if it starts with 0)", what, id.s)
				case !listed:
					l.errorf(id.n, "%s: account %s is not listed under accounts", what, id.s)
				}
				a.accounts[id.s] = true
			}
		}
		if v, present := f["tags"]; present {
			pairs := l.mapping(v, what+" tags")
			if len(pairs) == 0 && v.Kind == yaml.MappingNode {
				l.errorf(v, "%s: tags is empty; name some (key: value), or leave the key out to match any tags", what)
			}
			a.tags = map[string]string{}
			for _, kv := range pairs {
				val, ok := l.str(kv[1], what+" tag "+kv[0].Value)
				if !ok {
					continue
				}
				a.tags[kv[0].Value] = strings.TrimSpace(val)
			}
		}
		p.approvals = append(p.approvals, a)
	}
}

// parseExpiry reads a date (valid through that whole day, UTC) or an
// RFC 3339 time (valid until that instant).
func parseExpiry(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		return d.AddDate(0, 0, 1), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("expires %q is not a date (2027-06-30) or an RFC 3339 time (2027-06-30T18:00:00Z)", s)
}

func (l *loader) rules(p *Policy, n *yaml.Node) {
	items := l.seq(n, "rules")
	if len(items) == 0 {
		return
	}
	env, err := newRuleEnv()
	if err != nil {
		// The environment is fixed; failing to build it is a bug.
		l.errorf(n, "cannot build the rule environment: %v", err)
		return
	}
	names := map[string]int{}
	for _, it := range items {
		f := l.fields(it, "a rule", "name", "expression", "leads_to", "message")
		nn, ok := f["name"]
		if !ok {
			l.errorf(it, "rule: name is required")
			continue
		}
		name, ok := l.str(nn, "rule name")
		if !ok {
			continue
		}
		if !ruleNameRe.MatchString(name) {
			l.errorf(nn, "rule name %q: use letters, digits, '_', '-' and '.'", name)
			continue
		}
		if first, dup := names[name]; dup {
			l.errorf(nn, "rule %q is defined twice (first at line %d)", name, first)
			continue
		}
		names[name] = nn.Line
		r := rule{name: name, check: CheckRulePrefix + name, leadsTo: remediate.VerdictReview}
		if v, ok := f["leads_to"]; ok {
			s, _ := l.str(v, "leads_to")
			switch ascii.Lower(strings.TrimSpace(s)) {
			case "review":
				r.leadsTo = remediate.VerdictReview
			case "skip":
				r.leadsTo = remediate.VerdictSkip
			case "":
			default:
				l.errorLine(v.Line, name, fmt.Sprintf("leads_to %q: want review or skip", s))
			}
		}
		if v, ok := f["message"]; ok {
			r.message, _ = l.str(v, "rule message")
		}
		en, ok := f["expression"]
		if !ok {
			l.errorLine(it.Line, name, "expression is required")
			continue
		}
		expr, ok := l.str(en, "rule expression")
		if !ok {
			continue
		}
		if r.message == "" {
			r.message = fmt.Sprintf("rule %s does not hold: %s", name, strings.Join(strings.Fields(expr), " "))
		}
		prg, issues := compileRule(env, expr)
		for _, is := range issues {
			line := en.Line
			if en.Style&yaml.LiteralStyle != 0 && is.line > 0 {
				// A literal block starts on the line after its indicator.
				line += is.line
			}
			l.errorLine(line, name, is.msg)
		}
		if prg == nil {
			continue
		}
		r.prg = prg
		p.rules = append(p.rules, r)
	}
}

func (l *loader) errorLine(line int, rule, msg string) {
	l.errs = append(l.errs, &LoadError{File: l.file, Line: line, Rule: rule, Msg: msg})
}

// suggest returns the allowed key closest to k, if it is close enough to
// be a typo.
func suggest(k string, allowed []string) string {
	best, bestD := "", len(k)/2+2
	for _, a := range allowed {
		if d := editDistance(strings.ToLower(k), a); d < bestD {
			best, bestD = a, d
		}
	}
	if best == "" && len(k) >= 4 {
		for _, a := range allowed {
			if strings.Contains(a, strings.ToLower(k)) {
				return a
			}
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
