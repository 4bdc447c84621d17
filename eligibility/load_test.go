package eligibility

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Each testdata/bad-*.yaml file starts with "# want: <text>", the start of
// the first error it must produce.
func TestLoadBadFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/bad-*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad-*.yaml files: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(data), "\n")
			want, ok := strings.CutPrefix(first, "# want: ")
			if !ok {
				t.Fatalf("first line %q is not a \"# want:\" comment", first)
			}
			p, err := Load(path)
			if err == nil {
				t.Fatalf("Load(%s) = %v, want an error starting %q", path, p.Version(), want)
			}
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("Load(%s) error %T is not a *LoadError: %v", path, err, err)
			}
			if got := le.Error(); !strings.HasPrefix(got, want) {
				t.Errorf("Load(%s) first error:\n got %q\nwant prefix %q\nall: %v", path, got, want, err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // every error, in order
	}{
		{
			name: "unknown key names the line",
			yaml: "name: x\n\n\naproved_types: {}\n",
			want: []string{`policy.yaml:4: unknown key "aproved_types" in the policy (known keys: name, version, approved_resource_types, playbooks, environment, owner, accounts, exceptions, rules, sensitive_approved, approval_required)`},
		},
		{
			name: "close typo gets a suggestion",
			yaml: "playbook: {}\n",
			want: []string{`policy.yaml:1: unknown key "playbook" (did you mean "playbooks"?)`},
		},
		{
			name: "every problem is reported",
			yaml: "name: x\nrulez: []\naccounts:\n  - id: \"12\"\n  - name: nameless\n",
			want: []string{
				`policy.yaml:2: unknown key "rulez" (did you mean "rules"?)`,
				`policy.yaml:4: account id "12" is not 12 digits (quote it if it starts with 0)`,
				`policy.yaml:5: account: id is required`,
			},
		},
		{
			name: "empty file",
			yaml: "",
			want: []string{`policy.yaml: the policy is empty`},
		},
		{
			name: "not a mapping",
			yaml: "- a\n- b\n",
			want: []string{`policy.yaml:1: the policy must be a mapping of keys such as name, approved_resource_types, playbooks`},
		},
		{
			name: "two documents",
			yaml: "name: a\n---\nname: b\n",
			want: []string{`policy.yaml:2: a policy file holds one YAML document; found another`},
		},
		{
			name: "aliases",
			yaml: "approved_resource_types:\n  bucket: &acts [s3-block-public-access]\n  object: *acts\n",
			want: []string{
				`policy.yaml:2: anchors (&acts) are not supported: write the value out`,
				`policy.yaml:3: aliases (*acts) are not supported: write the value out`,
			},
		},
		{
			name: "empty name",
			yaml: "name: \"\"\n",
			want: []string{`policy.yaml:1: name must not be empty`},
		},
		{
			name: "type with no actions",
			yaml: "approved_resource_types:\n  bucket: []\n",
			want: []string{`policy.yaml:2: resource type "bucket" allows no action: list at least one, or remove the type`},
		},
		{
			name: "type with null actions",
			yaml: "approved_resource_types:\n  bucket:\n",
			want: []string{`policy.yaml:2: resource type "bucket" allows no action: list at least one, or remove the type`},
		},
		{
			name: "action with a space",
			yaml: "approved_resource_types:\n  bucket: [\"s3 block\"]\n",
			want: []string{`policy.yaml:2: approved_resource_types.bucket item "s3 block" contains a space or control character`},
		},
		{
			name: "environment listed twice ignoring case",
			yaml: "environment:\n  known: [production]\n  restricted: [Production]\n",
			want: []string{`policy.yaml:3: environment "Production" is listed twice (names compare without case)`},
		},
		{
			name: "tag source with blank key",
			yaml: "environment:\n  sources: [\"tag: Environment\"]\n",
			want: []string{`policy.yaml:2: environment.sources: tag key in "tag: Environment" is empty or has surrounding spaces (tag keys compare exactly)`},
		},
		{
			name: "exception without scope",
			yaml: "exceptions:\n  - id: E1\n    owner: me\n    reason: why\n    expires: 2027-01-01\n",
			want: []string{`policy.yaml:2: exception "E1": name a resource, a control or both`},
		},
		{
			name: "duplicate exception",
			yaml: "exceptions:\n  - {id: E1, control: c, owner: me, reason: r, expires: 2027-01-01}\n  - {id: E1, control: d, owner: me, reason: r, expires: 2027-01-01}\n",
			want: []string{`policy.yaml:3: exception "E1" is listed twice`},
		},
		{
			name: "rule expression on a later line of a literal block",
			yaml: "rules:\n  - name: r\n    expression: |\n      finding.severity == \"HIGH\" &&\n      resorce.type == \"bucket\"\n",
			want: []string{`policy.yaml:5: rule "r": undeclared reference to 'resorce' (did you mean 'resource'?) (column 1)`},
		},
		{
			name: "rule without expression",
			yaml: "rules:\n  - name: r\n    leads_to: skip\n",
			want: []string{`policy.yaml:2: rule "r": expression is required`},
		},
		{
			name: "rule with a bad name",
			yaml: "rules:\n  - name: \"has space\"\n    expression: \"true\"\n",
			want: []string{`policy.yaml:2: rule name "has space": use letters, digits, '_', '-' and '.'`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), "policy.yaml")
			if err == nil {
				t.Fatalf("Parse succeeded, want errors %q", tt.want)
			}
			if diff := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("Parse errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadExample(t *testing.T) {
	p, err := Load("testdata/example-policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := regexp.MatchString(`^example/2026-11-28@sha256:[0-9a-f]{12}$`, p.Version()); !ok {
		t.Errorf("Version() = %q, want example/2026-11-28@sha256:<12 hex>", p.Version())
	}
	if got, want := len(p.accounts), 3; got != want {
		t.Errorf("accounts = %d, want %d", got, want)
	}
	if got, want := p.accounts["333333333333"].environment, "restricted-production"; got != want {
		t.Errorf("account 333333333333 environment = %q, want %q", got, want)
	}
	if got, want := len(p.rules), 1; got != want {
		t.Errorf("rules = %d, want %d", got, want)
	}
}

func TestDefaultLoads(t *testing.T) {
	p := Default()
	if ok, _ := regexp.MatchString(`^default@sha256:[0-9a-f]{12}$`, p.Version()); !ok {
		t.Errorf("Version() = %q, want default@sha256:<12 hex>", p.Version())
	}
	if len(p.types)+len(p.actions)+len(p.books)+len(p.accounts) != 0 {
		t.Errorf("Default approves something: types %v, actions %v, playbooks %v, accounts %v", p.types, p.actions, p.books, p.accounts)
	}
}

func TestParseDetails(t *testing.T) {
	const doc = `
version: 7
accounts:
  - id: 111111111111          # unquoted: YAML reads a number, we keep the text
  - id: "012345678901"
exceptions:
  - {id: E1, control: c, owner: me, reason: r, expires: "2027-01-01T12:00:00Z"}
environment:
  known: [" Production "]
  sources: tag:Environment    # one source without a list
`
	p, err := Parse([]byte(doc), "team-policy.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.Version(), "team-policy/7@sha256:") {
		t.Errorf("Version() = %q, want the file name and version", p.Version())
	}
	for _, id := range []string{"111111111111", "012345678901"} {
		if _, ok := p.accounts[id]; !ok {
			t.Errorf("account %s not loaded; have %v", id, p.accounts)
		}
	}
	if got, want := p.exceptions[0].expires.Format("2006-01-02T15:04:05Z07:00"), "2027-01-01T12:00:00Z"; got != want {
		t.Errorf("expiry = %s, want %s", got, want)
	}
	if diff := cmp.Diff(map[string]string{"production": "Production"}, p.known); diff != "" {
		t.Errorf("known environments (-want +got):\n%s", diff)
	}
	if got, want := p.envText, "tag:Environment"; got != want {
		t.Errorf("environment sources = %q, want %q", got, want)
	}
}
