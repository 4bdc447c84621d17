package remediate

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// specOnly is a remediator that only declares itself: the checks here
// never run one.
type specOnly struct{ action string }

func (r specOnly) Spec() Spec {
	return Spec{Action: r.action, ResourceTypes: []string{"bucket"}, Resources: map[string][]string{"bucket": {"arn:{partition}:s3:::*"}}, IAMActions: []string{"s3:GetBucketAcl"}}
}
func (specOnly) Plan(context.Context, Target) (Plan, error)          { return Plan{}, nil }
func (specOnly) Apply(context.Context, Target, Plan) (Result, error) { return Result{}, nil }

// namingPolicy is a policy that names its actions.
type namingPolicy struct {
	PolicyFunc
	actions []string
}

func (p namingPolicy) Actions() []string { return p.actions }

func TestValidatePolicyActions(t *testing.T) {
	reg, err := NewRegistry(specOnly{"s3-block-public-access"}, specOnly{"kms-enable-rotation"})
	if err != nil {
		t.Fatal(err)
	}
	decide := PolicyFunc(func(context.Context, *Finding) (Decision, error) { return Decision{}, nil })
	tests := []struct {
		name    string
		policy  Policy
		reg     *Registry
		missing []string
		wantErr []string // substrings of the error; none means no error
	}{
		{"every action registered", namingPolicy{decide, []string{"kms-enable-rotation", "s3-block-public-access"}}, reg, nil, nil},
		{"names no action", namingPolicy{decide, nil}, reg, nil, nil},
		{"policy that names nothing is not checked", decide, reg, nil, nil},
		{
			"a typo and a missing remediator",
			namingPolicy{decide, []string{"s3-block-public-acess", "s3-block-public-access", "sg-revoke-public-ingress", "s3-block-public-acess"}},
			reg,
			[]string{"s3-block-public-acess", "sg-revoke-public-ingress"},
			[]string{`"s3-block-public-acess", "sg-revoke-public-ingress"`, "registered: kms-enable-rotation, s3-block-public-access", "register a remediator"},
		},
		{"empty registry", namingPolicy{decide, []string{"s3-block-public-access"}}, &Registry{}, []string{"s3-block-public-access"}, []string{"registered: none"}},
		{"nil registry", namingPolicy{decide, []string{"s3-block-public-access"}}, nil, []string{"s3-block-public-access"}, []string{"registered: none"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.missing, UnregisteredActions(tt.policy, tt.reg)); diff != "" {
				t.Errorf("UnregisteredActions (-want +got):\n%s", diff)
			}
			err := validatePolicyActions(tt.policy, tt.reg)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Errorf("validatePolicyActions = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrUnknownAction) {
				t.Fatalf("validatePolicyActions = %v, want an error wrapping ErrUnknownAction", err)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}
