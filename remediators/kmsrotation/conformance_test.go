package kmsrotation_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
	"github.com/remedy-sec/remedy/remediators/kmsrotation"
)

var moto *mototest.Server

func TestMain(m *testing.M) { os.Exit(mototest.Main(m, &moto)) }

const region = "us-east-1"

func finding(keyARN string) *remediate.Finding {
	return &remediate.Finding{
		ID: "finding-" + keyARN, Source: "test",
		Resource: remediate.Resource{ID: keyARN, ARN: keyARN, Type: kmsrotation.ResourceType, Cloud: "AWS", Account: mototest.DefaultAccount, Region: region},
	}
}

func createKey(t *testing.T, cfg aws.Config, in *kms.CreateKeyInput) string {
	t.Helper()
	out, err := kms.NewFromConfig(cfg).CreateKey(t.Context(), in)
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

func TestConformance(t *testing.T) {
	srv := mototest.Require(t, moto)
	remediatetest.Run(t, remediatetest.Harness{
		Remediator: kmsrotation.New(),
		AWS:        srv.Config(region),
		NewNonCompliant: func(t *testing.T, cfg aws.Config) *remediate.Finding {
			return finding(createKey(t, cfg, &kms.CreateKeyInput{Description: aws.String("remedy test")}))
		},
		Compliant: func(t *testing.T, cfg aws.Config, f *remediate.Finding) bool {
			out, err := kms.NewFromConfig(cfg).GetKeyRotationStatus(t.Context(), &kms.GetKeyRotationStatusInput{KeyId: aws.String(f.Resource.ARN)})
			if err != nil {
				t.Fatalf("GetKeyRotationStatus: %v", err)
			}
			return out.KeyRotationEnabled
		},
		NewMissing: func(t *testing.T, cfg aws.Config) *remediate.Finding {
			return finding("arn:aws:kms:" + region + ":" + mototest.DefaultAccount + ":key/00000000-0000-4000-8000-000000000000")
		},
	})
}

// TestUnsupportedKeysAgainstMoto checks keys moto can make that the
// remediator must refuse without changing them.
func TestUnsupportedKeysAgainstMoto(t *testing.T) {
	srv := mototest.Require(t, moto)
	cfg := srv.Config(region)
	tests := []struct {
		name  string
		in    *kms.CreateKeyInput
		after func(t *testing.T, c *kms.Client, key string)
	}{
		{"asymmetric", &kms.CreateKeyInput{KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeSignVerify}, nil},
		{"hmac", &kms.CreateKeyInput{KeySpec: types.KeySpecHmac256, KeyUsage: types.KeyUsageTypeGenerateVerifyMac}, nil},
		{"disabled", &kms.CreateKeyInput{}, func(t *testing.T, c *kms.Client, key string) {
			// moto 5.2.1 answers DisableKey by ARN with HTTP 500: pass the id.
			id := key[strings.LastIndex(key, "/")+1:]
			if _, err := c.DisableKey(t.Context(), &kms.DisableKeyInput{KeyId: aws.String(id)}); err != nil {
				t.Fatalf("DisableKey: %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := createKey(t, cfg, tt.in)
			c := kms.NewFromConfig(cfg)
			if tt.after != nil {
				tt.after(t, c, key)
			}
			cfgRec, rec := remediatetest.Record(cfg)
			_, err := kmsrotation.New().Plan(t.Context(), remediate.Target{Finding: finding(key), AWS: cfgRec})
			if !errors.Is(err, kmsrotation.ErrUnsupportedKey) || !remediate.IsPermanent(err) {
				t.Errorf("Plan = %v, want a permanent error wrapping ErrUnsupportedKey", err)
			}
			for _, op := range rec.Operations() {
				if !op.ReadOnly() {
					t.Errorf("Plan called %s", op)
				}
			}
		})
	}
}

func TestRejectsAlias(t *testing.T) {
	f := finding("arn:aws:kms:" + region + ":" + mototest.DefaultAccount + ":alias/my-key")
	_, err := kmsrotation.New().Plan(t.Context(), remediate.Target{Finding: f, AWS: aws.Config{Region: region}})
	if !remediate.IsPermanent(err) {
		t.Errorf("Plan for an alias = %v, want a permanent error", err)
	}
}
