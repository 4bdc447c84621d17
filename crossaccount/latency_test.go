package crossaccount

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/remedy-sec/remedy/adapters/batch"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/remediate"
)

// slowSTS answers AssumeRole after a fixed latency, as a distant STS
// endpoint would, and counts the calls.
type slowSTS struct {
	latency time.Duration
	calls   atomic.Int64
}

func (s *slowSTS) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, _ ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	s.calls.Add(1)
	select {
	case <-time.After(s.latency):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &sts.AssumeRoleOutput{Credentials: &ststypes.Credentials{
		AccessKeyId: aws.String("ASIA" + *in.RoleSessionName), SecretAccessKey: aws.String("s"),
		SessionToken: aws.String("t"), Expiration: aws.Time(time.Now().Add(time.Hour)),
	}}, nil
}

// touch is a remediator that retrieves the session's credentials (which
// is when AssumeRole happens) and changes nothing else.
type touch struct{}

func (touch) Spec() remediate.Spec {
	return remediate.Spec{Action: "s3-touch", ResourceTypes: []string{"bucket"}, Resources: resourcesOf("bucket"), IAMActions: []string{"s3:GetBucketTagging"}}
}

func (touch) Plan(ctx context.Context, t remediate.Target) (remediate.Plan, error) {
	if t.AWS.Credentials != nil {
		if _, err := t.AWS.Credentials.Retrieve(ctx); err != nil {
			return remediate.Plan{}, err
		}
	}
	return remediate.Plan{Before: json.RawMessage(`{}`)}, nil
}

func (touch) Apply(context.Context, remediate.Target, remediate.Plan) (remediate.Result, error) {
	return remediate.Result{}, nil
}

// Verify has nothing to read back: touch changes nothing. Without it the
// engine records applied-unverified rather than applied.
func (touch) Verify(context.Context, remediate.Target, remediate.Plan) error { return nil }

// fleet is n findings spread round-robin over the accounts.
func fleet(n int, accounts []string) []remediate.Message {
	msgs := make([]remediate.Message, n)
	for i := range msgs {
		msgs[i] = remediate.Message{ID: fmt.Sprint(i), Body: []byte(accounts[i%len(accounts)] + fmt.Sprintf("/%06d", i))}
	}
	return msgs
}

func fleetParser(body []byte) (*remediate.Finding, error) {
	account, id := string(body[:12]), string(body[13:])
	return &remediate.Finding{
		ID: id, Source: "bench", Revision: "1",
		Resource: remediate.Resource{ID: "arn:aws:s3:::b-" + id, Type: "bucket", Account: account, Region: "us-east-1"},
	}, nil
}

// runFleet processes msgs through an engine in Apply mode, with creds
// nil meaning no STS at all (static credentials), and returns the wall
// time.
func runFleet(tb testing.TB, msgs []remediate.Message, creds remediate.CredentialSource) time.Duration {
	tb.Helper()
	if creds == nil {
		creds = remediate.CredentialSource(staticCreds{})
	}
	reg, _ := remediate.NewRegistry(touch{})
	eng, err := remediate.NewEngine(remediate.Options{
		Parser: remediate.ParserFunc(fleetParser),
		Policy: remediate.PolicyFunc(func(context.Context, *remediate.Finding) (remediate.Decision, error) {
			return remediate.Decision{Verdict: remediate.VerdictRemediate, Action: "s3-touch"}, nil
		}),
		Registry: reg, Credentials: creds, Audit: audit.Discard(), Mode: remediate.ModeApply,
	})
	if err != nil {
		tb.Fatal(err)
	}
	start := time.Now()
	res := batch.Run(context.Background(), eng, msgs, func(o *batch.Options) { o.Concurrency = 64 })
	wall := time.Since(start)
	for _, r := range res {
		if r.Err != nil || r.Record.Outcome != "applied" {
			tb.Fatalf("message %s: %v %+v", r.Message.ID, r.Err, r.Record)
		}
	}
	return wall
}

type staticCreds struct{}

func (staticCreds) Config(_ context.Context, f *remediate.Finding, _ remediate.Spec) (aws.Config, error) {
	return aws.Config{Region: f.Resource.Region}, nil
}

func fleetAccounts(n int) (*Accounts, []string, error) {
	var ids []string
	var entries []Account
	for i := range n {
		id := fmt.Sprintf("%012d", 100000000000+i)
		ids = append(ids, id)
		entries = append(entries, Account{ID: id, ExternalID: "ext-" + id})
	}
	accs, err := LoadAccounts(context.Background(), AccountsConfig{Regions: []string{"us-east-1"}, Accounts: entries})
	return accs, ids, err
}

// TestFleetAssumesOncePerAccount: 10,000 findings over 50 accounts cost
// 50 AssumeRole calls, even with 64 findings in flight at once.
func TestFleetAssumesOncePerAccount(t *testing.T) {
	accs, ids, err := fleetAccounts(50)
	if err != nil {
		t.Fatal(err)
	}
	n := 10_000
	if testing.Short() {
		n = 1000
	}
	s := &slowSTS{latency: 50 * time.Millisecond}
	cache, err := New(s, accs)
	if err != nil {
		t.Fatal(err)
	}
	runFleet(t, fleet(n, ids), cache)
	if got := s.calls.Load(); got != 50 {
		t.Errorf("%d findings over 50 accounts made %d AssumeRole calls, want 50", n, got)
	}
}

// BenchmarkFleet50Accounts runs 10,000 findings over 50 accounts through
// the engine twice per iteration — with static credentials, and through
// the cache with an STS that takes 50 ms per call — and reports the wall
// time ratio (target ≤ 1.5) and the AssumeRole calls (target 50).
//
//	go test -run='^$' -bench=Fleet50 -benchtime=3x ./crossaccount/
func BenchmarkFleet50Accounts(b *testing.B) {
	accs, ids, err := fleetAccounts(50)
	if err != nil {
		b.Fatal(err)
	}
	msgs := fleet(10_000, ids)
	var base, withSTS time.Duration
	var calls int64
	for b.Loop() {
		base += runFleet(b, msgs, nil)
		s := &slowSTS{latency: 50 * time.Millisecond}
		cache, err := New(s, accs)
		if err != nil {
			b.Fatal(err)
		}
		withSTS += runFleet(b, msgs, cache)
		calls += s.calls.Load()
	}
	b.ReportMetric(float64(base.Milliseconds())/float64(b.N), "ms-no-sts")
	b.ReportMetric(float64(withSTS.Milliseconds())/float64(b.N), "ms-sts-50ms")
	b.ReportMetric(float64(withSTS)/float64(base), "ratio")
	b.ReportMetric(float64(calls)/float64(b.N), "assumerole-calls")
}
