package remediatetest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

// versioning turns on S3 bucket versioning: a complete AWS remediator,
// as a team writes one (examples/custom has it with its own module,
// Lambda, worker and CLI).
type versioning struct{}

var (
	_ remediate.Remediator = versioning{}
	_ remediate.Verifier   = versioning{}
	_ remediate.Rollbacker = versioning{}
)

func (versioning) Spec() remediate.Spec {
	return remediate.Spec{
		Action:        "s3-enable-versioning",
		Description:   "Turn on versioning of an S3 bucket.",
		ResourceTypes: []string{"bucket"},
		Resources:     map[string][]string{"bucket": {"arn:{partition}:s3:::*"}},
		IAMActions:    []string{"s3:GetBucketVersioning", "s3:PutBucketVersioning"},
	}
}

// client builds the S3 client once per finding (path-style, for moto).
func (versioning) client(t remediate.Target) *s3.Client {
	return remediate.Client(t, "s3", func() *s3.Client {
		return s3.NewFromConfig(t.AWS, func(o *s3.Options) { o.UsePathStyle = true })
	})
}

func bucketOf(f *remediate.Finding) string {
	return strings.TrimPrefix(f.Resource.ID, "arn:aws:s3:::")
}

func (r versioning) status(ctx context.Context, t remediate.Target) (string, error) {
	if !strings.HasPrefix(t.Finding.Resource.ID, "arn:aws:s3:::") || bucketOf(t.Finding) == "" {
		return "", remediate.Permanentf("finding %s names no S3 bucket ARN", t.Finding.ID)
	}
	out, err := r.client(t).GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(bucketOf(t.Finding))})
	if err != nil {
		return "", remediate.ClassifyAWS(fmt.Errorf("read versioning of %s: %w", bucketOf(t.Finding), err))
	}
	return string(out.Status), nil
}

// Plan reads the status and changes nothing.
func (r versioning) Plan(ctx context.Context, t remediate.Target) (remediate.Plan, error) {
	st, err := r.status(ctx, t)
	if err != nil {
		return remediate.Plan{}, err
	}
	before, _ := json.Marshal(map[string]string{"status": st})
	p := remediate.Plan{Compliant: st == "Enabled", Before: before, After: json.RawMessage(`{"status":"Enabled"}`), Rollback: before}
	if !p.Compliant {
		p.Changes = []string{fmt.Sprintf("set versioning from %q to Enabled", st)}
	}
	return p, nil
}

// Apply enables versioning; applying twice is the same as once, and a
// compliant plan writes nothing.
func (r versioning) Apply(ctx context.Context, t remediate.Target, p remediate.Plan) (remediate.Result, error) {
	if p.Compliant {
		return remediate.Result{After: p.Before}, nil
	}
	return r.put(ctx, t, types.BucketVersioningStatusEnabled, p.Rollback)
}

func (r versioning) put(ctx context.Context, t remediate.Target, st types.BucketVersioningStatus, rollback json.RawMessage) (remediate.Result, error) {
	_, err := r.client(t).PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(bucketOf(t.Finding)),
		VersioningConfiguration: &types.VersioningConfiguration{Status: st},
	})
	if err != nil {
		return remediate.Result{}, remediate.ClassifyAWS(fmt.Errorf("set versioning of %s: %w", bucketOf(t.Finding), err))
	}
	after, _ := json.Marshal(map[string]string{"status": string(st)})
	return remediate.Result{After: after, Rollback: rollback}, nil
}

// Verify reads the status back.
func (r versioning) Verify(ctx context.Context, t remediate.Target, _ remediate.Plan) error {
	st, err := r.status(ctx, t)
	if err == nil && st != "Enabled" {
		err = fmt.Errorf("versioning of %s is %q after the fix", bucketOf(t.Finding), st)
	}
	return err
}

// Rollback suspends versioning again: S3 cannot make a bucket unversioned.
func (r versioning) Rollback(ctx context.Context, t remediate.Target, rollback json.RawMessage) error {
	var prior struct{ Status string }
	if err := json.Unmarshal(rollback, &prior); err != nil {
		return remediate.Permanentf("rollback data %s: %v", rollback, err)
	}
	if prior.Status == "Enabled" {
		return nil
	}
	_, err := r.put(ctx, t, types.BucketVersioningStatusSuspended, nil)
	return err
}

// Example_awsRemediator writes a real AWS remediator, proves it with the
// conformance suite against moto, and runs it through an engine in apply
// mode, as a team's test does. (It needs moto_server, so it is compiled
// here and run, as a test, by examples/custom.)
func Example_awsRemediator() {
	srv, err := mototest.Start()
	if err != nil {
		fmt.Println("moto:", err) // pip install 'moto[server]==5.2.1'
		return
	}
	defer srv.Close()
	ctx := context.Background()
	cfg := srv.Config("us-east-1")
	_, _ = s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).
		CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("team-logs")})

	// In a test: remediatetest.Run(t, remediatetest.Harness{Remediator: versioning{}, AWS: cfg, ...})
	// checks that Plan makes no write, Apply is idempotent, Verify sees
	// drift, Rollback restores and the declared IAM actions cover every call.
	var _ = remediatetest.Run

	reg, err := remediate.NewRegistry(versioning{})
	if err != nil {
		fmt.Println(err)
		return
	}
	eng, err := remediate.NewEngine(remediate.Options{
		Parser: remediate.ParserFunc(func(body []byte) (*remediate.Finding, error) {
			return &remediate.Finding{ID: string(body), Source: "example", Revision: "1", Severity: remediate.SeverityHigh,
				Resource: remediate.Resource{ID: "arn:aws:s3:::team-logs", Type: "bucket", Account: "123456789012", Region: "us-east-1"}}, nil
		}),
		Policy: remediate.PolicyFunc(func(context.Context, *remediate.Finding) (remediate.Decision, error) {
			return remediate.Decision{Verdict: remediate.VerdictRemediate, Action: "s3-enable-versioning"}, nil
		}),
		Registry: reg,
		// The finding's account is moto's own here; crossaccount.New
		// assumes a scoped role in a customer account in a deployment.
		Credentials: remediate.CredentialSourceFunc(func(context.Context, *remediate.Finding, remediate.Spec) (aws.Config, error) {
			return cfg, nil
		}),
		Audit: audit.NewJSONLines(os.Stdout),
		Mode:  remediate.ModeApply,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	rec, err := eng.Process(ctx, remediate.Message{ID: "m-1", Body: []byte("wiz-issue-1")})
	if err != nil {
		fmt.Println("retry:", err)
		return
	}
	fmt.Println(rec.Outcome, rec.Evidence.Verified)
}

// TestExampleRemediatorConforms runs the conformance suite on the
// example's remediator, so the example stays correct.
func TestExampleRemediatorConforms(t *testing.T) {
	srv := mototest.Require(t, moto)
	cfg := srv.Config("us-east-1")
	c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	n := 0
	newBucket := func(t *testing.T, create bool) *remediate.Finding {
		t.Helper()
		n++
		name := fmt.Sprintf("example-versioning-%d-%d", os.Getpid(), n)
		if create {
			if _, err := c.CreateBucket(mototest.Context(t), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
				t.Fatal(err)
			}
		}
		return &remediate.Finding{ID: name, Resource: remediate.Resource{ID: "arn:aws:s3:::" + name, Type: "bucket", Account: "123456789012", Region: "us-east-1"}}
	}
	remediatetest.Run(t, remediatetest.Harness{
		Remediator:      versioning{},
		AWS:             cfg,
		NewNonCompliant: func(t *testing.T, _ aws.Config) *remediate.Finding { return newBucket(t, true) },
		NewMissing:      func(t *testing.T, _ aws.Config) *remediate.Finding { return newBucket(t, false) },
		Compliant: func(t *testing.T, _ aws.Config, f *remediate.Finding) bool {
			out, err := c.GetBucketVersioning(mototest.Context(t), &s3.GetBucketVersioningInput{Bucket: aws.String(bucketOf(f))})
			if err != nil {
				t.Fatal(err)
			}
			return out.Status == types.BucketVersioningStatusEnabled
		},
	})
}
