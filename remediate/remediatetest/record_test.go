package remediatetest_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-cmp/cmp"
	"github.com/remedy-sec/remedy/remediate/remediatetest"
)

// refuse answers no request: the tests only look at what was sent.
type refuse struct{}

func (refuse) Do(*http.Request) (*http.Response, error) { return nil, errors.New("not sent") }

func config(endpoint string) aws.Config {
	return aws.Config{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		HTTPClient:       refuse{},
		RetryMaxAttempts: 1,
		BaseEndpoint:     aws.String(endpoint),
	}
}

func TestOperationOf(t *testing.T) {
	type want struct{ Service, Name, IAM string }
	b := aws.String("bucket")
	tests := []struct {
		name     string
		endpoint string
		call     func(ctx context.Context, cfg aws.Config)
		want     want
	}{
		{"S3GetPublicAccessBlock", "http://127.0.0.1:5000", func(ctx context.Context, cfg aws.Config) {
			s3c(cfg).GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: b})
		}, want{"s3", "GetPublicAccessBlock", "s3:GetBucketPublicAccessBlock"}},
		{"S3PutPublicAccessBlock", "http://127.0.0.1:5000", func(ctx context.Context, cfg aws.Config) {
			s3c(cfg).PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: b, PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{}})
		}, want{"s3", "PutPublicAccessBlock", "s3:PutBucketPublicAccessBlock"}},
		{"S3DeletePublicAccessBlock", "http://127.0.0.1:5000", func(ctx context.Context, cfg aws.Config) {
			s3c(cfg).DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: b})
		}, want{"s3", "DeletePublicAccessBlock", "s3:PutBucketPublicAccessBlock"}},
		{"S3GetBucketEncryption", "http://localhost:5000", func(ctx context.Context, cfg aws.Config) {
			s3c(cfg).GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: b})
		}, want{"s3", "GetBucketEncryption", "s3:GetEncryptionConfiguration"}},
		{"S3PutBucketEncryption", "http://127.0.0.1:5000", func(ctx context.Context, cfg aws.Config) {
			s3c(cfg).PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{Bucket: b, ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{Rules: []s3types.ServerSideEncryptionRule{{}}}})
		}, want{"s3", "PutBucketEncryption", "s3:PutEncryptionConfiguration"}},
		{"S3DeleteBucketEncryption", "http://127.0.0.1:5000", func(ctx context.Context, cfg aws.Config) {
			s3c(cfg).DeleteBucketEncryption(ctx, &s3.DeleteBucketEncryptionInput{Bucket: b})
		}, want{"s3", "DeleteBucketEncryption", "s3:PutEncryptionConfiguration"}},
		{"S3HeadBucket", "http://127.0.0.1:5000", func(ctx context.Context, cfg aws.Config) {
			s3c(cfg).HeadBucket(ctx, &s3.HeadBucketInput{Bucket: b})
		}, want{"s3", "HeadBucket", "s3:ListBucket"}},
		{"S3CreateBucket", "http://127.0.0.1:5000", func(ctx context.Context, cfg aws.Config) {
			s3c(cfg).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b})
		}, want{"s3", "CreateBucket", "s3:CreateBucket"}},
		{"S3ListBuckets", "http://127.0.0.1:5000", func(ctx context.Context, cfg aws.Config) {
			s3c(cfg).ListBuckets(ctx, &s3.ListBucketsInput{})
		}, want{"s3", "ListBuckets", "s3:ListAllMyBuckets"}},
		{"S3GetObjectVirtualHosted", "https://s3.us-east-1.amazonaws.com", func(ctx context.Context, cfg aws.Config) {
			s3.NewFromConfig(cfg).GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("a/b")})
		}, want{"s3", "GetObject", "s3:GetObject"}},
		{"S3GetBucketPolicyVirtualHosted", "https://s3.us-east-1.amazonaws.com", func(ctx context.Context, cfg aws.Config) {
			s3.NewFromConfig(cfg).GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: b})
		}, want{"s3", "GetBucketPolicy", "s3:GetBucketPolicy"}},
		{"EC2Query", "http://127.0.0.1:5000", func(ctx context.Context, cfg aws.Config) {
			ec2.NewFromConfig(cfg).RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String("sg-1"), SecurityGroupRuleIds: []string{"sgr-1"}})
		}, want{"ec2", "RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"}},
		{"KMSJSON", "http://127.0.0.1:5000", func(ctx context.Context, cfg aws.Config) {
			kms.NewFromConfig(cfg).GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: aws.String("k")})
		}, want{"kms", "GetKeyRotationStatus", "kms:GetKeyRotationStatus"}},
		{"STSQuery", "http://127.0.0.1:5000", func(ctx context.Context, cfg aws.Config) {
			sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		}, want{"sts", "GetCallerIdentity", "sts:GetCallerIdentity"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, rec := remediatetest.Record(config(tt.endpoint))
			tt.call(t.Context(), cfg)
			var got []want
			for _, op := range rec.Operations() {
				got = append(got, want{op.Service, op.Name, op.IAMAction()})
			}
			if diff := cmp.Diff([]want{tt.want}, got); diff != "" {
				t.Errorf("recorded operations (-want +got):\n%s", diff)
			}
		})
	}
}

func s3c(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
}

func TestOperationReadOnly(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"GetPublicAccessBlock", true},
		{"DescribeSecurityGroupRules", true},
		{"ListKeys", true},
		{"HeadBucket", true},
		{"PutPublicAccessBlock", false},
		{"RevokeSecurityGroupIngress", false},
		{"EnableKeyRotation", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := (remediatetest.Operation{Service: "x", Name: tt.name}).ReadOnly(); got != tt.want {
			t.Errorf("Operation{Name: %q}.ReadOnly() = %v, want %v", tt.name, got, tt.want)
		}
	}
}
