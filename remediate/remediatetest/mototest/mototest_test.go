package mototest

import (
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sts"
)

var moto *Server

func TestMain(m *testing.M) { os.Exit(Main(m, &moto)) }

func TestServerAnswersSTS(t *testing.T) {
	srv := Require(t, moto)
	out, err := sts.NewFromConfig(srv.Config("us-east-1")).GetCallerIdentity(Context(t), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	if got := *out.Account; got != DefaultAccount {
		t.Errorf("account = %q, want %q", got, DefaultAccount)
	}
}

func TestAccountConfigActsInAccount(t *testing.T) {
	srv := Require(t, moto)
	ctx := Context(t)
	cfg, err := srv.AccountConfig(ctx, "111111111111", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got := *out.Account; got != "111111111111" {
		t.Errorf("account = %q, want 111111111111", got)
	}
	arn, err := srv.CreateRole(ctx, "111111111111", "RemedyRemediation", "ext-1")
	if err != nil {
		t.Fatal(err)
	}
	if arn != "arn:aws:iam::111111111111:role/RemedyRemediation" {
		t.Errorf("role ARN = %s", arn)
	}
	if _, err := srv.CreateRole(ctx, "111111111111", "RemedyRemediation", "ext-1"); err != nil {
		t.Errorf("second CreateRole: %v", err)
	}
}
