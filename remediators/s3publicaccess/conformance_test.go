package s3publicaccess_test

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
	"github.com/remedy-sec/remedy/remediators/s3publicaccess"
)

var moto *mototest.Server

func TestMain(m *testing.M) { os.Exit(mototest.Main(m, &moto)) }

const region = "us-east-1"

// names makes bucket names unique within one test binary.
type names struct{ n atomic.Int64 }

func (n *names) next(prefix string) string { return fmt.Sprintf("%s-%d", prefix, n.n.Add(1)) }

func client(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
}

func finding(bucket string) *remediate.Finding {
	return &remediate.Finding{
		ID:     "finding-" + bucket,
		Source: "test",
		Resource: remediate.Resource{
			ID: "arn:aws:s3:::" + bucket, ARN: "arn:aws:s3:::" + bucket, Name: bucket,
			Type: s3publicaccess.ResourceType, Cloud: "AWS", Account: mototest.DefaultAccount,
		},
	}
}

// createBucket creates a bucket with no Block Public Access configuration.
func createBucket(t *testing.T, cfg aws.Config, bucket string) {
	t.Helper()
	if _, err := client(cfg).CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("CreateBucket %s: %v", bucket, err)
	}
}

// blocksPublicAccess reads the bucket's flags directly.
func blocksPublicAccess(t *testing.T, cfg aws.Config, bucket string) bool {
	t.Helper()
	out, err := client(cfg).GetPublicAccessBlock(t.Context(), &s3.GetPublicAccessBlockInput{Bucket: aws.String(bucket)})
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchPublicAccessBlockConfiguration" {
		return false
	}
	if err != nil {
		t.Fatalf("GetPublicAccessBlock %s: %v", bucket, err)
	}
	c := out.PublicAccessBlockConfiguration
	return aws.ToBool(c.BlockPublicAcls) && aws.ToBool(c.IgnorePublicAcls) && aws.ToBool(c.BlockPublicPolicy) && aws.ToBool(c.RestrictPublicBuckets)
}

func TestConformance(t *testing.T) {
	srv := mototest.Require(t, moto)
	var n names
	remediatetest.Run(t, remediatetest.Harness{
		Remediator: s3publicaccess.New(func(o *s3publicaccess.Options) { o.UsePathStyle = true }),
		AWS:        srv.Config(region),
		NewNonCompliant: func(t *testing.T, cfg aws.Config) *remediate.Finding {
			b := n.next("conformance")
			createBucket(t, cfg, b)
			return finding(b)
		},
		Compliant: func(t *testing.T, cfg aws.Config, f *remediate.Finding) bool {
			return blocksPublicAccess(t, cfg, f.Resource.Name)
		},
		NewMissing: func(t *testing.T, cfg aws.Config) *remediate.Finding {
			return finding(n.next("missing"))
		},
	})
}
