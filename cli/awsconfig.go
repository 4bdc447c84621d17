package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/remedy-sec/remedy/crossaccount"
)

// loadAWS loads the operator's AWS configuration: region from --region
// (or the environment, else us-east-1), every call sent to --endpoint
// when given (moto, LocalStack).
func loadAWS(ctx context.Context, region, endpoint string) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if endpoint != "" {
		cfg.BaseEndpoint = aws.String(endpoint)
	}
	return cfg, nil
}

// operatorCreds reads the account registry at path — external ids kept
// in SSM are read with the operator's own credentials (base) — and
// returns it with a credential source that assumes each account's role
// in mode, its calls sharing base's endpoint, transport and retries.
func operatorCreds(ctx context.Context, path string, base aws.Config, mode crossaccount.Mode) (*crossaccount.Accounts, *crossaccount.Cache, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, usageErr("%v", err)
	}
	accounts, err := crossaccount.ReadAccounts(ctx, f, func(o *crossaccount.LoadOptions) {
		o.Resolvers = map[string]crossaccount.Resolver{"ssm": crossaccount.SSMResolver{Client: ssm.NewFromConfig(base)}}
	})
	f.Close()
	if err != nil {
		return nil, nil, usageErr("%s: %v", path, err)
	}
	creds, err := crossaccount.New(sts.NewFromConfig(base), accounts, func(o *crossaccount.Options) {
		o.Mode = mode
		o.Base = aws.Config{BaseEndpoint: base.BaseEndpoint, HTTPClient: base.HTTPClient, Retryer: base.Retryer}
	})
	if err != nil {
		return nil, nil, err
	}
	return accounts, creds, nil
}
