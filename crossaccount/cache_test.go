package crossaccount

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

func TestNewRejectsBadOptions(t *testing.T) {
	accs, err := LoadAccounts(context.Background(), AccountsConfig{Regions: []string{"*"}, Accounts: []Account{{ID: acct, ExternalID: "ab"}}})
	if err != nil {
		t.Fatal(err)
	}
	client := sts.New(sts.Options{Region: region})
	tests := []struct {
		name   string
		client AssumeRoleAPI
		accs   *Accounts
		opt    func(*Options)
		want   string
	}{
		{"nil client", nil, accs, func(*Options) {}, "nil AssumeRoleAPI"},
		{"nil accounts", client, nil, func(*Options) {}, "nil Accounts"},
		{"short duration", client, accs, func(o *Options) { o.Duration = 5 * time.Minute }, "outside STS's"},
		{"long duration", client, accs, func(o *Options) { o.Duration = 13 * time.Hour }, "outside STS's"},
		{"global endpoint", client, accs, func(o *Options) { o.Region = "aws-global" }, "global STS endpoint"},
		{"bad region", client, accs, func(o *Options) { o.Region = "Europe" }, "not a region"},
		{"unknown mode", client, accs, func(o *Options) { o.Mode = 7 }, "unknown Mode(7)"},
		{"negative size", client, accs, func(o *Options) { o.MaxEntries = -1 }, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.client, tt.accs, tt.opt); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestRegionalSTSEndpoint checks where AssumeRole goes when no endpoint
// is overridden. The response is injected, so nothing leaves the process.
func TestRegionalSTSEndpoint(t *testing.T) {
	accs, err := LoadAccounts(context.Background(), AccountsConfig{Regions: []string{"*"}, Accounts: []Account{{ID: acct, ExternalID: "ab"}}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ clientRegion, optRegion, wantHost string }{
		{"eu-west-1", "us-west-2", "sts.us-west-2.amazonaws.com"},
		{"eu-west-1", "", "sts.eu-west-1.amazonaws.com"},
		{"us-east-1", "", "sts.us-east-1.amazonaws.com"},
	}
	for _, tt := range tests {
		t.Run(tt.clientRegion+"/"+tt.optRegion, func(t *testing.T) {
			rec := newRecorder()
			rec.inject = func(recordedCall) (*http.Response, error) { return stsError(403, "AccessDenied"), nil }
			client := sts.NewFromConfig(aws.Config{
				Region: tt.clientRegion, HTTPClient: rec.client(), RetryMaxAttempts: 1,
				Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
			})
			cache, err := New(client, accs, func(o *Options) { o.Region = tt.optRegion })
			if err != nil {
				t.Fatal(err)
			}
			f := bucketFinding(1, acct)
			if _, err := cache.Config(context.Background(), f, s3Spec); !remediate.IsPermanent(err) {
				t.Fatalf("Config error = %v, want the injected permanent AccessDenied", err)
			}
			calls := rec.recorded("AssumeRole")
			if len(calls) != 1 || calls[0].Host != tt.wantHost {
				t.Fatalf("AssumeRole calls %+v, want one to %s", calls, tt.wantHost)
			}
		})
	}
}

// clock is a settable time source for Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestEntriesExpire(t *testing.T) {
	srv := mototest.Require(t, moto)
	accs := setUpCustomers(t, srv)
	rec := newRecorder()
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cache := newCache(t, srv, rec, accs, func(o *Options) { o.Now = clk.Now })
	ctx := mototest.Context(t)

	steps := []struct {
		advance time.Duration
		want    int // AssumeRole calls so far
	}{
		{0, 1},
		{13 * time.Minute, 1},
		{59 * time.Second, 1},
		{time.Second, 2}, // 14 minutes: one session, less the refresh window
		{10 * time.Minute, 2},
		{4 * time.Minute, 3},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		if _, err := cache.Config(ctx, bucketFinding(i, customers[0]), s3Spec); err != nil {
			t.Fatal(err)
		}
		if got := len(rec.recorded("AssumeRole")); got != s.want {
			t.Fatalf("step %d (+%s): %d AssumeRole calls, want %d", i, s.advance, got, s.want)
		}
	}
	if n := cache.Len(); n != 1 {
		t.Errorf("Len = %d, want 1: an expired entry is replaced, not added", n)
	}
}

func TestCacheIsBounded(t *testing.T) {
	srv := mototest.Require(t, moto)
	accs := setUpCustomers(t, srv)
	rec := newRecorder()
	cache := newCache(t, srv, rec, accs, func(o *Options) { o.Mode = Strict; o.MaxEntries = 2 })
	ctx := mototest.Context(t)

	lookups := []struct {
		finding int
		want    int // AssumeRole calls so far
	}{
		{0, 1}, {1, 2},
		{0, 2}, // hit: 0 is now recently used
		{2, 3}, // evicts 1, not 0
		{0, 3}, // still cached
		{1, 4}, // evicted before, assumed again
	}
	for i, l := range lookups {
		if _, err := cache.Config(ctx, bucketFinding(l.finding, customers[0]), s3Spec); err != nil {
			t.Fatal(err)
		}
		if got := len(rec.recorded("AssumeRole")); got != l.want {
			t.Fatalf("lookup %d (finding %d): %d AssumeRole calls, want %d", i, l.finding, got, l.want)
		}
		if n := cache.Len(); n > 2 {
			t.Fatalf("Len = %d, above MaxEntries 2", n)
		}
	}
}

func TestChangedSpecGetsNewSession(t *testing.T) {
	srv := mototest.Require(t, moto)
	accs := setUpCustomers(t, srv)
	rec := newRecorder()
	cache := newCache(t, srv, rec, accs)
	ctx := mototest.Context(t)

	wider := s3Spec
	wider.IAMActions = append([]string{"s3:GetBucketPolicyStatus"}, s3Spec.IAMActions...)
	for i, s := range []remediate.Spec{s3Spec, s3Spec, wider, wider} {
		if _, err := cache.Config(ctx, bucketFinding(i, customers[0]), s); err != nil {
			t.Fatal(err)
		}
	}
	calls := rec.recorded("AssumeRole")
	if len(calls) != 2 {
		t.Fatalf("%d AssumeRole calls, want 2: one per distinct session policy", len(calls))
	}
	if p := calls[1].Form.Get("Policy"); !strings.Contains(p, "s3:GetBucketPolicyStatus") {
		t.Errorf("second session policy %s lacks the added action", p)
	}
}

func TestSSMResolver(t *testing.T) {
	srv := mototest.Require(t, moto)
	ctx := mototest.Context(t)
	client := ssm.NewFromConfig(srv.Config(region))
	if _, err := client.PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String("/remedy/external-id/111111111111"), Value: aws.String("ext-from-ssm"),
		Type: ssmtypes.ParameterTypeSecureString, Overwrite: aws.Bool(true),
	}); err != nil {
		t.Fatal(err)
	}
	withSSM := func(o *LoadOptions) { o.Resolvers = map[string]Resolver{"ssm": SSMResolver{Client: client}} }

	accs, err := LoadAccounts(ctx, AccountsConfig{Regions: []string{"*"}, Accounts: []Account{
		{ID: "111111111111", ExternalIDFrom: "ssm:/remedy/external-id/111111111111"},
	}}, withSSM)
	if err != nil {
		t.Fatal(err)
	}
	if got := accs.byID["111111111111"].externalID; got != "ext-from-ssm" {
		t.Errorf("external id = %q, want the parameter's value", got)
	}

	_, err = LoadAccounts(ctx, AccountsConfig{Regions: []string{"*"}, Accounts: []Account{
		{ID: "111111111111", ExternalIDFrom: "ssm:/remedy/external-id/missing"},
	}}, withSSM)
	if err == nil || !strings.Contains(err.Error(), `external_id_from "ssm:/remedy/external-id/missing"`) || !strings.Contains(err.Error(), "ParameterNotFound") {
		t.Errorf("LoadAccounts error = %v, want one naming the missing parameter", err)
	}
}

func TestWarmLookupAllocations(t *testing.T) {
	srv := mototest.Require(t, moto)
	cache, findings := warmCache(t, srv)
	ctx := context.Background()
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := cache.Config(ctx, findings[i%len(findings)], s3Spec); err != nil {
			t.Fatal(err)
		}
		i++
	})
	// The per-finding API options: their slice and the user-agent closure.
	if allocs > 2 {
		t.Errorf("a warm lookup allocates %.1f times, want at most 2", allocs)
	}
}

// warmCache returns a shared-mode cache with a session in every customer
// account, and findings spread over them.
func warmCache(tb testing.TB, srv *mototest.Server) (*Cache, []*remediate.Finding) {
	tb.Helper()
	accs := setUpCustomers(tb, srv)
	cache, err := New(sts.NewFromConfig(srv.Config(region)), accs, func(o *Options) { o.Base = srv.Config(region) })
	if err != nil {
		tb.Fatal(err)
	}
	findings := make([]*remediate.Finding, 64)
	for i := range findings {
		findings[i] = bucketFinding(i, customers[i%len(customers)])
		if _, err := cache.Config(context.Background(), findings[i], s3Spec); err != nil {
			tb.Fatal(err)
		}
	}
	return cache, findings
}

// BenchmarkWarmLookup measures Config on a warm cache from many
// goroutines: go test -run '^$' -bench WarmLookup -cpu 8 ./crossaccount/
func BenchmarkWarmLookup(b *testing.B) {
	srv := mototest.Require(b, moto)
	cache, findings := warmCache(b, srv)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := cache.Config(ctx, findings[i%len(findings)], s3Spec); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}
