package crossaccount

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/remediate"
)

// TestConfigRefusesOtherPartition checks, in both modes, that a finding
// whose resource ARN is in another partition than its account's role is
// refused before any AssumeRole call. In shared mode nothing else would
// catch it: a bucket ARN carries no account.
func TestConfigRefusesOtherPartition(t *testing.T) {
	const (
		commercial = "111111111111"
		china      = "222222222222"
	)
	accs, err := LoadAccounts(context.Background(), AccountsConfig{
		Regions: []string{"*"},
		Accounts: []Account{
			{ID: commercial, ExternalID: "ext-1"},
			{ID: china, RoleARN: "arn:aws-cn:iam::" + china + ":role/remedy", ExternalID: "ext-2"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	spec := remediate.Spec{Action: "s3-block-public-access", ResourceTypes: []string{"bucket"}, Resources: resourcesOf("bucket"), IAMActions: []string{"s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock"}}
	tests := []struct {
		name            string
		account, region string
		id, arn         string
		wantErr         error // nil: a session is made
	}{
		{"China bucket, commercial account", commercial, "us-east-1", "arn:aws-cn:s3:::victim", "arn:aws-cn:s3:::victim", ErrWrongPartition},
		{"GovCloud bucket, commercial account", commercial, "us-east-1", "arn:aws-us-gov:s3:::victim", "arn:aws-us-gov:s3:::victim", ErrWrongPartition},
		{"China ARN in id only", commercial, "us-east-1", "arn:aws-cn:s3:::victim", "", ErrWrongPartition},
		{"look-alike partition", commercial, "us-east-1", "arn:aws-x:s3:::victim", "arn:aws-x:s3:::victim", ErrWrongPartition},
		{"commercial bucket, China account", china, "cn-north-1", "arn:aws:s3:::victim", "arn:aws:s3:::victim", ErrWrongPartition},
		{"commercial bucket, commercial account", commercial, "us-east-1", "arn:aws:s3:::victim", "arn:aws:s3:::victim", nil},
		{"China bucket, China account", china, "cn-north-1", "arn:aws-cn:s3:::victim", "arn:aws-cn:s3:::victim", nil},
		{"bare bucket name", commercial, "us-east-1", "victim", "", nil},
	}
	type result struct {
		Err       bool
		Permanent bool
		Calls     int64
	}
	for _, mode := range []Mode{Shared, Strict} {
		for _, tt := range tests {
			t.Run(mode.String()+"/"+tt.name, func(t *testing.T) {
				var calls atomic.Int64
				api := AssumeRoleAPIFunc(func(context.Context, *sts.AssumeRoleInput, ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
					calls.Add(1)
					exp := time.Now().Add(time.Hour)
					return &sts.AssumeRoleOutput{Credentials: &types.Credentials{
						AccessKeyId: aws.String("a"), SecretAccessKey: aws.String("s"), SessionToken: aws.String("t"), Expiration: &exp,
					}}, nil
				})
				c, err := New(api, accs, func(o *Options) { o.Mode = mode })
				if err != nil {
					t.Fatal(err)
				}
				f := &remediate.Finding{ID: "f1", Resource: remediate.Resource{
					ID: tt.id, ARN: tt.arn, Account: tt.account, Region: tt.region, Type: "bucket", Cloud: "AWS",
				}}
				_, err = c.Config(context.Background(), f, spec)
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("Config error = %v, want %v", err, tt.wantErr)
				}
				want := result{Err: tt.wantErr != nil, Permanent: tt.wantErr != nil, Calls: 1}
				if tt.wantErr != nil {
					want.Calls = 0
				}
				got := result{Err: err != nil, Permanent: remediate.IsPermanent(err), Calls: calls.Load()}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("Config mismatch (-want +got):\n%s\nerror: %v", diff, err)
				}
			})
		}
	}
}
