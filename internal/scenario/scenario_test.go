package scenario_test

import (
	"context"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/eligibility"
	"github.com/remedy-sec/remedy/internal/scenario"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
	"github.com/remedy-sec/remedy/wizpayload"
)

var moto *mototest.Server

func TestMain(m *testing.M) { os.Exit(mototest.Main(m, &moto)) }

// TestEveryBuiltInFix: for each built-in fix the world makes a resource
// that needs it and one that does not (as its read-back says), and the
// world's policy approves the finding Payload builds for it with that
// fix.
func TestEveryBuiltInFix(t *testing.T) {
	srv := mototest.Require(t, moto)
	ctx := mototest.Context(t)
	w, err := scenario.New(ctx, srv, t.TempDir(), scenario.Options{Name: "fixes"})
	if err != nil {
		t.Fatal(err)
	}
	policy, err := eligibility.Load(w.PolicyFile)
	if err != nil {
		t.Fatal(err)
	}
	const acct = "111111111111"
	fixes := []struct {
		action string
		// make creates the resource, compliant or not, and returns the
		// finding about it and a read-back of its compliance.
		make func(t *testing.T, compliant bool) (scenario.Finding, func() (bool, error))
	}{
		{"s3-block-public-access", func(t *testing.T, compliant bool) (scenario.Finding, func() (bool, error)) {
			b := w.Name + "-public-" + map[bool]string{true: "ok", false: "open"}[compliant]
			must(t, w.CreatePublicBucket(ctx, acct, b))
			if compliant {
				must(t, w.BlockPublicAccess(ctx, acct, b))
			}
			return scenario.Finding{Bucket: b}, func() (bool, error) { return w.BucketBlocksPublicAccess(ctx, acct, b) }
		}},
		{"s3-default-encryption", func(t *testing.T, compliant bool) (scenario.Finding, func() (bool, error)) {
			b := w.Name + "-plain-" + map[bool]string{true: "ok", false: "open"}[compliant]
			must(t, w.CreatePublicBucket(ctx, acct, b))
			if compliant {
				must(t, w.EncryptBucket(ctx, acct, b))
			}
			return scenario.Finding{Bucket: b, Encryption: true}, func() (bool, error) { return w.BucketEncrypted(ctx, acct, b) }
		}},
		{"sg-revoke-public-ingress", func(t *testing.T, compliant bool) (scenario.Finding, func() (bool, error)) {
			ports := []int32{22, 443}
			if compliant {
				ports = []int32{443}
			}
			id, err := w.CreateSecurityGroup(ctx, acct, w.Name+"-sg-"+map[bool]string{true: "ok", false: "open"}[compliant], ports...)
			must(t, err)
			return scenario.Finding{GroupID: id}, func() (bool, error) {
				open, err := w.PublicIngressPorts(ctx, acct, id)
				return !cmp.Equal(open, []int32{22, 443}), err
			}
		}},
		{"kms-enable-rotation", func(t *testing.T, compliant bool) (scenario.Finding, func() (bool, error)) {
			arn, err := w.CreateKey(ctx, acct, compliant)
			must(t, err)
			return scenario.Finding{KeyARN: arn}, func() (bool, error) { return w.KeyRotationEnabled(ctx, acct, arn) }
		}},
		{"ebs-snapshot-private", func(t *testing.T, compliant bool) (scenario.Finding, func() (bool, error)) {
			id, err := w.CreateSnapshot(ctx, acct, !compliant)
			must(t, err)
			return scenario.Finding{SnapshotID: id}, func() (bool, error) {
				public, err := w.SnapshotPublic(ctx, acct, id)
				return !public, err
			}
		}},
	}
	for _, fx := range fixes {
		t.Run(fx.action, func(t *testing.T) {
			for _, compliant := range []bool{false, true} {
				f, read := fx.make(t, compliant)
				if got, err := read(); err != nil || got != compliant {
					t.Errorf("compliant resource %v: read back %v, %v", compliant, got, err)
				}
				f.ID, f.Account, f.Owner = "finding-"+fx.action, acct, "team@example.com"
				got, err := wizpayload.New().Parse(w.Payload(f))
				if err != nil {
					t.Fatalf("payload does not parse: %v", err)
				}
				if err := policy.Enrich(context.Background(), got); err != nil {
					t.Fatal(err)
				}
				d, err := policy.Decide(context.Background(), got)
				if err != nil {
					t.Fatal(err)
				}
				if !d.Remediates() || d.Action != fx.action {
					t.Errorf("decision %s %q (%v), want remediate with %s", d.Verdict, d.Action, d.Reasons, fx.action)
				}
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
