package s3versioning_test

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"

	"example.com/remedy-custom/s3versioning"
)

// moto is started once for the package's tests; without moto_server they
// skip (or fail under REMEDY_REQUIRE_MOTO=1, as make check sets).
var moto *mototest.Server

func TestMain(m *testing.M) { os.Exit(mototest.Main(m, &moto)) }

const region = "us-east-1"

var seq atomic.Int64

// newName returns a bucket name not used before by this test binary.
func newName(prefix string) string { return fmt.Sprintf("%s-%d", prefix, seq.Add(1)) }

func client(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
}

// finding is what wizpayload makes of a Wiz finding about bucket.
func finding(bucket string) *remediate.Finding {
	return &remediate.Finding{
		ID: "finding-" + bucket, Source: "test",
		Resource: remediate.Resource{
			ID: "arn:aws:s3:::" + bucket, ARN: "arn:aws:s3:::" + bucket, Name: bucket,
			Type: s3versioning.ResourceType, Cloud: "AWS", Account: mototest.DefaultAccount, Region: region,
		},
	}
}

// status reads the bucket's versioning status without the remediator.
func status(t *testing.T, cfg aws.Config, bucket string) string {
	t.Helper()
	out, err := client(cfg).GetBucketVersioning(t.Context(), &s3.GetBucketVersioningInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("GetBucketVersioning %s: %v", bucket, err)
	}
	return string(out.Status)
}

func createBucket(t *testing.T, cfg aws.Config, bucket string) {
	t.Helper()
	if _, err := client(cfg).CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("CreateBucket %s: %v", bucket, err)
	}
}

// TestConformance runs Remedy's conformance suite against moto: the Spec
// registers and yields a session policy, Plan makes no write, Apply
// fixes and is idempotent, Verify detects drift, Rollback restores, the
// declared IAM actions cover every call, and errors are classified.
func TestConformance(t *testing.T) {
	srv := mototest.Require(t, moto)
	remediatetest.Run(t, remediatetest.Harness{
		Remediator: s3versioning.New(func(o *s3versioning.Options) { o.UsePathStyle = true }),
		AWS:        srv.Config(region),
		NewNonCompliant: func(t *testing.T, cfg aws.Config) *remediate.Finding {
			b := newName("conformance")
			createBucket(t, cfg, b)
			return finding(b)
		},
		Compliant: func(t *testing.T, cfg aws.Config, f *remediate.Finding) bool {
			return status(t, cfg, f.Resource.Name) == s3versioning.StatusEnabled
		},
		NewMissing: func(t *testing.T, cfg aws.Config) *remediate.Finding { return finding(newName("missing")) },
	})
}

// TestSuspendedBucket checks the path the conformance suite does not
// take: a bucket whose versioning was suspended is enabled again, and
// rolled back to suspended.
func TestSuspendedBucket(t *testing.T) {
	srv := mototest.Require(t, moto)
	cfg := srv.Config(region)
	b := newName("suspended")
	createBucket(t, cfg, b)
	for _, s := range []types.BucketVersioningStatus{types.BucketVersioningStatusEnabled, types.BucketVersioningStatusSuspended} {
		if _, err := client(cfg).PutBucketVersioning(t.Context(), &s3.PutBucketVersioningInput{
			Bucket: aws.String(b), VersioningConfiguration: &types.VersioningConfiguration{Status: s},
		}); err != nil {
			t.Fatalf("PutBucketVersioning %s: %v", s, err)
		}
	}
	r := s3versioning.New(func(o *s3versioning.Options) { o.UsePathStyle = true })
	tg := remediate.Target{Finding: finding(b), AWS: cfg}
	p, err := r.Plan(t.Context(), tg)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	want := []string{"set versioning of bucket " + b + " from Suspended to Enabled"}
	if d := cmp.Diff(want, p.Changes); d != "" {
		t.Errorf("Plan.Changes (-want +got):\n%s", d)
	}
	res, err := r.Apply(t.Context(), tg, p)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if got := status(t, cfg, b); got != s3versioning.StatusEnabled {
		t.Fatalf("after Apply: status %q, want Enabled", got)
	}
	if err := r.Rollback(t.Context(), tg, res.Rollback); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if got := status(t, cfg, b); got != s3versioning.StatusSuspended {
		t.Errorf("after Rollback: status %q, want Suspended", got)
	}
}

// TestBucket checks how a finding names its bucket: every name it gives
// must be a bucket and all must agree, and the account must be 12
// digits; anything else is a permanent error, before any AWS call.
func TestBucket(t *testing.T) {
	const acct = "111111111111"
	res := func(id, arn, name, account string) *remediate.Finding {
		return &remediate.Finding{ID: "f", Resource: remediate.Resource{ID: id, ARN: arn, Name: name, Account: account, Cloud: "AWS"}}
	}
	tests := []struct {
		name    string
		f       *remediate.Finding
		want    string // the bucket, or "" for an error
		wantErr string
	}{
		{"ARN and name", res("arn:aws:s3:::logs-1", "arn:aws:s3:::logs-1", "logs-1", acct), "logs-1", ""},
		{"bare name as id", res("logs-1", "", "logs-1", acct), "logs-1", ""},
		{"name only", res("", "", "logs-1", acct), "logs-1", ""},
		{"ARN of another partition reads", res("arn:aws-cn:s3:::logs-1", "", "", acct), "logs-1", ""},
		{"names disagree", res("arn:aws:s3:::logs-1", "arn:aws:s3:::logs-1", "logs-2", acct), "", `finding names two buckets: id "logs-1" and name "logs-2"`},
		{"object ARN", res("arn:aws:s3:::logs-1/key", "arn:aws:s3:::logs-1/key", "", acct), "", "does not name one bucket"},
		{"composite Wiz id", res("logs-1##md5##key", "", "logs-1", acct), "", "does not name one bucket"},
		{"ARN of another service", res("arn:aws:ec2:us-east-1:111111111111:volume/vol-1", "", "", acct), "", "is not an S3 bucket ARN"},
		{"upper-case name", res("", "", "Logs", acct), "", "does not name one bucket"},
		{"no name", res("", "", "", acct), "", "finding names no resource"},
		{"no account", res("", "", "logs-1", ""), "", "is not a 12-digit id"},
		{"short account", res("", "", "logs-1", "1111"), "", "is not a 12-digit id"},
		{"other cloud", &remediate.Finding{Resource: remediate.Resource{Name: "logs-1", Account: acct, Cloud: "GCP"}}, "", `cloud "GCP"`},
		{"no finding", nil, "", "no finding"},
	}
	type result struct {
		Bucket    string
		Permanent bool
		Contains  bool
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _, err := s3versioning.Bucket(tt.f)
			got := result{Bucket: b, Permanent: remediate.IsPermanent(err), Contains: err != nil && strings.Contains(err.Error(), tt.wantErr)}
			want := result{Bucket: tt.want, Permanent: tt.wantErr != "", Contains: tt.wantErr != ""}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("Bucket() = %q, %v; mismatch (-want +got):\n%s", b, err, d)
			}
		})
	}
}

// TestRollbackRefusesOtherBucket checks that rollback data of one bucket
// never changes another.
func TestRollbackRefusesOtherBucket(t *testing.T) {
	r := s3versioning.New()
	err := r.Rollback(t.Context(), remediate.Target{Finding: finding("bucket-a")}, []byte(`{"bucket":"bucket-b","status":""}`))
	if !remediate.IsPermanent(err) {
		t.Errorf("Rollback with another bucket's data = %v, want a permanent error", err)
	}
}

// TestObjectLockIsPermanent checks that S3's answer to suspending
// versioning under Object Lock, InvalidBucketState, is permanent for this
// remediator (Spec.PermanentErrorCodes) though not by default. (moto
// 5.2.1 suspends such a bucket, so S3's error is made here.)
func TestObjectLockIsPermanent(t *testing.T) {
	err := fmt.Errorf("s3versioning: set versioning of bucket b to Suspended: %w", &smithy.GenericAPIError{
		Code: "InvalidBucketState", Message: "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.",
	})
	if remediate.IsPermanent(remediate.ClassifyAWS(err)) {
		t.Errorf("ClassifyAWS alone marks %v permanent; the test no longer shows what Spec.PermanentErrorCodes adds", err)
	}
	if !remediate.IsPermanent(s3versioning.New().Spec().Classify(err)) {
		t.Errorf("Spec().Classify(%v) is transient, want permanent", err)
	}
}

// ownerHeaders is an aws.HTTPClient that passes requests on to moto and
// keeps the expected-bucket-owner header of each.
type ownerHeaders struct {
	next interface {
		Do(*http.Request) (*http.Response, error)
	}
	mu  sync.Mutex
	got []string
}

func (o *ownerHeaders) Do(req *http.Request) (*http.Response, error) {
	o.mu.Lock()
	o.got = append(o.got, req.Method+" "+req.Header.Get("X-Amz-Expected-Bucket-Owner"))
	o.mu.Unlock()
	return o.next.Do(req)
}

// TestExpectedBucketOwner checks that every S3 call names the finding's
// account as the bucket's expected owner, so that S3 refuses a bucket of
// that name in another account (one deleted and re-created by someone
// else). moto 5.2.1 does not enforce the header, so the test reads it on
// the wire.
func TestExpectedBucketOwner(t *testing.T) {
	srv := mototest.Require(t, moto)
	cfg := srv.Config(region)
	b := newName("owner")
	createBucket(t, cfg, b)
	rec := &ownerHeaders{next: cfg.HTTPClient}
	cfg.HTTPClient = rec
	r := s3versioning.New(func(o *s3versioning.Options) { o.UsePathStyle = true })
	tg := remediate.Target{Finding: finding(b), AWS: cfg}
	p, err := r.Plan(t.Context(), tg)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	res, err := r.Apply(t.Context(), tg, p)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if err := r.Verify(t.Context(), tg, p); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if err := r.Rollback(t.Context(), tg, res.Rollback); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	own := mototest.DefaultAccount
	want := []string{"GET " + own, "PUT " + own, "GET " + own, "PUT " + own} // plan, apply, verify, rollback
	if d := cmp.Diff(want, rec.got); d != "" {
		t.Errorf("S3 requests and their expected bucket owner (-want +got):\n%s", d)
	}
}
