package kmsrotation

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

func TestRotatable(t *testing.T) {
	ok := func() *types.KeyMetadata {
		return &types.KeyMetadata{
			KeyManager: types.KeyManagerTypeCustomer, KeySpec: types.KeySpecSymmetricDefault,
			Origin: types.OriginTypeAwsKms, KeyState: types.KeyStateEnabled,
		}
	}
	with := func(f func(m *types.KeyMetadata)) *types.KeyMetadata { m := ok(); f(m); return m }
	tests := []struct {
		name string
		in   *types.KeyMetadata
		want bool
	}{
		{"customer symmetric", ok(), true},
		{"no key spec", with(func(m *types.KeyMetadata) { m.KeySpec = "" }), false},
		{"multi-Region primary", with(func(m *types.KeyMetadata) {
			m.MultiRegionConfiguration = &types.MultiRegionConfiguration{MultiRegionKeyType: types.MultiRegionKeyTypePrimary}
		}), true},
		{"no metadata", nil, false},
		{"aws managed", with(func(m *types.KeyMetadata) { m.KeyManager = types.KeyManagerTypeAws }), false},
		{"asymmetric", with(func(m *types.KeyMetadata) { m.KeySpec = types.KeySpecRsa2048 }), false},
		{"hmac", with(func(m *types.KeyMetadata) { m.KeySpec = types.KeySpecHmac256 }), false},
		{"imported material", with(func(m *types.KeyMetadata) { m.Origin = types.OriginTypeExternal }), false},
		{"cloudhsm key store", with(func(m *types.KeyMetadata) { m.Origin = types.OriginTypeAwsCloudhsm }), false},
		{"multi-Region replica", with(func(m *types.KeyMetadata) {
			m.MultiRegionConfiguration = &types.MultiRegionConfiguration{MultiRegionKeyType: types.MultiRegionKeyTypeReplica}
		}), false},
		{"disabled", with(func(m *types.KeyMetadata) { m.KeyState = types.KeyStateDisabled }), false},
		{"pending deletion", with(func(m *types.KeyMetadata) { m.KeyState = types.KeyStatePendingDeletion }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := rotatable(tt.in)
			if got := err == nil; got != tt.want {
				t.Fatalf("rotatable() = %v, want ok = %v", err, tt.want)
			}
			if err != nil && !errors.Is(err, ErrUnsupportedKey) {
				t.Errorf("rotatable() = %v, want it to wrap ErrUnsupportedKey", err)
			}
		})
	}
}
