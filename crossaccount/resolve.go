package crossaccount

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// Resolver turns a reference into a secret value, such as an external
// id. LoadAccounts calls it once per reference at start-up; a Resolver
// must not log the value it returns.
type Resolver interface {
	Resolve(ctx context.Context, ref string) (string, error)
}

// ResolverFunc adapts a function to a Resolver.
type ResolverFunc func(ctx context.Context, ref string) (string, error)

// Resolve calls f(ctx, ref).
func (f ResolverFunc) Resolve(ctx context.Context, ref string) (string, error) { return f(ctx, ref) }

// EnvResolver resolves "env:NAME" references from the environment. A
// variable that is unset or empty is an error.
type EnvResolver struct {
	// LookupEnv reads a variable; nil means os.LookupEnv.
	LookupEnv func(name string) (string, bool)
}

// Resolve returns the value of the variable ref.
func (r EnvResolver) Resolve(_ context.Context, ref string) (string, error) {
	lookup := r.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	v, ok := lookup(ref)
	if !ok || v == "" {
		return "", fmt.Errorf("environment variable %s is not set", ref)
	}
	return v, nil
}

// SSMGetParameterAPI is the SSM call SSMResolver makes.
type SSMGetParameterAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// SSMResolver resolves "ssm:/name" references from SSM Parameter Store,
// decrypting SecureString parameters. Register it for the "ssm" scheme:
//
//	crossaccount.LoadAccounts(ctx, cfg, func(o *crossaccount.LoadOptions) {
//		o.Resolvers = map[string]crossaccount.Resolver{"ssm": crossaccount.SSMResolver{Client: ssm.NewFromConfig(awsCfg)}}
//	})
type SSMResolver struct {
	// Client is an *ssm.Client with ssm:GetParameter on the parameters
	// (and kms:Decrypt on their key).
	Client SSMGetParameterAPI
}

// Resolve returns the value of the parameter named ref.
func (r SSMResolver) Resolve(ctx context.Context, ref string) (string, error) {
	if r.Client == nil {
		return "", errors.New("SSMResolver has no Client")
	}
	out, err := r.Client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(ref), WithDecryption: aws.Bool(true)})
	if err != nil {
		return "", fmt.Errorf("read SSM parameter %s: %w", ref, err)
	}
	if out.Parameter == nil || aws.ToString(out.Parameter.Value) == "" {
		return "", fmt.Errorf("SSM parameter %s has no value", ref)
	}
	return aws.ToString(out.Parameter.Value), nil
}
