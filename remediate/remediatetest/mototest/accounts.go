package mototest

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// AccountConfig returns a configuration whose credentials act in account.
// moto gives credentials of the role's account to whoever assumes any
// role there, which is how tests bootstrap customer accounts.
func (s *Server) AccountConfig(ctx context.Context, account, region string) (aws.Config, error) {
	out, err := sts.NewFromConfig(s.Config(region)).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn:         aws.String("arn:aws:iam::" + account + ":role/mototest-bootstrap"),
		RoleSessionName: aws.String("mototest-bootstrap"),
		ExternalId:      aws.String("mototest-bootstrap"),
	})
	if err != nil {
		return aws.Config{}, fmt.Errorf("mototest: bootstrap account %s: %w", account, err)
	}
	c := out.Credentials
	return s.ConfigWith(region, credentials.NewStaticCredentialsProvider(
		aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))), nil
}

// CreateRole creates role name in account, trusted by DefaultAccount
// when the caller passes externalID, and returns its ARN. An existing
// role is kept.
func (s *Server) CreateRole(ctx context.Context, account, name, externalID string) (string, error) {
	cfg, err := s.AccountConfig(ctx, account, "us-east-1")
	if err != nil {
		return "", err
	}
	trust := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},`+
		`"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"],"Condition":{"StringEquals":{"sts:ExternalId":%q}}}]}`,
		DefaultAccount, externalID)
	client := iam.NewFromConfig(cfg)
	_, err = client.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trust)})
	var ae smithy.APIError
	if err != nil && !(errors.As(err, &ae) && ae.ErrorCode() == "EntityAlreadyExists") {
		return "", fmt.Errorf("mototest: create role %s in %s: %w", name, account, err)
	}
	return "arn:aws:iam::" + account + ":role/" + name, nil
}
