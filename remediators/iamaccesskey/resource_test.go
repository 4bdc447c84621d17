package iamaccesskey_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest"
	"github.com/remedy-sec/remedy/remediators/iamaccesskey"
)

// TestRefusesAmbiguousResource checks that every finding that does not
// name exactly one key of one user is refused with a permanent error
// before any API call.
func TestRefusesAmbiguousResource(t *testing.T) {
	const (
		acct  = "123456789012"
		key   = "AKIAIOSFODNN7EXAMPLE"
		alice = "arn:aws:iam::123456789012:user/alice"
	)
	tests := []struct {
		name   string
		res    remediate.Resource
		region string
	}{
		{"nothing", remediate.Resource{Account: acct}, region},
		{"key id without user", remediate.Resource{ID: key, Account: acct}, region},
		{"user ARN alone", remediate.Resource{ID: alice, ARN: alice, Account: acct}, region},
		{"temporary key id", remediate.Resource{ID: "ASIAIOSFODNN7EXAMPLE", ARN: alice, Account: acct}, region},
		{"lower-case key id", remediate.Resource{ID: "akiaiosfodnn7example", ARN: alice, Account: acct}, region},
		{"short key id", remediate.Resource{ID: "AKIAIOSFODNN7", ARN: alice, Account: acct}, region},
		{"key id with spaces", remediate.Resource{ID: " " + key, ARN: alice, Account: acct}, region},
		{"composite id", remediate.Resource{ID: alice + "##" + key, ARN: alice, Account: acct}, region},
		{"no account", remediate.Resource{ID: key, ARN: alice}, region},
		{"other account", remediate.Resource{ID: key, ARN: alice, Account: "210987654321"}, region},
		{"role ARN", remediate.Resource{ID: key, ARN: "arn:aws:iam::123456789012:role/alice", Account: acct}, region},
		{"group ARN", remediate.Resource{ID: key, ARN: "arn:aws:iam::123456789012:group/admins", Account: acct}, region},
		{"wildcard user", remediate.Resource{ID: key, ARN: "arn:aws:iam::123456789012:user/*", Account: acct}, region},
		{"wildcard path", remediate.Resource{ID: key, ARN: "arn:aws:iam::123456789012:user/*/alice", Account: acct}, region},
		{"empty path segment", remediate.Resource{ID: key, ARN: "arn:aws:iam::123456789012:user//alice", Account: acct}, region},
		{"no user name", remediate.Resource{ID: key, ARN: "arn:aws:iam::123456789012:user/", Account: acct}, region},
		{"other partition", remediate.Resource{ID: key, ARN: "arn:aws-cn:iam::123456789012:user/alice", Account: acct}, region},
		{"other service", remediate.Resource{ID: key, ARN: "arn:aws:sts::123456789012:assumed-role/r/alice", Account: acct}, region},
		{"regional ARN", remediate.Resource{ID: key, ARN: "arn:aws:iam:us-east-1:123456789012:user/alice", Account: acct}, region},
		{"upper-case ARN prefix", remediate.Resource{ID: key, ARN: "ARN:aws:iam::123456789012:user/alice", Account: acct}, region},
		{"other cloud", remediate.Resource{ID: key, ARN: alice, Account: acct, Cloud: "GCP"}, region},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, rec := remediatetest.Record(aws.Config{Region: tt.region})
			f := &remediate.Finding{ID: "f", Resource: tt.res}
			f.Resource.Type = iamaccesskey.ResourceType
			_, err := iamaccesskey.New().Plan(t.Context(), remediate.Target{Finding: f, AWS: cfg})
			if err == nil || !remediate.IsPermanent(err) {
				t.Errorf("Plan = %v, want a permanent error", err)
			}
			if ops := rec.Operations(); len(ops) != 0 {
				t.Errorf("Plan called %v, want no call", ops)
			}
		})
	}
}

func TestValidKeyID(t *testing.T) {
	for s, want := range map[string]bool{
		"AKIAIOSFODNN7EXAMPLE":  true,
		"AKIA0123456789ABCDEF":  true,
		"ASIAIOSFODNN7EXAMPLE":  false,
		"AKIAIOSFODNN7EXAMPL":   false,
		"AKIAIOSFODNN7EXAMPLEX": false,
		"AKIAIOSFODNN7EXAMPl":   false,
		"AKIAIOSFODNN7EXAMP_E":  false,
		"":                      false,
	} {
		if got := iamaccesskey.ValidKeyID(s); got != want {
			t.Errorf("ValidKeyID(%q) = %v, want %v", s, got, want)
		}
	}
}
