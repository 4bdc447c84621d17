package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

// TestPlanAgainstMoto plans the fix of a public bucket in a customer
// account through the real STS and S3 APIs of moto, and checks that it
// shows the change and makes none.
func TestPlanAgainstMoto(t *testing.T) {
	srv := mototest.Require(t, moto)
	ctx := mototest.Context(t)
	const account, bucket = "111111111111", "payments-exports"
	if _, err := srv.CreateRole(ctx, account, "RemedyRemediation", "ext-plan-test"); err != nil {
		t.Fatal(err)
	}
	cust, err := srv.AccountConfig(ctx, account, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	s3c := s3.NewFromConfig(cust, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	accounts := filepath.Join(dir, "accounts.yaml")
	// The external id is kept in SSM, as in the reference accounts.yaml.
	if _, err := ssm.NewFromConfig(srv.Config("us-east-1")).PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String("/remedy/external-id/111111111111"), Value: aws.String("ext-plan-test"), Type: ssmtypes.ParameterTypeSecureString,
	}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(accounts, []byte("regions: [us-east-1]\naccounts:\n  - id: \"111111111111\"\n    external_id_from: ssm:/remedy/external-id/111111111111\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))

	finding := filepath.Join(samplesDir, "01-public-bucket-production.json")
	code, out, errOut := runCLI(t, "", "plan", "--accounts", accounts, "--policy", examplePolicy, "--endpoint", srv.URL, finding)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"policy    remediate (action s3-block-public-access)",
		"plan      planned with s3-block-public-access",
		"before    ",
		"change    ",
		"requests  ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Nothing changed: the bucket still has no public access block.
	_, err = s3c.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String(bucket)})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "NoSuchPublicAccessBlockConfiguration" {
		t.Errorf("after plan, GetPublicAccessBlock = %v; want NoSuchPublicAccessBlockConfiguration (plan must not write)", err)
	}

	// An account missing from the registry is never assumed into.
	other := filepath.Join(samplesDir, "12-account-not-allowlisted.json")
	code, out, _ = runCLI(t, "", "plan", "--accounts", accounts, "--policy", examplePolicy, "--endpoint", srv.URL, other)
	if code != exitOK || !strings.Contains(out, "plan      failed") || !strings.Contains(out, "not allowlisted") {
		t.Errorf("plan for a non-allowlisted account: exit %d\n%s", code, out)
	}
}

func TestPlanUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"plan"}, "exactly one finding"},
		{[]string{"plan", "x.json"}, "--accounts FILE is required"},
	} {
		code, _, errOut := runCLI(t, "", tt.args...)
		if code != exitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 naming %q", tt.args, code, errOut, tt.want)
		}
	}
}
