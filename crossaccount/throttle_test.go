package crossaccount

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/remedy-sec/remedy/internal/faultproxy"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

// TestThrottleAIMD: a key is not limited until AWS throttles it; then its
// rate is half its demand, halved once per round of throttling errors
// down to MinRate; attempts that would wait longer than MaxWait are
// turned away with back-offs spread at the key's rate; successes raise
// the rate by Increase per second, and a key that has recovered is
// released.
func TestThrottleAIMD(t *testing.T) {
	clk := &clock{now: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)}
	th := NewThrottle(func(o *ThrottleOptions) {
		o.Now, o.MinRate, o.Increase, o.MaxWait = clk.Now, 1, 1, 0
	})
	l := th.limiter("111111111111", "S3")
	ctx := context.Background()
	// 40 calls a second for two seconds, unlimited.
	for range 80 {
		if _, err := l.acquire(ctx, false); err != nil {
			t.Fatalf("unlimited key: %v", err)
		}
		l.succeeded(clk.Now(), "")
		clk.Advance(25 * time.Millisecond)
	}
	if _, limited := th.Limited("111111111111", "S3"); limited {
		t.Fatal("limited before any throttling error")
	}
	sent := clk.Now()
	// A third of the calls throttled (calls outside the engine: each
	// counts as another finding).
	for i := 0; i < 20 && !l.throttled(sent, clk.Now(), ""); i++ {
	}
	rate, limited := th.Limited("111111111111", "S3")
	if !limited || rate < 15 || rate > 25 {
		t.Fatalf("after the first throttling error: rate %.1f, limited %v; want about 20 (half of 40/s)", rate, limited)
	}
	clk.Advance(10 * time.Millisecond)
	// A second error of a call sent before the cut does not cut again.
	l.throttled(sent, clk.Now(), "")
	if r, _ := th.Limited("111111111111", "S3"); r != rate {
		t.Errorf("an error of a call sent before the cut changed the rate from %.1f to %.1f", rate, r)
	}
	l.throttled(clk.Now(), clk.Now(), "")
	if r, _ := th.Limited("111111111111", "S3"); r != rate/2 {
		t.Errorf("after a second round: rate %.2f, want %.2f", r, rate/2)
	}
	for range 10 {
		clk.Advance(10 * time.Millisecond)
		l.throttled(clk.Now(), clk.Now(), "")
	}
	if r, _ := th.Limited("111111111111", "S3"); r != 1 {
		t.Fatalf("after many rounds: rate %.2f, want MinRate 1", r)
	}
	// No token left: attempts are turned away, each told to come back one
	// turn (a second, plus up to 10 % jitter) after the one before.
	var last time.Duration
	for i := range 5 {
		_, err := l.acquire(ctx, false)
		var te *ThrottledError
		if !errors.As(err, &te) || te.Err != nil {
			t.Fatalf("attempt %d at rate 1/s with MaxWait 0: %v, want a *ThrottledError without an AWS error", i, err)
		}
		want := time.Duration(i+1) * time.Second
		if te.RetryAfter() < want || te.RetryAfter() > want+want/10+time.Millisecond || te.RetryAfter() <= last {
			t.Errorf("attempt %d told to retry after %v, want %v to %v (after the previous %v)", i, te.RetryAfter(), want, want+want/10, last)
		}
		last = te.RetryAfter()
	}
	// A finding under way (a call of it succeeded before) waits for its
	// turn instead of being turned away; a new one is still turned away.
	l.succeeded(clk.Now(), "under-way")
	clk.Advance(6 * time.Second) // the turns handed out above have passed
	l.mu.Lock()
	l.tokens = 0.9 // the next turn is 100 ms away
	l.filled = clk.Now()
	l.mu.Unlock()
	if !l.isAdmitted("under-way") || l.isAdmitted("new") {
		t.Fatal("admission: want under-way admitted and new not")
	}
	if _, err := l.acquire(ctx, true); err != nil {
		t.Errorf("a finding under way was turned away: %v", err)
	}
	if _, err := l.acquire(ctx, false); err == nil {
		t.Error("a new finding was let through behind the one under way, with no token left")
	}
	l.mu.Lock()
	l.rate, l.tokens, l.increased = 1, 0, clk.Now() // back to the floor
	l.mu.Unlock()
	// Additive increase while calls succeed.
	clk.Advance(5 * time.Second)
	l.succeeded(clk.Now(), "")
	if r, _ := th.Limited("111111111111", "S3"); r < 5.9 || r > 6.1 {
		t.Errorf("5 s of successes after the floor: rate %.2f, want 6 (1 + 5 × Increase)", r)
	}
	// Recovered: 30 s without a throttling error at a rate above twice
	// the demand.
	for range 40 {
		clk.Advance(time.Second)
		if _, err := l.acquire(ctx, false); err == nil {
			l.succeeded(clk.Now(), "")
		}
	}
	if r, limited := th.Limited("111111111111", "S3"); limited {
		t.Errorf("40 s later at one call a second: still limited at %.1f/s", r)
	}
	// Other keys were never touched.
	if _, limited := th.Limited("111111111111", "EC2"); limited {
		t.Error("account 111111111111's EC2 key is limited by its S3 throttling")
	}
}

// TestThrottleEvidence: one finding's throttling errors, however many,
// and sporadic ones of many findings do not limit a key; errors of
// several findings that are a third of the attempts or more do.
func TestThrottleEvidence(t *testing.T) {
	clk := &clock{now: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)}
	th := NewThrottle(func(o *ThrottleOptions) { o.Now = clk.Now })
	l := th.limiter("111111111111", "S3")
	ctx := context.Background()
	for i := range 10 {
		if l.throttled(clk.Now(), clk.Now(), "finding-a") {
			t.Fatalf("limited after throttling error %d of one finding", i+1)
		}
	}
	clk.Advance(11 * time.Second)
	for range 30 {
		if _, err := l.acquire(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for ; n < 30 && !l.throttled(clk.Now(), clk.Now(), fmt.Sprint("finding-", n)); n++ {
	}
	if want := 10; n+1 != want {
		t.Errorf("limited after %d throttling errors of as many findings among 30 attempts, want %d (a third)", n+1, want)
	}
}

// TestThrottleOneAccount runs S3 calls of two customer accounts through
// the fault proxy, which throttles every call of the first: the first
// account's key is limited, its calls fail fast with a *ThrottledError
// saying when to come back (the SDK does not retry them), and it reaches
// AWS at about its limited rate; the second account is not limited and
// every one of its calls succeeds.
func TestThrottleOneAccount(t *testing.T) {
	srv := mototest.Require(t, moto)
	ctx := mototest.Context(t)
	accs := setUpCustomers(t, srv)
	p, err := faultproxy.Start(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	throttled, healthy := customers[0], customers[1]
	var reached atomic.Int64
	status, code := faultproxy.Throttled("s3")
	p.Add(faultproxy.Rule{Match: faultproxy.Account(throttled), Choose: func(faultproxy.Request) (faultproxy.Rule, bool) {
		reached.Add(1)
		return faultproxy.Rule{Status: status, Code: code}, true
	}})

	stsCfg := srv.Config(region)
	stsCfg.BaseEndpoint = aws.String(p.URL)
	base := srv.Config(region)
	base.BaseEndpoint = aws.String(p.URL)
	cache, err := New(sts.NewFromConfig(stsCfg), accs, func(o *Options) { o.Region = region; o.Base = base })
	if err != nil {
		t.Fatal(err)
	}
	th := NewThrottle(func(o *ThrottleOptions) { o.MinRate = 2 })
	src := th.Source(cache)

	const workers, run = 6, 4 * time.Second
	type tally struct {
		ok, throttledErrs, early, other atomic.Int64
		retryAfter                      atomic.Int64 // the longest, in ns
	}
	var tallies [2]tally
	var wg sync.WaitGroup
	stop := time.Now().Add(run)
	for a, acct := range []string{throttled, healthy} {
		for w := range workers {
			wg.Go(func() {
				for i := 0; time.Now().Before(stop); i++ {
					f := bucketFinding(w*10000+i, acct)
					cfg, err := src.Config(ctx, f, touch{}.Spec())
					if err == nil {
						_, err = s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).ListBuckets(ctx, &s3.ListBucketsInput{})
					}
					var te *ThrottledError
					switch {
					case err == nil:
						tallies[a].ok.Add(1)
					case isThrottle(err) && !errors.As(err, &te):
						// Before the key is limited: the SDK's to retry.
						tallies[a].early.Add(1)
						time.Sleep(50 * time.Millisecond)
					case errors.As(err, &te) && remediate.IsTransient(remediate.ClassifyAWS(err)):
						tallies[a].throttledErrs.Add(1)
						if d := int64(te.RetryAfter()); d > tallies[a].retryAfter.Load() {
							tallies[a].retryAfter.Store(d)
						}
						// A transport would hold the finding back; the test
						// just tries the next one a little later.
						time.Sleep(50 * time.Millisecond)
					default:
						tallies[a].other.Add(1)
						t.Errorf("account %s: %v", acct, err)
						time.Sleep(50 * time.Millisecond)
					}
				}
			})
		}
	}
	wg.Wait()
	tA, tB := &tallies[0], &tallies[1]
	t.Logf("throttled account: %d ok, %d ThrottledError (longest RetryAfter %v), %d calls reached the proxy; healthy account: %d ok, %d ThrottledError",
		tA.ok.Load(), tA.throttledErrs.Load(), time.Duration(tA.retryAfter.Load()), reached.Load(), tB.ok.Load(), tB.throttledErrs.Load())
	if n := tA.early.Load(); n >= throttleMinErrors {
		t.Errorf("throttled account: %d plain throttling errors before its key was limited, want fewer than %d", n, throttleMinErrors)
	}
	if tA.ok.Load() != 0 || tA.throttledErrs.Load() == 0 || tA.retryAfter.Load() <= 0 {
		t.Errorf("throttled account: %d ok, %d ThrottledError with RetryAfter up to %v; want none ok, all ThrottledError with a RetryAfter",
			tA.ok.Load(), tA.throttledErrs.Load(), time.Duration(tA.retryAfter.Load()))
	}
	if tB.throttledErrs.Load() != 0 || tB.ok.Load() < 20 {
		t.Errorf("healthy account: %d ok, %d ThrottledError; want every call ok (at least 20)", tB.ok.Load(), tB.throttledErrs.Load())
	}
	// Unlimited, the workers' calls and the SDK's three attempts each
	// would reach AWS many times over; limited, one round of attempts
	// plus about MinRate per second after that.
	if n := reached.Load(); n > 3*workers+int64(2*run/time.Second)+4 {
		t.Errorf("%d calls of the throttled account reached AWS in %v, want at most %d (one round of %d workers with SDK retries, then 2/s)",
			n, run, 3*workers+int64(2*run/time.Second)+4, workers)
	}
	if rate, limited := th.Limited(throttled, "S3"); !limited || rate > 2 {
		t.Errorf("throttled account's S3 key: rate %.1f, limited %v; want limited at MinRate 2", rate, limited)
	}
	if _, limited := th.Limited(healthy, "S3"); limited {
		t.Error("the healthy account's S3 key is limited")
	}
}
