package remediatetest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
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

// childEnv names the moto URL a re-executed test binary uses instead of
// starting its own server.
const childEnv = "REMEDIATETEST_CHILD_MOTO"

func TestMain(m *testing.M) {
	if url := os.Getenv(childEnv); url != "" {
		moto = &mototest.Server{URL: url}
		os.Exit(m.Run())
	}
	os.Exit(mototest.Main(m, &moto))
}

// broken wraps a correct remediator and breaks one promise, to show the
// suite notices.
type broken struct {
	inner remediate.Remediator
	// The hooks replace the inner method when set.
	spec     func() remediate.Spec
	plan     func(ctx context.Context, t remediate.Target) (remediate.Plan, error)
	apply    func(ctx context.Context, t remediate.Target, p remediate.Plan) (remediate.Result, error)
	verify   func(ctx context.Context, t remediate.Target, p remediate.Plan) error
	rollback func(ctx context.Context, t remediate.Target, rb json.RawMessage) error
}

func (b *broken) Spec() remediate.Spec {
	if b.spec != nil {
		return b.spec()
	}
	return b.inner.Spec()
}

func (b *broken) Plan(ctx context.Context, t remediate.Target) (remediate.Plan, error) {
	if b.plan != nil {
		return b.plan(ctx, t)
	}
	return b.inner.Plan(ctx, t)
}

func (b *broken) Apply(ctx context.Context, t remediate.Target, p remediate.Plan) (remediate.Result, error) {
	if b.apply != nil {
		return b.apply(ctx, t, p)
	}
	return b.inner.Apply(ctx, t, p)
}

func (b *broken) Verify(ctx context.Context, t remediate.Target, p remediate.Plan) error {
	if b.verify != nil {
		return b.verify(ctx, t, p)
	}
	return b.inner.(remediate.Verifier).Verify(ctx, t, p)
}

func (b *broken) Rollback(ctx context.Context, t remediate.Target, rb json.RawMessage) error {
	if b.rollback != nil {
		return b.rollback(ctx, t, rb)
	}
	return b.inner.(remediate.Rollbacker).Rollback(ctx, t, rb)
}

// brokenCases are the broken remediators, each with the sub-test of Run
// that must catch it. "Correct" breaks nothing and must pass.
func brokenCases() []struct {
	name string
	make func(inner remediate.Remediator) remediate.Remediator
	want string
} {
	return []struct {
		name string
		make func(inner remediate.Remediator) remediate.Remediator
		want string
	}{
		{"Correct", func(r remediate.Remediator) remediate.Remediator { return &broken{inner: r} }, ""},
		{"EmptySpec", func(r remediate.Remediator) remediate.Remediator {
			return &broken{inner: r, spec: func() remediate.Spec { s := r.Spec(); s.IAMActions = nil; return s }}
		}, "Spec"},
		{"PlanWrites", func(r remediate.Remediator) remediate.Remediator {
			return &broken{inner: r, plan: func(ctx context.Context, t remediate.Target) (remediate.Plan, error) {
				p, err := r.Plan(ctx, t)
				if err == nil {
					_, err = r.Apply(ctx, t, p)
				}
				return p, err
			}}
		}, "PlanMakesNoWrite"},
		{"ApplyDoesNothing", func(r remediate.Remediator) remediate.Remediator {
			return &broken{inner: r, apply: func(context.Context, remediate.Target, remediate.Plan) (remediate.Result, error) {
				return remediate.Result{After: []byte(`{}`), Rollback: []byte(`{}`)}, nil
			}}
		}, "ApplyMakesCompliant"},
		{"ApplyFailsWhenDone", func(r remediate.Remediator) remediate.Remediator {
			return &broken{inner: r, apply: func(ctx context.Context, t remediate.Target, p remediate.Plan) (remediate.Result, error) {
				if now, err := r.Plan(ctx, t); err == nil && now.Compliant {
					return remediate.Result{}, errors.New("already applied")
				}
				return r.Apply(ctx, t, p)
			}}
		}, "ApplyIsIdempotent"},
		{"VerifyAlwaysPasses", func(r remediate.Remediator) remediate.Remediator {
			return &broken{inner: r, verify: func(context.Context, remediate.Target, remediate.Plan) error { return nil }}
		}, "VerifyDetectsNonCompliance"},
		{"RollbackDoesNothing", func(r remediate.Remediator) remediate.Remediator {
			return &broken{inner: r, rollback: func(context.Context, remediate.Target, json.RawMessage) error { return nil }}
		}, "RollbackRestores"},
		{"UndeclaredAction", func(r remediate.Remediator) remediate.Remediator {
			return &broken{inner: r, spec: func() remediate.Spec {
				s := r.Spec()
				s.IAMActions = []string{"s3:GetBucketPublicAccessBlock"}
				return s
			}}
		}, "PermissionsCoverCalls"},
		{"ResourcesUndeclared", func(r remediate.Remediator) remediate.Remediator {
			return &broken{inner: r, spec: func() remediate.Spec {
				s := r.Spec()
				s.Resources = nil
				return s
			}}
		}, "Spec"},
		{"ScopedActionOfUndeclaredService", func(r remediate.Remediator) remediate.Remediator {
			return &broken{inner: r, spec: func() remediate.Spec {
				s := r.Spec()
				s.IAMActions = append(slices.Clone(s.IAMActions), "kms:DescribeKey")
				return s
			}}
		}, "Spec"},
		{"PlanRollbackWrong", func(r remediate.Remediator) remediate.Remediator {
			return &broken{inner: r, plan: func(ctx context.Context, t remediate.Target) (remediate.Plan, error) {
				p, err := r.Plan(ctx, t)
				if err == nil && !p.Compliant {
					p.Rollback = json.RawMessage(`{"Bucket":"another-bucket"}`)
				}
				return p, err
			}}
		}, "RollbackRestores"},
		// Correct: the code of its missing-resource error is one it
		// declares permanent, as the engine then classifies it.
		{"DeclaredPermanentCode", func(r remediate.Remediator) remediate.Remediator {
			return &broken{inner: r,
				spec: func() remediate.Spec {
					s := r.Spec()
					s.PermanentErrorCodes = []string{"BucketGone"}
					return s
				},
				plan: func(ctx context.Context, t remediate.Target) (remediate.Plan, error) {
					p, err := r.Plan(ctx, t)
					var ae smithy.APIError
					if errors.As(err, &ae) {
						return p, &smithy.GenericAPIError{Code: "BucketGone", Message: err.Error()}
					}
					return p, err
				}}
		}, ""},
		{"TransientErrors", func(r remediate.Remediator) remediate.Remediator {
			return &broken{inner: r, plan: func(ctx context.Context, t remediate.Target) (remediate.Plan, error) {
				p, err := r.Plan(ctx, t)
				if err != nil {
					return p, errors.New(err.Error()) // drops the permanent mark
				}
				return p, nil
			}}
		}, "ErrorsAreClassified"},
	}
}

var buckets atomic.Int64

func s3Harness(t *testing.T, r remediate.Remediator) remediatetest.Harness {
	srv := mototest.Require(t, moto)
	client := func(cfg aws.Config) *s3.Client {
		return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	}
	finding := func(b string) *remediate.Finding {
		return &remediate.Finding{ID: b, Resource: remediate.Resource{ID: "arn:aws:s3:::" + b, ARN: "arn:aws:s3:::" + b, Name: b, Account: mototest.DefaultAccount, Region: "us-east-1"}}
	}
	return remediatetest.Harness{
		Remediator: r,
		AWS:        srv.Config("us-east-1"),
		NewNonCompliant: func(t *testing.T, cfg aws.Config) *remediate.Finding {
			b := fmt.Sprintf("suite-%d-%d", os.Getpid(), buckets.Add(1))
			if _, err := client(cfg).CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
				t.Fatalf("CreateBucket: %v", err)
			}
			return finding(b)
		},
		Compliant: func(t *testing.T, cfg aws.Config, f *remediate.Finding) bool {
			out, err := client(cfg).GetPublicAccessBlock(t.Context(), &s3.GetPublicAccessBlockInput{Bucket: aws.String(f.Resource.Name)})
			var ae smithy.APIError
			if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchPublicAccessBlockConfiguration" {
				return false
			}
			if err != nil {
				t.Fatalf("GetPublicAccessBlock: %v", err)
			}
			return aws.ToBool(out.PublicAccessBlockConfiguration.BlockPublicAcls)
		},
		NewMissing: func(t *testing.T, cfg aws.Config) *remediate.Finding {
			return finding(fmt.Sprintf("missing-%d-%d", os.Getpid(), buckets.Add(1)))
		},
	}
}

// TestBrokenChild runs the suite on every broken remediator. It runs only
// in the child process TestRunCatchesBrokenRemediators starts, where
// failures are the point.
func TestBrokenChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("runs only as the child of TestRunCatchesBrokenRemediators")
	}
	for _, c := range brokenCases() {
		t.Run(c.name, func(t *testing.T) {
			inner := s3publicaccess.New(func(o *s3publicaccess.Options) { o.UsePathStyle = true })
			remediatetest.Run(t, s3Harness(t, c.make(inner)))
		})
	}
}

// TestRunCatchesBrokenRemediators runs the suite, in a child process, on
// remediators that each break one promise, and checks that the sub-test
// meant to catch it fails, and that a correct one passes.
func TestRunCatchesBrokenRemediators(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole suite once per broken remediator; skipped in -short mode")
	}
	srv := mototest.Require(t, moto)
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestBrokenChild$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+srv.URL)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the suite passed every broken remediator:\n%s", tail(out))
	}
	failed := map[string]bool{}
	passed := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if name, ok := strings.CutPrefix(line, "--- FAIL: TestBrokenChild/"); ok {
			failed[strings.Fields(name)[0]] = true
		}
		if name, ok := strings.CutPrefix(line, "--- PASS: TestBrokenChild/"); ok {
			passed[strings.Fields(name)[0]] = true
		}
	}
	if len(failed)+len(passed) == 0 {
		t.Fatalf("child ran no sub-test:\n%s", tail(out))
	}
	for _, c := range brokenCases() {
		if c.want == "" {
			if !passed[c.name] {
				t.Errorf("the suite failed the correct remediator %s", c.name)
			}
			continue
		}
		if !failed[c.name+"/"+c.want] {
			var got []string
			for k := range failed {
				if strings.HasPrefix(k, c.name+"/") {
					got = append(got, k)
				}
			}
			slices.Sort(got)
			t.Errorf("%s: sub-test %s did not fail; failed: %q", c.name, c.want, got)
		}
	}
	if t.Failed() {
		t.Logf("child output:\n%s", tail(out))
	}
}

func tail(b []byte) string {
	const max = 8000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}
