// Package s3ownertest checks, for the S3 remediators' tests, that every S3
// call a remediator makes names the finding's account as the bucket's
// expected owner, and that a finding without a 12-digit account makes no
// call at all.
package s3ownertest

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
)

// Server starts a fake S3 on 127.0.0.1, stopped when the test ends. It
// answers GET with getStatus and getBody (the bucket's configuration, or
// the error saying it has none), PUT with 200 and DELETE with 204, and
// records each request as "METHOD expected-bucket-owner".
func Server(t testing.TB, getStatus int, getBody string) (aws.Config, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var calls []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls = append(calls, r.Method+" "+r.Header.Get("X-Amz-Expected-Bucket-Owner"))
		mu.Unlock()
		switch r.Method {
		case http.MethodGet:
			w.WriteHeader(getStatus)
			w.Write([]byte(getBody))
		case http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	t.Cleanup(srv.Close)
	cfg := aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AK", "SK", ""),
	}
	return cfg, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return calls
	}
}

// Remediator is what Check calls.
type Remediator interface {
	remediate.Remediator
	remediate.Verifier
	remediate.Rollbacker
}

// Case is one S3 remediator under Check.
type Case struct {
	// New returns the remediator, addressing buckets by path.
	New func() Remediator
	// Finding returns a finding about the bucket "victim".
	Finding func() *remediate.Finding
	// GetStatus and GetBody answer reads: a bucket that is not compliant.
	GetStatus int
	GetBody   string
	// NotCompliant is the error Verify returns for such a bucket.
	NotCompliant error
	// Configured and None are rollback data: to a configuration (one
	// PUT) and to none (one DELETE).
	Configured, None json.RawMessage
}

// Check runs Plan, Apply, Verify and Rollback of c against Server with
// the finding's account, without one and with a malformed one.
func Check(t *testing.T, c Case) {
	const owner = "111111111111"
	type call func(context.Context, Remediator, remediate.Target) error
	plan := func(ctx context.Context, r Remediator, tg remediate.Target) error {
		_, err := r.Plan(ctx, tg)
		return err
	}
	apply := func(ctx context.Context, r Remediator, tg remediate.Target) error {
		_, err := r.Apply(ctx, tg, remediate.Plan{}) // no plan data: Apply reads first
		return err
	}
	verify := func(ctx context.Context, r Remediator, tg remediate.Target) error {
		if err := r.Verify(ctx, tg, remediate.Plan{}); !errors.Is(err, c.NotCompliant) {
			return err
		}
		return nil
	}
	rollback := func(data []byte) call {
		return func(ctx context.Context, r Remediator, tg remediate.Target) error {
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
		{"Rollback to a configuration", owner, rollback(c.Configured), []string{"PUT " + owner}, false},
		{"Rollback to none", owner, rollback(c.None), []string{"DELETE " + owner}, false},
		{"Plan without account", "", plan, nil, true},
		{"Apply without account", "", apply, nil, true},
		{"Verify without account", "", verify, nil, true},
		{"Rollback without account", "", rollback(c.None), nil, true},
		{"Plan with a malformed account", "11111111111x", plan, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, calls := Server(t, c.GetStatus, c.GetBody)
			f := c.Finding()
			f.Resource.Account = tt.account
			err := tt.call(t.Context(), c.New(), remediate.Target{Finding: f, AWS: cfg})
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
