package crossaccount

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/remediate"
)

func TestLoadAccounts(t *testing.T) {
	c := AccountsConfig{
		Regions: []string{"us-east-1", "eu-west-1"},
		Accounts: []Account{
			{ID: "111111111111", ExternalID: "ext-1"},
			{ID: "222222222222", RoleARN: "arn:aws:iam::222222222222:role/path/Fixer", ExternalIDFrom: "env:EXT_2", Regions: []string{"*"}},
			{ID: "333333333333", ExternalIDFrom: "vault:secret/3", Regions: []string{"ap-south-1"}},
		},
	}
	env := map[string]string{"EXT_2": "ext-2"}
	accs, err := LoadAccounts(context.Background(), c, func(o *LoadOptions) {
		o.Resolvers = map[string]Resolver{
			"env": EnvResolver{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }},
			"vault": ResolverFunc(func(_ context.Context, ref string) (string, error) {
				return "ext-3-from-" + strings.ReplaceAll(ref, "/", "."), nil
			}),
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]account{}
	for _, id := range accs.IDs() {
		got[id] = *accs.byID[id]
	}
	want := map[string]account{
		"111111111111": {id: "111111111111", roleARN: "arn:aws:iam::111111111111:role/RemedyRemediation", partition: "aws", externalID: "ext-1", regions: []string{"eu-west-1", "us-east-1"}},
		"222222222222": {id: "222222222222", roleARN: "arn:aws:iam::222222222222:role/path/Fixer", partition: "aws", externalID: "ext-2"},
		"333333333333": {id: "333333333333", roleARN: "arn:aws:iam::333333333333:role/RemedyRemediation", partition: "aws", externalID: "ext-3-from-secret.3", regions: []string{"ap-south-1"}},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(account{}), cmp.FilterPath(func(p cmp.Path) bool {
		return p.Last().String() == ".externalIDHash"
	}, cmp.Ignore())); diff != "" {
		t.Errorf("LoadAccounts mismatch (-want +got):\n%s", diff)
	}

	checks := []struct {
		account, region string
		want            error
	}{
		{"111111111111", "us-east-1", nil},
		{"111111111111", "ap-south-1", ErrRegionNotAllowed},
		{"111111111111", "", ErrRegionNotAllowed},
		{"222222222222", "sa-east-1", nil},
		{"444444444444", "us-east-1", ErrNotAllowlisted},
		{"", "us-east-1", ErrNotAllowlisted},
	}
	for _, ck := range checks {
		err := accs.Check(ck.account, ck.region)
		if !errors.Is(err, ck.want) || (err != nil && !remediate.IsPermanent(err)) {
			t.Errorf("Check(%q, %q) = %v, want permanent %v", ck.account, ck.region, err, ck.want)
		}
	}
}

func TestLoadAccountsErrors(t *testing.T) {
	tests := []struct {
		name string
		c    AccountsConfig
		want []string
	}{
		{"no external id", AccountsConfig{Regions: []string{"*"}, Accounts: []Account{{ID: "111111111111"}}},
			[]string{`account "111111111111": no external id`}},
		{"both external ids", AccountsConfig{Regions: []string{"*"}, Accounts: []Account{{ID: "111111111111", ExternalID: "ab", ExternalIDFrom: "env:X"}}},
			[]string{"not both"}},
		{"unset env", AccountsConfig{Regions: []string{"*"}, Accounts: []Account{{ID: "111111111111", ExternalIDFrom: "env:REMEDY_TEST_UNSET_VARIABLE"}}},
			[]string{"REMEDY_TEST_UNSET_VARIABLE is not set"}},
		{"unknown scheme", AccountsConfig{Regions: []string{"*"}, Accounts: []Account{{ID: "111111111111", ExternalIDFrom: "vault:x"}}},
			[]string{`external_id_from "vault:x": want scheme:reference with a known scheme (env)`}},
		{"invalid external id", AccountsConfig{Regions: []string{"*"}, Accounts: []Account{{ID: "111111111111", ExternalID: "has space"}}},
			[]string{"not a valid external id"}},
		{"bad id and duplicate", AccountsConfig{Regions: []string{"*"}, Accounts: []Account{
			{ID: "1234", ExternalID: "ab"}, {ID: "111111111111", ExternalID: "ab"}, {ID: "111111111111", ExternalID: "ab"},
		}}, []string{`account "1234": the id must be 12 digits`, `account "111111111111": listed twice`}},
		{"role in another account", AccountsConfig{Regions: []string{"*"}, Accounts: []Account{{ID: "111111111111", ExternalID: "ab", RoleARN: "arn:aws:iam::222222222222:role/R"}}},
			[]string{`belongs to account "222222222222"`}},
		{"not a role", AccountsConfig{Regions: []string{"*"}, Accounts: []Account{{ID: "111111111111", ExternalID: "ab", RoleARN: "arn:aws:iam::111111111111:user/u"}}},
			[]string{"is not an IAM role ARN"}},
		{"template without placeholder", AccountsConfig{RoleTemplate: "arn:aws:iam::111111111111:role/R", Regions: []string{"*"}, Accounts: []Account{{ID: "111111111111", ExternalID: "ab"}}},
			[]string{"no {account} placeholder"}},
		{"no regions", AccountsConfig{Accounts: []Account{{ID: "111111111111", ExternalID: "ab"}}},
			[]string{"no allowed regions"}},
		{"bad regions", AccountsConfig{Accounts: []Account{{ID: "111111111111", ExternalID: "ab", Regions: []string{"*", "us-east-1", "Mars"}}}},
			[]string{`"*" must stand alone`}},
		{"empty", AccountsConfig{}, []string{"lists no account"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadAccounts(context.Background(), tt.c)
			if err == nil {
				t.Fatal("LoadAccounts succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadAccountsNeverShowsExternalIDs(t *testing.T) {
	const secret = "s3cr3t-external-id"
	accs, err := LoadAccounts(context.Background(), AccountsConfig{Regions: []string{"*"}, Accounts: []Account{{ID: "111111111111", ExternalID: secret}}})
	if err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("loaded", "accounts", accs)
	for _, s := range []string{fmt.Sprint(accs), fmt.Sprintf("%v %+v %s", accs, accs, accs), logged.String()} {
		if strings.Contains(s, secret) || !strings.Contains(s, "111111111111") {
			t.Errorf("formatted registry %q shows the external id or hides the account", s)
		}
	}
	// Resolution errors name the reference, not the value.
	_, err = LoadAccounts(context.Background(), AccountsConfig{Regions: []string{"*"}, Accounts: []Account{{ID: "111111111111", ExternalIDFrom: "env:X"}}},
		func(o *LoadOptions) {
			o.Resolvers = map[string]Resolver{"env": EnvResolver{LookupEnv: func(string) (string, bool) { return "bad value " + secret, true }}}
		})
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("error %v shows the external id", err)
	}
}

func TestReadAccounts(t *testing.T) {
	t.Setenv("REMEDY_TEST_EXT_222", "ext-222")
	src := `role_template: arn:aws:iam::{account}:role/RemedyRemediation
regions: [us-east-1]
accounts:
  - id: "111111111111"
    external_id: ext-111
  - id: 222222222222
    external_id_from: env:REMEDY_TEST_EXT_222
    regions: ["*"]
`
	accs, err := ReadAccounts(context.Background(), strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"111111111111", "222222222222"}, accs.IDs()); diff != "" {
		t.Errorf("IDs mismatch (-want +got):\n%s", diff)
	}
	if got := accs.byID["222222222222"].externalID; got != "ext-222" {
		t.Errorf("external id from env = %q", got)
	}
}

func TestReadAccountsErrorsNameTheLine(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"unknown key", "regions: [\"*\"]\naccounts:\n  - id: \"111111111111\"\n    external_id: ab\n    externalid: typo\n",
			[]string{"line 5", "externalid"}},
		{"unknown top-level key", "regions: [\"*\"]\nrole: x\naccounts: []\n", []string{"line 2", "role"}},
		{"missing external id", "regions: [\"*\"]\naccounts:\n  - id: \"111111111111\"\n    external_id: ab\n  - id: \"222222222222\"\n",
			[]string{`account "222222222222" (line 5): no external id`}},
		{"empty", "", []string{"registry is empty"}},
		{"not yaml", "accounts: [", []string{"registry"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadAccounts(context.Background(), strings.NewReader(tt.src))
			if err == nil {
				t.Fatal("ReadAccounts succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestReadAccountsDocExample loads the YAML shown in AccountsConfig's doc.
func TestReadAccountsDocExample(t *testing.T) {
	t.Setenv("REMEDY_EXTERNAL_ID_PROD", "ext-prod")
	src := `role_template: arn:aws:iam::{account}:role/RemedyRemediation
regions: [us-east-1, eu-west-1]
accounts:
  - id: "111111111111"
    external_id_from: env:REMEDY_EXTERNAL_ID_PROD
  - id: "222222222222"
    role_arn: arn:aws:iam::222222222222:role/SecurityFixer
    external_id_from: ssm:/remedy/external-id/222222222222
    regions: ["*"]
    environment: restricted-production
`
	accs, err := ReadAccounts(context.Background(), strings.NewReader(src), func(o *LoadOptions) {
		o.Resolvers = map[string]Resolver{"ssm": ResolverFunc(func(context.Context, string) (string, error) { return "ext-222", nil })}
	})
	if err != nil {
		t.Fatal(err)
	}
	if arn, _ := accs.RoleARN("222222222222"); arn != "arn:aws:iam::222222222222:role/SecurityFixer" {
		t.Errorf("RoleARN = %q", arn)
	}
	if err := accs.Check("222222222222", "sa-east-1"); err != nil {
		t.Errorf("Check: %v", err)
	}
	if env := accs.Environment("222222222222"); env != "restricted-production" {
		t.Errorf("Environment = %q", env)
	}
}

// An account's entry can state its environment, which Environment
// returns for a policy to read (eligibility.AccountEnvironments).
func TestAccountsEnvironment(t *testing.T) {
	src := `regions: ["*"]
accounts:
  - id: "111111111111"
    external_id: ext-111
    environment: " restricted-production "
  - id: "222222222222"
    external_id: ext-222
    environment: production
  - id: "333333333333"
    external_id: ext-333
`
	accs, err := ReadAccounts(context.Background(), strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, id := range []string{"111111111111", "222222222222", "333333333333", "444444444444", ""} {
		got[id] = accs.Environment(id)
	}
	want := map[string]string{"111111111111": "restricted-production", "222222222222": "production", "333333333333": "", "444444444444": "", "": ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Environment (-want +got):\n%s", diff)
	}

	bad := []struct{ name, env, want string }{
		{"blank", "   ", `account "111111111111" (line 3): environment is blank`},
		{"control character", `prod\a`, "control or format character"},
		{"bidi override", "prod\u202euction", "control or format character"},
		{"too long", strings.Repeat("p", 129), "over the limit of 128"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			src := "regions: [\"*\"]\naccounts:\n  - id: \"111111111111\"\n    external_id: ab\n    environment: \"" + tt.env + "\"\n"
			_, err := ReadAccounts(context.Background(), strings.NewReader(src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ReadAccounts = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
