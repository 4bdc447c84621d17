package ebssnapshot_test

import (
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/google/go-cmp/cmp"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
	"github.com/remedy-sec/remedy/remediators/ebssnapshot"
)

var moto *mototest.Server

func TestMain(m *testing.M) { os.Exit(mototest.Main(m, &moto)) }

const region = "us-east-1"

func finding(snap string) *remediate.Finding {
	a := "arn:aws:ec2:" + region + "::snapshot/" + snap
	return &remediate.Finding{
		ID: "finding-" + snap, Source: "test",
		Resource: remediate.Resource{ID: a, ARN: a, Type: ebssnapshot.ResourceType, Cloud: "AWS", Account: mototest.DefaultAccount, Region: region},
	}
}

// createSnapshot creates a snapshot shared with account 111122223333 and,
// if public, with everyone.
func createSnapshot(t *testing.T, cfg aws.Config, public bool) string {
	t.Helper()
	c := ec2.NewFromConfig(cfg)
	vol, err := c.CreateVolume(t.Context(), &ec2.CreateVolumeInput{AvailabilityZone: aws.String(region + "a"), Size: aws.Int32(1)})
	if err != nil {
		t.Fatalf("CreateVolume: %v", err)
	}
	snap, err := c.CreateSnapshot(t.Context(), &ec2.CreateSnapshotInput{VolumeId: vol.VolumeId})
	if err != nil {
		t.Fatalf("CreateSnapshot: %v", err)
	}
	in := &ec2.ModifySnapshotAttributeInput{
		SnapshotId: snap.SnapshotId, Attribute: types.SnapshotAttributeNameCreateVolumePermission,
		OperationType: types.OperationTypeAdd, UserIds: []string{"111122223333"},
	}
	if public {
		in.GroupNames = []string{"all"}
	}
	if _, err := c.ModifySnapshotAttribute(t.Context(), in); err != nil {
		t.Fatalf("ModifySnapshotAttribute: %v", err)
	}
	return aws.ToString(snap.SnapshotId)
}

// permissions reads createVolumePermission without the remediator, as
// "group:…" and "user:…" strings.
func permissions(t *testing.T, cfg aws.Config, snap string) []string {
	t.Helper()
	out, err := ec2.NewFromConfig(cfg).DescribeSnapshotAttribute(t.Context(), &ec2.DescribeSnapshotAttributeInput{
		SnapshotId: aws.String(snap), Attribute: types.SnapshotAttributeNameCreateVolumePermission,
	})
	if err != nil {
		t.Fatalf("DescribeSnapshotAttribute: %v", err)
	}
	var got []string
	for _, p := range out.CreateVolumePermissions {
		if p.Group != "" {
			got = append(got, "group:"+string(p.Group))
		}
		if p.UserId != nil {
			got = append(got, "user:"+*p.UserId)
		}
	}
	return got
}

func snapOf(f *remediate.Finding) string {
	return f.Resource.ARN[strings.LastIndex(f.Resource.ARN, "/")+1:]
}

func TestConformance(t *testing.T) {
	srv := mototest.Require(t, moto)
	remediatetest.Run(t, remediatetest.Harness{
		Remediator: ebssnapshot.New(),
		AWS:        srv.Config(region),
		NewNonCompliant: func(t *testing.T, cfg aws.Config) *remediate.Finding {
			return finding(createSnapshot(t, cfg, true))
		},
		Compliant: func(t *testing.T, cfg aws.Config, f *remediate.Finding) bool {
			for _, p := range permissions(t, cfg, snapOf(f)) {
				if p == "group:all" {
					return false
				}
			}
			return true
		},
		NewMissing: func(t *testing.T, cfg aws.Config) *remediate.Finding {
			return finding("snap-0123456789abcdef0")
		},
	})
}

// TestKeepsAccountShares checks that sharing with named accounts survives
// Apply and Rollback.
func TestKeepsAccountShares(t *testing.T) {
	srv := mototest.Require(t, moto)
	cfg := srv.Config(region)
	tests := []struct {
		name        string
		public      bool
		wantChanges int
		wantAfter   []string
	}{
		{"public", true, 1, []string{"user:111122223333"}},
		{"shared only", false, 0, []string{"user:111122223333"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := createSnapshot(t, cfg, tt.public)
			before := permissions(t, cfg, snap)
			r := ebssnapshot.New()
			tg := remediate.Target{Finding: finding(snap), AWS: cfg}
			p, err := r.Plan(t.Context(), tg)
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			if len(p.Changes) != tt.wantChanges || p.Compliant != (tt.wantChanges == 0) {
				t.Errorf("Plan: Compliant %v, Changes %q; want %d changes", p.Compliant, p.Changes, tt.wantChanges)
			}
			res, err := r.Apply(t.Context(), tg, p)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if diff := cmp.Diff(tt.wantAfter, permissions(t, cfg, snap)); diff != "" {
				t.Errorf("permissions after Apply (-want +got):\n%s", diff)
			}
			if len(res.Rollback) == 0 {
				return
			}
			if err := r.Rollback(t.Context(), tg, res.Rollback); err != nil {
				t.Fatalf("Rollback: %v", err)
			}
			if diff := cmp.Diff(before, permissions(t, cfg, snap)); diff != "" {
				t.Errorf("permissions after Rollback (-want +got):\n%s", diff)
			}
		})
	}
}
