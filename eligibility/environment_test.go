package eligibility

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/remediate"
)

// registry is an AccountEnvironments backed by a map.
type registry map[string]string

func (r registry) Environment(id string) string { return r[id] }

func withRegistry(r registry) func(*Options) {
	return func(o *Options) { o.AccountEnvironments = r }
}

// Account metadata that states a restricted environment decides it,
// whatever tags say, and the decision says "restricted" rather than
// "unknown"; a disagreement about anything else is still a concern.
func TestEnrichAccountEnvironment(t *testing.T) {
	// The example policy reads tag:Environment, tag:env and the policy's
	// account entries (333333333333 is restricted-production there).
	reg := registry{
		"111111111111": "production",
		"222222222222": " Restricted-Production ",
		"444444444444": "qa",
	}
	tests := []struct {
		name     string
		policy   *Policy
		account  string
		tags     map[string]string
		declared string
		wantEnv  string
		concerns []string // their fields
		reasons  []reason
	}{
		{
			name: "registry restricted, tag dev", policy: examplePolicy(t, withRegistry(reg)),
			account: "222222222222", tags: map[string]string{"Environment": "development"},
			wantEnv: "restricted-production",
			reasons: []reason{{CheckEnvironment, review, "restricted"}},
		},
		{
			name: "registry restricted, tags production", policy: examplePolicy(t, withRegistry(reg)),
			account: "222222222222", tags: map[string]string{"Environment": "production", "env": "production"},
			wantEnv: "restricted-production",
			reasons: []reason{{CheckEnvironment, review, "restricted"}},
		},
		{
			name: "registry restricted, no tag", policy: examplePolicy(t, withRegistry(reg)),
			account: "222222222222",
			wantEnv: "restricted-production",
			reasons: []reason{{CheckEnvironment, review, "restricted"}},
		},
		{
			name: "policy account entry restricted, tag dev", policy: examplePolicy(t),
			account: "333333333333", tags: map[string]string{"Environment": "development"},
			wantEnv: "restricted-production",
			reasons: []reason{{CheckEnvironment, review, "restricted"}},
		},
		{
			name: "registry consulted though the policy lists no account source",
			policy: parsePolicy(t, `
environment: {known: [development], restricted: [restricted-production], sources: [tag:Environment]}
owner: {sources: [tag:Owner]}
`, withRegistry(reg)),
			account: "222222222222", tags: map[string]string{"Environment": "development"},
			wantEnv: "restricted-production",
			reasons: []reason{
				{CheckEnvironment, review, "restricted"},
				{CheckAccount, review, "222222222222"},
				{CheckResourceType, review, "bucket"},
				{CheckControl, review, "wc-id-1234"},
			},
		},
		{
			name: "registry agrees with the tag", policy: examplePolicy(t, withRegistry(reg)),
			account: "111111111111", tags: map[string]string{"Environment": "Production"},
			wantEnv: "production",
		},
		{
			name: "registry alone", policy: examplePolicy(t, withRegistry(reg)),
			account: "111111111111",
			wantEnv: "production",
		},
		{
			name: "registry says nothing", policy: examplePolicy(t, withRegistry(reg)),
			account: "555555555555", tags: map[string]string{"Environment": "production"},
			wantEnv: "production",
			reasons: []reason{{CheckAccount, review, "555555555555"}},
		},
		{
			// Neither is restricted: a disagreement is doubt, for a person.
			name: "registry production, tag staging", policy: examplePolicy(t, withRegistry(reg)),
			account: "111111111111", tags: map[string]string{"Environment": "staging"},
			concerns: []string{"environment"},
			reasons: []reason{
				{CheckPayload, review, `tag:Environment says "staging", account says "production", account registry says "production"`},
				{CheckEnvironment, review, "no configured source (tag:Environment, tag:env, account, account registry) named one"},
			},
		},
		{
			name: "registry names an environment the policy does not know", policy: examplePolicy(t, withRegistry(reg)),
			account: "444444444444",
			wantEnv: "qa",
			reasons: []reason{{CheckEnvironment, review, `environment "qa" is not one the policy knows`}, {CheckAccount, review, "444444444444"}},
		},
		{
			name: "tags disagree, one restricted", policy: examplePolicy(t),
			account: "555555555555", tags: map[string]string{"Environment": "production", "env": "restricted-production"},
			wantEnv:  "restricted-production",
			concerns: []string{"environment"},
			reasons: []reason{
				{CheckPayload, review, `tag:env says "restricted-production"`},
				{CheckEnvironment, review, "restricted"},
				{CheckAccount, review, "555555555555"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := eligible()
			f.Environment = ""
			f.Resource.Account = tt.account
			f.Resource.Tags = map[string]string{"Owner": "payments@example.com", "team": "payments"}
			for k, v := range tt.tags {
				f.Resource.Tags[k] = v
			}
			if err := tt.policy.Enrich(context.Background(), f); err != nil {
				t.Fatal(err)
			}
			if f.Environment != tt.wantEnv {
				t.Errorf("environment = %q, want %q", f.Environment, tt.wantEnv)
			}
			var concerns []string
			for _, c := range f.Concerns {
				concerns = append(concerns, c.Field)
			}
			if diff := cmp.Diff(tt.concerns, concerns); diff != "" {
				t.Errorf("concerns (-want +got):\n%s\n%+v", diff, f.Concerns)
			}
			d, err := tt.policy.Decide(context.Background(), f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.reasons, reasonsOf(d, tt.reasons)); diff != "" {
				t.Errorf("reasons (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPolicyActions(t *testing.T) {
	want := []string{"ebs-snapshot-private", "kms-enable-rotation", "s3-block-public-access", "s3-default-encryption", "sg-revoke-public-ingress"}
	if diff := cmp.Diff(want, examplePolicy(t).Actions()); diff != "" {
		t.Errorf("Actions (-want +got):\n%s", diff)
	}
	if got := Default().Actions(); len(got) != 0 {
		t.Errorf("Default().Actions() = %v, want none", got)
	}
	var _ remediate.ActionNamer = Default()
}
