package rdspublic_test

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
	"github.com/remedy-sec/remedy/remediators/rdspublic"
)

var moto *mototest.Server

func TestMain(m *testing.M) { os.Exit(mototest.Main(m, &moto)) }

const region = "us-east-1"

var dbN atomic.Int64

func dbARN(id string) string {
	return "arn:aws:rds:" + region + ":" + mototest.DefaultAccount + ":db:" + id
}

func finding(id string) *remediate.Finding {
	return &remediate.Finding{
		ID: "finding-" + id, Source: "test",
		Resource: remediate.Resource{ID: dbARN(id), ARN: dbARN(id), Name: id, Type: rdspublic.ResourceType, Cloud: "AWS", Account: mototest.DefaultAccount, Region: region},
	}
}

// newDB creates a DB instance with the given public accessibility.
func newDB(t *testing.T, cfg aws.Config, public bool) string {
	t.Helper()
	id := fmt.Sprintf("remedy-test-%d", dbN.Add(1))
	_, err := rds.NewFromConfig(cfg).CreateDBInstance(t.Context(), &rds.CreateDBInstanceInput{
		DBInstanceIdentifier: aws.String(id), DBInstanceClass: aws.String("db.t3.micro"), Engine: aws.String("postgres"),
		AllocatedStorage: aws.Int32(20), MasterUsername: aws.String("remedy"), MasterUserPassword: aws.String("not-a-secret-1"),
		PubliclyAccessible: aws.Bool(public),
	})
	if err != nil {
		t.Fatalf("CreateDBInstance: %v", err)
	}
	return id
}

// public reads the instance's public accessibility directly.
func public(t *testing.T, cfg aws.Config, id string) bool {
	t.Helper()
	out, err := rds.NewFromConfig(cfg).DescribeDBInstances(t.Context(), &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(id)})
	if err != nil || len(out.DBInstances) != 1 {
		t.Fatalf("DescribeDBInstances %s: %v", id, err)
	}
	return aws.ToBool(out.DBInstances[0].PubliclyAccessible)
}

func TestConformance(t *testing.T) {
	srv := mototest.Require(t, moto)
	remediatetest.Run(t, remediatetest.Harness{
		Remediator: rdspublic.New(),
		AWS:        srv.Config(region),
		NewNonCompliant: func(t *testing.T, cfg aws.Config) *remediate.Finding {
			return finding(newDB(t, cfg, true))
		},
		Compliant: func(t *testing.T, cfg aws.Config, f *remediate.Finding) bool {
			return !public(t, cfg, f.Resource.Name)
		},
		NewMissing: func(t *testing.T, cfg aws.Config) *remediate.Finding {
			return finding("nobody-created-this")
		},
	})
}

// TestPrivateInstance checks that a private instance is compliant, that
// Apply writes nothing to it, and that rolling back its plan leaves it
// private.
func TestPrivateInstance(t *testing.T) {
	srv := mototest.Require(t, moto)
	cfg := srv.Config(region)
	id := newDB(t, cfg, false)
	cfgRec, rec := remediatetest.Record(cfg)
	r := rdspublic.New()
	target := remediate.Target{Finding: finding(id), AWS: cfgRec}
	p, err := r.Plan(t.Context(), target)
	if err != nil || !p.Compliant {
		t.Fatalf("Plan = %+v, %v; want compliant", p, err)
	}
	if _, err := r.Apply(t.Context(), target, p); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if err := r.Rollback(t.Context(), target, p.Rollback); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	for _, op := range rec.Operations() {
		if !op.ReadOnly() {
			t.Errorf("called %s", op)
		}
	}
	if public(t, cfg, id) {
		t.Errorf("instance %s is public, want private", id)
	}
}

// TestStoppedInstance checks that a public instance that is stopped is
// refused with a permanent error and left public.
func TestStoppedInstance(t *testing.T) {
	srv := mototest.Require(t, moto)
	cfg := srv.Config(region)
	id := newDB(t, cfg, true)
	if _, err := rds.NewFromConfig(cfg).StopDBInstance(t.Context(), &rds.StopDBInstanceInput{DBInstanceIdentifier: aws.String(id)}); err != nil {
		t.Fatalf("StopDBInstance: %v", err)
	}
	r := rdspublic.New()
	target := remediate.Target{Finding: finding(id), AWS: cfg}
	_, err := r.Plan(t.Context(), target)
	if !errors.Is(err, rdspublic.ErrUnsupportedState) || !remediate.IsPermanent(err) {
		t.Errorf("Plan = %v, want a permanent error wrapping ErrUnsupportedState", err)
	}
	if _, err := r.Apply(t.Context(), target, remediate.Plan{}); !errors.Is(err, rdspublic.ErrUnsupportedState) {
		t.Errorf("Apply = %v, want an error wrapping ErrUnsupportedState", err)
	}
	if !public(t, cfg, id) {
		t.Errorf("instance %s is private, want it left public", id)
	}
}

// TestRefusesOtherAccount checks that an instance RDS reports in another
// account than the finding's is refused before any change.
func TestRefusesOtherAccount(t *testing.T) {
	srv := mototest.Require(t, moto)
	cfg := srv.Config(region)
	id := newDB(t, cfg, true)
	f := finding(id)
	f.Resource.ID, f.Resource.ARN, f.Resource.Account = id, "", "210987654321"
	_, err := rdspublic.New().Plan(t.Context(), remediate.Target{Finding: f, AWS: cfg})
	if !remediate.IsPermanent(err) {
		t.Errorf("Plan = %v, want a permanent error", err)
	}
}
