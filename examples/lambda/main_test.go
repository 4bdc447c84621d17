package main

import (
	"context"
	"os"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/remedy-sec/remedy/crossaccount"
	"github.com/remedy-sec/remedy/deploy"
	"github.com/remedy-sec/remedy/eligibility"
	"github.com/remedy-sec/remedy/remediate"
)

// TestPackagedFiles: the policy and registry packaged with the function
// load, and every action the policy names has a built-in remediator.
func TestPackagedFiles(t *testing.T) {
	if _, err := eligibility.Load("policy.yaml"); err != nil {
		t.Fatal(err)
	}
	reg, err := remediate.NewRegistry(deploy.Builtins(deploy.Config{})...)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Types     map[string][]string `yaml:"approved_resource_types"`
		Playbooks map[string]string   `yaml:"playbooks"`
	}
	if err := yaml.Unmarshal(src, &p); err != nil {
		t.Fatal(err)
	}
	var named []string
	for _, acts := range p.Types {
		named = append(named, acts...)
	}
	for _, a := range p.Playbooks {
		named = append(named, a)
	}
	for _, a := range named {
		if _, err := reg.Lookup(a); err != nil {
			t.Errorf("policy.yaml names action %q, which no built-in remediator has (%v)", a, reg.Actions())
		}
	}
	if len(named) == 0 {
		t.Error("policy.yaml names no action")
	}

	f, err := os.Open("accounts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var refs []string
	accs, err := crossaccount.ReadAccounts(context.Background(), f, func(o *crossaccount.LoadOptions) {
		o.Resolvers = map[string]crossaccount.Resolver{"ssm": crossaccount.ResolverFunc(func(_ context.Context, ref string) (string, error) {
			refs = append(refs, ref)
			return "example-external-id", nil
		})}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(accs.IDs()) != 3 || len(refs) != 3 {
		t.Errorf("registry: %v accounts, %d SSM references resolved; want 3 and 3", accs.IDs(), len(refs))
	}
}
