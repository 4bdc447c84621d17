package iamaccesskey_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
	"github.com/remedy-sec/remedy/remediators/iamaccesskey"
)

var moto *mototest.Server

func TestMain(m *testing.M) { os.Exit(mototest.Main(m, &moto)) }

const region = "us-east-1"

var userN atomic.Int64

func userARN(name string) string { return "arn:aws:iam::" + mototest.DefaultAccount + ":user/" + name }

func finding(user, keyID string) *remediate.Finding {
	return &remediate.Finding{
		ID: "finding-" + keyID, Source: "test",
		Resource: remediate.Resource{ID: keyID, ARN: userARN(user), Type: iamaccesskey.ResourceType, Cloud: "AWS", Account: mototest.DefaultAccount, Region: region},
	}
}

// newKey creates a user with one active access key and returns both.
func newKey(t *testing.T, cfg aws.Config) (user, keyID string) {
	t.Helper()
	c := iam.NewFromConfig(cfg)
	user = fmt.Sprintf("remedy-test-%d", userN.Add(1))
	if _, err := c.CreateUser(t.Context(), &iam.CreateUserInput{UserName: aws.String(user)}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	out, err := c.CreateAccessKey(t.Context(), &iam.CreateAccessKeyInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatalf("CreateAccessKey: %v", err)
	}
	return user, aws.ToString(out.AccessKey.AccessKeyId)
}

// status reads the key's status directly.
func status(t *testing.T, cfg aws.Config, user, keyID string) types.StatusType {
	t.Helper()
	out, err := iam.NewFromConfig(cfg).ListAccessKeys(t.Context(), &iam.ListAccessKeysInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatalf("ListAccessKeys: %v", err)
	}
	for _, m := range out.AccessKeyMetadata {
		if aws.ToString(m.AccessKeyId) == keyID {
			return m.Status
		}
	}
	t.Fatalf("user %s has no access key %s", user, keyID)
	return ""
}

func setStatus(t *testing.T, cfg aws.Config, user, keyID string, s types.StatusType) {
	t.Helper()
	if _, err := iam.NewFromConfig(cfg).UpdateAccessKey(t.Context(), &iam.UpdateAccessKeyInput{
		UserName: aws.String(user), AccessKeyId: aws.String(keyID), Status: s,
	}); err != nil {
		t.Fatalf("UpdateAccessKey: %v", err)
	}
}

func TestConformance(t *testing.T) {
	srv := mototest.Require(t, moto)
	remediatetest.Run(t, remediatetest.Harness{
		Remediator: iamaccesskey.New(),
		AWS:        srv.Config(region),
		NewNonCompliant: func(t *testing.T, cfg aws.Config) *remediate.Finding {
			return finding(newKey(t, cfg))
		},
		Compliant: func(t *testing.T, cfg aws.Config, f *remediate.Finding) bool {
			return status(t, cfg, f.Resource.ARN[len(userARN("")):], f.Resource.ID) == types.StatusTypeInactive
		},
		NewMissing: func(t *testing.T, cfg aws.Config) *remediate.Finding {
			return finding("nobody", "AKIAAAAAAAAAAAAAAAAA")
		},
	})
}

// TestRefusesAnotherUsersKey checks that a finding pairing a key with a
// user who does not own it is refused, and neither key is touched.
func TestRefusesAnotherUsersKey(t *testing.T) {
	srv := mototest.Require(t, moto)
	cfg := srv.Config(region)
	alice, _ := newKey(t, cfg)
	bob, bobKey := newKey(t, cfg)
	cfgRec, rec := remediatetest.Record(cfg)
	r := iamaccesskey.New()
	target := remediate.Target{Finding: finding(alice, bobKey), AWS: cfgRec}
	_, err := r.Plan(t.Context(), target)
	if !errors.Is(err, iamaccesskey.ErrNotUsersKey) || !remediate.IsPermanent(err) {
		t.Errorf("Plan = %v, want a permanent error wrapping ErrNotUsersKey", err)
	}
	if _, err := r.Apply(t.Context(), target, remediate.Plan{}); !errors.Is(err, iamaccesskey.ErrNotUsersKey) {
		t.Errorf("Apply = %v, want an error wrapping ErrNotUsersKey", err)
	}
	for _, op := range rec.Operations() {
		if !op.ReadOnly() {
			t.Errorf("called %s", op)
		}
	}
	if got := status(t, cfg, bob, bobKey); got != types.StatusTypeActive {
		t.Errorf("bob's key is %s, want Active", got)
	}
}

// TestRollback checks that rolling back a plan made on
// an already inactive key does not activate it, and that a rollback
// from an audit record (the key id alone, no ARN) reactivates the key
// Apply deactivated.
func TestRollback(t *testing.T) {
	srv := mototest.Require(t, moto)
	cfg := srv.Config(region)
	r := iamaccesskey.New()

	t.Run("inactive before", func(t *testing.T) {
		user, keyID := newKey(t, cfg)
		setStatus(t, cfg, user, keyID, types.StatusTypeInactive)
		target := remediate.Target{Finding: finding(user, keyID), AWS: cfg}
		p, err := r.Plan(t.Context(), target)
		if err != nil || !p.Compliant {
			t.Fatalf("Plan = %+v, %v; want compliant", p, err)
		}
		if err := r.Rollback(t.Context(), target, p.Rollback); err != nil {
			t.Fatalf("Rollback: %v", err)
		}
		if got := status(t, cfg, user, keyID); got != types.StatusTypeInactive {
			t.Errorf("after Rollback key is %s, want Inactive", got)
		}
	})
	t.Run("from audit record", func(t *testing.T) {
		user, keyID := newKey(t, cfg)
		target := remediate.Target{Finding: finding(user, keyID), AWS: cfg}
		p, err := r.Plan(t.Context(), target)
		if err != nil {
			t.Fatalf("Plan: %v", err)
		}
		res, err := r.Apply(t.Context(), target, p)
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		bare := *target.Finding
		bare.Resource.ARN = ""
		if err := r.Rollback(t.Context(), remediate.Target{Finding: &bare, AWS: cfg}, res.Rollback); err != nil {
			t.Fatalf("Rollback: %v", err)
		}
		if got := status(t, cfg, user, keyID); got != types.StatusTypeActive {
			t.Errorf("after Rollback key is %s, want Active", got)
		}
	})
	t.Run("rollback data of another key", func(t *testing.T) {
		user, keyID := newKey(t, cfg)
		_, otherKey := newKey(t, cfg)
		setStatus(t, cfg, user, keyID, types.StatusTypeInactive)
		data, _ := json.Marshal(iamaccesskey.State{UserARN: userARN(user), UserName: user, AccessKeyID: keyID, Status: "Active"})
		err := r.Rollback(t.Context(), remediate.Target{Finding: finding(user, otherKey), AWS: cfg}, data)
		if !remediate.IsPermanent(err) {
			t.Errorf("Rollback = %v, want a permanent error", err)
		}
		if got := status(t, cfg, user, keyID); got != types.StatusTypeInactive {
			t.Errorf("key is %s, want Inactive", got)
		}
	})
}
