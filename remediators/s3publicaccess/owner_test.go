package s3publicaccess_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-cmp/cmp"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediators/s3publicaccess"
)

// fakeS3 answers Block Public Access calls with every flag off and
// records each request as "METHOD expected-bucket-owner".
func fakeS3(t testing.TB) (aws.Config, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var calls []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls = append(calls, r.Method+" "+r.Header.Get("X-Amz-Expected-Bucket-Owner"))
		mu.Unlock()
		switch r.Method {
		case http.MethodGet:
			w.Write([]byte(`<PublicAccessBlockConfiguration><BlockPublicAcls>false</BlockPublicAcls><IgnorePublicAcls>false</IgnorePublicAcls><BlockPublicPolicy>false</BlockPublicPolicy><RestrictPublicBuckets>false</RestrictPublicBuckets></PublicAccessBlockConfiguration>`))
		case http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	t.Cleanup(srv.Close)
	cfg := aws.Config{
		Region:       region,
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AK", "SK", ""),
	}
	return cfg, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return calls
	}
}

// TestExpectedBucketOwner checks that every S3 call names the finding's
// account as the bucket's expected owner, so S3 refuses a bucket of that
// name in any other account, and that a finding without a 12-digit
// account makes no call at all.
func TestExpectedBucketOwner(t *testing.T) {
	const owner = "111111111111"
	configured, _ := json.Marshal(s3publicaccess.State{Bucket: "victim", Configured: true})
	none, _ := json.Marshal(s3publicaccess.State{Bucket: "victim"})
	type call func(context.Context, *s3publicaccess.Remediator, remediate.Target) error
	plan := func(ctx context.Context, r *s3publicaccess.Remediator, tg remediate.Target) error {
		_, err := r.Plan(ctx, tg)
		return err
	}
	apply := func(ctx context.Context, r *s3publicaccess.Remediator, tg remediate.Target) error {
		_, err := r.Apply(ctx, tg, remediate.Plan{}) // no plan data: Apply reads first
		return err
	}
	verify := func(ctx context.Context, r *s3publicaccess.Remediator, tg remediate.Target) error {
		if err := r.Verify(ctx, tg, remediate.Plan{}); !errors.Is(err, s3publicaccess.ErrNotCompliant) {
			return err
		}
		return nil
	}
	rollback := func(data []byte) call {
		return func(ctx context.Context, r *s3publicaccess.Remediator, tg remediate.Target) error {
			return r.Rollback(ctx, tg, data)
		}
	}
	tests := []struct {
		name          string
		account       string
		call          call
		want          []string
		wantPermanent bool
	}{
		{"Plan", owner, plan, []string{"GET " + owner}, false},
		{"Apply", owner, apply, []string{"GET " + owner, "PUT " + owner}, false},
		{"Verify", owner, verify, []string{"GET " + owner}, false},
		{"Rollback to a configuration", owner, rollback(configured), []string{"PUT " + owner}, false},
		{"Rollback to none", owner, rollback(none), []string{"DELETE " + owner}, false},
		{"Plan without account", "", plan, nil, true},
		{"Apply without account", "", apply, nil, true},
		{"Verify without account", "", verify, nil, true},
		{"Rollback without account", "", rollback(none), nil, true},
		{"Plan with a malformed account", "11111111111x", plan, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, calls := fakeS3(t)
			f := finding("victim")
			f.Resource.Account = tt.account
			r := s3publicaccess.New(func(o *s3publicaccess.Options) { o.UsePathStyle = true })
			err := tt.call(t.Context(), r, remediate.Target{Finding: f, AWS: cfg})
			switch {
			case tt.wantPermanent && !remediate.IsPermanent(err):
				t.Errorf("error = %v, want a permanent error", err)
			case !tt.wantPermanent && err != nil:
				t.Errorf("error = %v, want none", err)
			}
			if diff := cmp.Diff(tt.want, calls()); diff != "" {
				t.Errorf("S3 calls (-want +got):\n%s", diff)
			}
		})
	}
}
