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
