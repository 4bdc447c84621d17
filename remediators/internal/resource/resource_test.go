package resource

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/remedy-sec/remedy/remediate"
)

func TestID(t *testing.T) {
	const region = "us-east-1"
	sgARN := "arn:aws:ec2:us-east-1:123456789012:security-group/sg-0123456789abcdef0"
	keyARN := "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	tests := []struct {
		name    string
		kind    Kind
		res     remediate.Resource
		region  string
		want    string
		wantErr bool
	}{
		{"bucket ARN", Bucket(), remediate.Resource{ID: "arn:aws:s3:::my-bucket", ARN: "arn:aws:s3:::my-bucket", Name: "my-bucket"}, region, "my-bucket", false},
		{"bucket name only", Bucket(), remediate.Resource{ID: "my-bucket"}, region, "my-bucket", false},
		{"bucket Name field only", Bucket(), remediate.Resource{Name: "my-bucket"}, region, "my-bucket", false},
		{"bucket cloud lower case", Bucket(), remediate.Resource{ID: "my-bucket", Cloud: "aws"}, region, "my-bucket", false},
		{"bucket ARN and other name", Bucket(), remediate.Resource{ARN: "arn:aws:s3:::a-bucket", Name: "b-bucket"}, region, "", true},
		{"bucket object ARN", Bucket(), remediate.Resource{ID: "arn:aws:s3:::my-bucket/key"}, region, "", true},
		{"bucket invalid name", Bucket(), remediate.Resource{ID: "My_Bucket"}, region, "", true},
		{"bucket internal id and name disagree", Bucket(), remediate.Resource{ID: "4f1c6f2e-0000-5000-8000-000000000000", Name: "my-bucket"}, region, "", true},
		{"bucket other id and ARN disagree", Bucket(), remediate.Resource{ID: "other-bucket", ARN: "arn:aws:s3:::my-bucket"}, region, "", true},
		{"sg unknown id beside ARN", SecurityGroup(), remediate.Resource{ID: "wiz-internal-1", ARN: sgARN}, region, "", true},
		{"bucket ARN of another service", Bucket(), remediate.Resource{ID: sgARN}, region, "", true},
		{"nothing", Bucket(), remediate.Resource{}, region, "", true},
		{"other cloud", Bucket(), remediate.Resource{ID: "my-bucket", Cloud: "GCP"}, region, "", true},
		{"sg ARN", SecurityGroup(), remediate.Resource{ID: sgARN, ARN: sgARN, Account: "123456789012", Region: region}, region, "sg-0123456789abcdef0", false},
		{"sg short id", SecurityGroup(), remediate.Resource{ID: "sg-01234567"}, region, "sg-01234567", false},
		{"sg name is not an id", SecurityGroup(), remediate.Resource{ID: "launch-wizard-1", Name: "launch-wizard-1"}, region, "", true},
		{"sg name ignored", SecurityGroup(), remediate.Resource{ID: "sg-01234567", Name: "web"}, region, "sg-01234567", false},
		{"sg ARN other region", SecurityGroup(), remediate.Resource{ID: sgARN}, "eu-west-1", "", true},
		{"sg ARN no target region", SecurityGroup(), remediate.Resource{ID: sgARN}, "", "sg-0123456789abcdef0", false},
		{"sg ARN other account", SecurityGroup(), remediate.Resource{ID: sgARN, Account: "210987654321"}, region, "", true},
		{"sg ARN of a snapshot", SecurityGroup(), remediate.Resource{ID: "arn:aws:ec2:us-east-1::snapshot/snap-0123456789abcdef0"}, region, "", true},
		{"sg id and other ARN", SecurityGroup(), remediate.Resource{ID: "sg-01234567", ARN: sgARN}, region, "", true},
		{"sg bad id in ARN", SecurityGroup(), remediate.Resource{ID: "arn:aws:ec2:us-east-1:123456789012:security-group/sg-xyz"}, region, "", true},
		{"snapshot ARN", Snapshot(), remediate.Resource{ID: "arn:aws:ec2:us-east-1::snapshot/snap-0123456789abcdef0"}, region, "snap-0123456789abcdef0", false},
		{"snapshot id", Snapshot(), remediate.Resource{ID: "snap-0123456789abcdef0"}, region, "snap-0123456789abcdef0", false},
		{"key ARN", Key(), remediate.Resource{ID: keyARN}, region, "1234abcd-12ab-34cd-56ef-1234567890ab", false},
		{"key id", Key(), remediate.Resource{ID: "1234abcd-12ab-34cd-56ef-1234567890ab"}, region, "1234abcd-12ab-34cd-56ef-1234567890ab", false},
		{"multi-Region key id", Key(), remediate.Resource{ID: "mrk-1234abcd12ab34cd56ef1234567890ab"}, region, "mrk-1234abcd12ab34cd56ef1234567890ab", false},
		{"db ARN", DBInstance(), remediate.Resource{ID: "arn:aws:rds:us-east-1:123456789012:db:my-db", Account: "123456789012"}, region, "my-db", false},
		{"db id", DBInstance(), remediate.Resource{ID: "my-db"}, region, "my-db", false},
		{"db ARN and id agree", DBInstance(), remediate.Resource{ID: "arn:aws:rds:us-east-1:123456789012:db:my-db", ARN: "arn:aws:rds:us-east-1:123456789012:db:my-db"}, region, "my-db", false},
		{"db ARN with slash", DBInstance(), remediate.Resource{ID: "arn:aws:rds:us-east-1:123456789012:db/my-db"}, region, "", true},
		{"db cluster ARN", DBInstance(), remediate.Resource{ID: "arn:aws:rds:us-east-1:123456789012:cluster:my-db"}, region, "", true},
		{"db snapshot ARN", DBInstance(), remediate.Resource{ID: "arn:aws:rds:us-east-1:123456789012:snapshot:my-db"}, region, "", true},
		{"db upper case", DBInstance(), remediate.Resource{ID: "My-DB"}, region, "", true},
		{"db double hyphen", DBInstance(), remediate.Resource{ID: "my--db"}, region, "", true},
		{"db trailing hyphen", DBInstance(), remediate.Resource{ID: "my-db-"}, region, "", true},
		{"db leading digit", DBInstance(), remediate.Resource{ID: "1db"}, region, "", true},
		{"db resource id", DBInstance(), remediate.Resource{ID: "db-ABCDEFGHIJKLMNOPQRSTUVWXY2"}, region, "", true},
		{"db ARN other region", DBInstance(), remediate.Resource{ID: "arn:aws:rds:eu-west-1:123456789012:db:my-db"}, region, "", true},
		{"alias ARN", Key(), remediate.Resource{ID: "arn:aws:kms:us-east-1:123456789012:alias/my-key"}, region, "", true},
		{"alias name", Key(), remediate.Resource{ID: "alias/my-key"}, region, "", true},
		{"malformed ARN", Key(), remediate.Resource{ID: "arn:aws:kms"}, region, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.kind.ID(&remediate.Finding{Resource: tt.res}, tt.region)
			if tt.wantErr {
				if err == nil || !remediate.IsPermanent(err) {
					t.Fatalf("ID() = %q, %v; want a permanent error", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ID() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := Bucket().ID(nil, region); !remediate.IsPermanent(err) {
		t.Errorf("ID(nil) = %v, want a permanent error", err)
	}
}

// TestIDNeverFallsBack holds every kind to the identifiers the finding
// gives: one that is present but cannot be read, or is in another
// partition, is a permanent error even when another field would name a
// resource. Each of these once returned the other field's resource.
func TestIDNeverFallsBack(t *testing.T) {
	const (
		sgARN   = "arn:aws:ec2:us-east-1:111111111111:security-group/sg-0123456789abcdef0"
		snapARN = "arn:aws:ec2:us-east-1::snapshot/snap-0123456789abcdef0"
		keyARN  = "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	)
	tests := []struct {
		name string
		kind Kind
		res  remediate.Resource
	}{
		// The reviewer's inputs: resource.id beside a bucket name "victim".
		{"bucket object key", Bucket(), remediate.Resource{ID: "payments-exports/reports/q3.csv", Name: "victim"}},
		{"bucket upper-case ARN prefix", Bucket(), remediate.Resource{ID: "ARN:aws:s3:::other-bucket", Name: "victim"}},
		{"bucket s3 URL", Bucket(), remediate.Resource{ID: "s3://other-bucket", Name: "victim"}},
		{"bucket China ARN", Bucket(), remediate.Resource{ID: "arn:aws-cn:s3:::victim", ARN: "arn:aws-cn:s3:::victim", Name: "victim"}},
		{"bucket China ARN, id only", Bucket(), remediate.Resource{ID: "arn:aws-cn:s3:::victim"}},
		{"bucket partition case", Bucket(), remediate.Resource{ID: "arn:AWS:s3:::victim", Name: "victim"}},
		{"bucket partition prefix", Bucket(), remediate.Resource{ID: "arn:aws-x:s3:::victim", Name: "victim"}},
		{"bucket unreadable name beside ARN", Bucket(), remediate.Resource{ID: "arn:aws:s3:::victim", ARN: "arn:aws:s3:::victim", Name: "Victim Bucket"}},
		{"bucket unreadable ARN field beside id", Bucket(), remediate.Resource{ID: "victim", ARN: "victim/key"}},
		{"bucket id with spaces", Bucket(), remediate.Resource{ID: " other-bucket ", Name: "victim"}},
		{"bucket malformed ARN", Bucket(), remediate.Resource{ID: "arn:aws:s3", Name: "victim"}},
		{"sg unreadable id beside ARN", SecurityGroup(), remediate.Resource{ID: "sg-0123456789abcdef0/rule", ARN: sgARN}},
		{"sg upper-case ARN prefix", SecurityGroup(), remediate.Resource{ID: "ARN:aws:ec2:us-east-1:111111111111:security-group/sg-0123456789abcdef0", ARN: sgARN}},
		{"sg ARN in another partition", SecurityGroup(), remediate.Resource{ID: "arn:aws-us-gov:ec2:us-east-1:111111111111:security-group/sg-0123456789abcdef0"}},
		{"snapshot unreadable id beside ARN", Snapshot(), remediate.Resource{ID: "ebs://snap-0123456789abcdef0", ARN: snapARN}},
		{"snapshot ARN in another partition", Snapshot(), remediate.Resource{ID: "arn:aws-cn:ec2:us-east-1::snapshot/snap-0123456789abcdef0"}},
		{"key alias beside ARN", Key(), remediate.Resource{ID: "alias/my-key", ARN: keyARN}},
		{"key ARN in another partition", Key(), remediate.Resource{ID: "arn:aws-cn:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"}},
	}
	type result struct {
		ID        string
		Permanent bool
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.res.Cloud, tt.res.Account = "AWS", "111111111111"
			id, err := tt.kind.ID(&remediate.Finding{Resource: tt.res}, "us-east-1")
			if diff := cmp.Diff(result{Permanent: true}, result{id, remediate.IsPermanent(err)}); diff != "" {
				t.Errorf("ID() = %q, %v; mismatch (-want +got):\n%s", id, err, diff)
			}
		})
	}
}

// TestIDPartition accepts an ARN in exactly the partition of the region
// the target acts in.
func TestIDPartition(t *testing.T) {
	tests := []struct {
		region, arn, want string
	}{
		{"us-east-1", "arn:aws:s3:::victim", "victim"},
		{"", "arn:aws:s3:::victim", "victim"},
		{"cn-north-1", "arn:aws-cn:s3:::victim", "victim"},
		{"cn-north-1", "arn:aws:s3:::victim", ""},
		{"us-gov-west-1", "arn:aws-us-gov:s3:::victim", "victim"},
		{"us-gov-west-1", "arn:aws:s3:::victim", ""},
		{"us-isob-east-1", "arn:aws-iso-b:s3:::victim", "victim"},
		{"us-isob-east-1", "arn:aws-iso:s3:::victim", ""},
		{"eu-west-1", "arn:aws-cn:s3:::victim", ""},
	}
	for _, tt := range tests {
		t.Run(tt.region+" "+tt.arn, func(t *testing.T) {
			got, err := Bucket().ID(&remediate.Finding{Resource: remediate.Resource{ID: tt.arn, ARN: tt.arn, Name: "victim"}}, tt.region)
			if (tt.want == "") != remediate.IsPermanent(err) {
				t.Errorf("ID() error = %v, want permanent: %t", err, tt.want == "")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ID() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
