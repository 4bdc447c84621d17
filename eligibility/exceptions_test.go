package eligibility_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/remedy-sec/remedy/eligibility"
	"github.com/remedy-sec/remedy/remediate"
)

// fixedSource serves fixed exceptions, or an error.
type fixedSource struct {
	list []eligibility.Exception
	err  error
}

func (s fixedSource) Exceptions(context.Context, *remediate.Finding) ([]eligibility.Exception, error) {
	return s.list, s.err
}

// TestStoreExceptionEnrich covers what the moto tests of adapters/dynamo
// do not: the store's error reaches the engine as it is (transient or
// permanent), a malformed exception is permanent, an expired one only
// records the fact, and a finding with no id or ARN goes to review when
// the store excepts a resource.
func TestStoreExceptionEnrich(t *testing.T) {
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	exp := now.Add(24 * time.Hour)
	finding := func() *remediate.Finding {
		return &remediate.Finding{Resource: remediate.Resource{ARN: "arn:aws:s3:::b1", Account: "111111111111"}, Control: remediate.Control{ID: "wc-1"}}
	}
	for _, tc := range []struct {
		name          string
		src           fixedSource
		f             *remediate.Finding
		wantErr       string
		wantPermanent bool
		wantStatus    remediate.ExceptionStatus
		wantConcern   bool
	}{
		{name: "store error is transient", src: fixedSource{err: errors.New("connection refused")}, f: finding(), wantErr: "exception store: connection refused"},
		{name: "permanent store error stays permanent", src: fixedSource{err: remediate.Permanentf("bad item")}, f: finding(), wantErr: "bad item", wantPermanent: true},
		{name: "malformed exception", src: fixedSource{list: []eligibility.Exception{{ID: "E", Owner: "o", Reason: "r", Expires: exp}}}, f: finding(), wantErr: "no scope", wantPermanent: true},
		{name: "expired", src: fixedSource{list: []eligibility.Exception{{ID: "E", Owner: "o", Reason: "r", Resource: "arn:aws:s3:::b1", Expires: now}}}, f: finding(), wantStatus: remediate.ExceptionExpired},
		{name: "control and account", src: fixedSource{list: []eligibility.Exception{{ID: "E", Owner: "o", Reason: "r", Control: "wc-1", Account: "111111111111", Expires: exp}}}, f: finding(), wantStatus: remediate.ExceptionApproved},
		{name: "control matches, account not", src: fixedSource{list: []eligibility.Exception{{ID: "E", Owner: "o", Reason: "r", Control: "wc-1", Account: "222222222222", Expires: exp}}}, f: finding()},
		{name: "no id or ARN", src: fixedSource{list: []eligibility.Exception{{ID: "E", Owner: "o", Reason: "r", Resource: "arn:aws:s3:::b1", Expires: exp}}},
			f: &remediate.Finding{Resource: remediate.Resource{Name: "b1", Account: "111111111111"}}, wantConcern: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := eligibility.Parse([]byte("name: t\n"), "t.yaml", func(o *eligibility.Options) {
				o.Exceptions = tc.src
				o.Now = func() time.Time { return now }
			})
			if err != nil {
				t.Fatal(err)
			}
			err = p.Enrich(context.Background(), tc.f)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || remediate.IsPermanent(err) != tc.wantPermanent {
					t.Fatalf("Enrich = %v, want an error containing %q, permanent %v", err, tc.wantErr, tc.wantPermanent)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.f.Exception != tc.wantStatus {
				t.Errorf("Exception = %q, want %q", tc.f.Exception, tc.wantStatus)
			}
			if got := len(tc.f.Concerns) > 0; got != tc.wantConcern {
				t.Errorf("concerns %+v, want some: %v", tc.f.Concerns, tc.wantConcern)
			}
			d, err := p.Decide(context.Background(), tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantStatus == remediate.ExceptionApproved && d.Verdict != remediate.VerdictSkip {
				t.Errorf("verdict %s, want skip", d.Verdict)
			}
			if tc.wantConcern && d.Verdict == remediate.VerdictRemediate {
				t.Errorf("verdict remediate for a finding the store may except")
			}
		})
	}
}
