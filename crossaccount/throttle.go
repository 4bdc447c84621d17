package crossaccount

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go/middleware"

	"github.com/remedy-sec/remedy/remediate"
)

var _ remediate.CredentialSource = throttledSource{}

// Defaults of ThrottleOptions.
const (
	DefaultThrottleMinRate    = 0.5
	DefaultThrottleIncrease   = 1.0
	DefaultThrottleMaxWait    = 200 * time.Millisecond
	DefaultThrottleMaxBackoff = 15 * time.Minute
	// throttleBeta is the multiplicative decrease on a throttling error.
	throttleBeta = 0.5
	// throttleRecover is how long a limited key must go without a
	// throttling error, at a rate above twice its demand, to be released.
	throttleRecover = 30 * time.Second
	// throttleEvidence is the window in which the throttling errors of
	// two findings, at least throttleMinErrors of them and a third of the
	// attempts or more, make a key limited.
	throttleEvidence  = 10 * time.Second
	throttleMinErrors = 3
)

// ThrottleOptions configure a Throttle.
type ThrottleOptions struct {
	// MinRate is the floor, in calls per second, to which a throttled
	// (account, service) is slowed: the rate at which it keeps probing
	// whether AWS lets it through again. Default 0.5.
	MinRate float64
	// Increase is how fast a limited rate recovers while calls succeed,
	// in calls per second per second (additive increase). Default 1: a
	// rate halved from 20/s to 10/s is back in about ten seconds.
	Increase float64
	// MaxWait is the longest an attempt waits for its turn. An attempt
	// that would wait longer fails at once with a *ThrottledError, so a
	// saturated account holds no processing slot: its finding goes back
	// to the queue with a back-off (ThrottledError.RetryAfter). Default
	// 200 ms.
	MaxWait time.Duration
	// MaxBackoff bounds ThrottledError.RetryAfter. Default 15 minutes
	// (SQS's longest DelaySeconds).
	MaxBackoff time.Duration
	// Now is the clock; nil means time.Now. Only tests set it.
	Now func() time.Time
}

// Throttle is an adaptive client-side rate limiter per (account,
// service), shared by every session and client of a process, so that a
// throttled customer account (or one of its services) slows only its own
// findings. It is safe for concurrent use.
//
// A key is not limited until AWS throttles it for good (error codes
// Throttling, ThrottlingException, SlowDown, RequestLimitExceeded,
// TooManyRequestsException and the others of the SDK's
// retry.DefaultThrottles, or an unmodelled 429): within 10 seconds, at
// least 3 throttling errors, of at least two findings, and at least a
// third of the attempts. Sporadic throttling, or one finding's however
// often (one resource's, such as an S3 prefix's SlowDown), stays the
// SDK's to retry. Calls made outside the engine have no finding to tell
// apart (see remediate.FindingID): each counts as another. Then the
// key's rate is set to half the rate at which it was being called,
// halved again on each further throttling error (once per round of
// calls: an error of a call sent before the last decrease does not
// count) down to MinRate, and raised by Increase per second while calls
// succeed (AIMD). A key that has gone 30 seconds without a throttling
// error at a rate above twice its demand is limited no more.
//
// Each attempt of a call, SDK retries included, takes a token: retries
// do not multiply the calls AWS sees. An attempt that would wait longer
// than MaxWait fails with a *ThrottledError (not retried by the SDK), and
// so does an attempt that AWS throttled; both are transient for
// the engine, and their RetryAfter spreads the findings that were turned
// away over the time the key's rate needs to serve them, so that a
// transport that backs off by it (package adapters/sqsworker does) brings
// them back about when they can run.
//
// A finding under way is not turned away: once one of its calls to a key
// succeeded, its later calls there (an Apply, the Verify after it) wait
// for their turn, up to the context's deadline, and go before findings
// not yet started. The finding is known by remediate.FindingID of the
// call's context, which the engine sets; calls made outside the engine
// are each turned away alone.
type Throttle struct {
	o ThrottleOptions

	mu   sync.Mutex
	keys map[throttleKey]*limiter
}

type throttleKey struct{ account, service string }

// NewThrottle returns a Throttle with no key limited.
func NewThrottle(optFns ...func(*ThrottleOptions)) *Throttle {
	o := ThrottleOptions{
		MinRate: DefaultThrottleMinRate, Increase: DefaultThrottleIncrease,
		MaxWait: DefaultThrottleMaxWait, MaxBackoff: DefaultThrottleMaxBackoff,
	}
	for _, fn := range optFns {
		fn(&o)
	}
	if o.MinRate <= 0 {
		o.MinRate = DefaultThrottleMinRate
	}
	if o.Increase <= 0 {
		o.Increase = DefaultThrottleIncrease
	}
	if o.MaxWait < 0 {
		o.MaxWait = 0
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultThrottleMaxBackoff
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Throttle{o: o, keys: make(map[throttleKey]*limiter)}
}

// Source returns a CredentialSource that is next with this Throttle on
// every configuration it returns (see APIOption), keyed by the finding's
// account: wrap the Cache with it,
//
//	remediate.Options{Credentials: throttle.Source(cache), ...}
func (t *Throttle) Source(next remediate.CredentialSource) remediate.CredentialSource {
	return throttledSource{t: t, next: next}
}

type throttledSource struct {
	t    *Throttle
	next remediate.CredentialSource
}

func (s throttledSource) Config(ctx context.Context, f *remediate.Finding, spec remediate.Spec) (aws.Config, error) {
	cfg, err := s.next.Config(ctx, f, spec)
	if err != nil || f == nil {
		return cfg, err
	}
	// A fresh slice: the source's may be shared by other configurations.
	opts := make([]func(*middleware.Stack) error, len(cfg.APIOptions), len(cfg.APIOptions)+1)
	copy(opts, cfg.APIOptions)
	cfg.APIOptions = append(opts, s.t.APIOption(f.Resource.Account))
	return cfg, nil
}

// APIOption returns the option that limits the calls of a client to
// account's (account, service) keys, the service being the client's
// (S3, EC2, ...). Source adds it; add it yourself to a configuration you
// build in another way.
func (t *Throttle) APIOption(account string) func(*middleware.Stack) error {
	outer := middleware.InitializeMiddlewareFunc("RemedyThrottleResult", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		out, md, err := next.HandleInitialize(ctx, in)
		if err != nil && isThrottle(err) {
			var te *ThrottledError
			if l := t.limiter(account, awsmiddleware.GetServiceID(ctx)); !errors.As(err, &te) && l.isLimited() {
				err = &ThrottledError{Account: account, Service: l.key.service, Wait: l.backoff(t.o.Now()), Err: err}
			}
		}
		return out, md, err
	})
	gate := middleware.FinalizeMiddlewareFunc("RemedyThrottle", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		l := t.limiter(account, awsmiddleware.GetServiceID(ctx))
		finding, _ := remediate.FindingID(ctx)
		admitted := l.isAdmitted(finding)
		sent, err := l.acquire(ctx, admitted)
		if err != nil {
			return middleware.FinalizeOutput{}, middleware.Metadata{}, err
		}
		out, md, err := next.HandleFinalize(ctx, in)
		switch {
		case err == nil:
			l.succeeded(t.o.Now(), finding)
		case isThrottle(err):
			// Not retried by the SDK: its back-off would hold a processing
			// slot that other accounts' findings can use, and the limit
			// paces the next attempt anyway. The finding backs off through
			// the queue. A finding under way is retried, in its turn.
			if l.throttled(sent, t.o.Now(), finding) && !admitted {
				err = &ThrottledError{Account: account, Service: l.key.service, Wait: l.backoff(t.o.Now()), Err: err}
			}
		}
		return out, md, err
	})
	return func(st *middleware.Stack) error {
		if err := st.Initialize.Add(outer, middleware.After); err != nil {
			return err
		}
		// Inside the SDK's retry loop: every attempt takes its turn.
		if err := st.Finalize.Insert(gate, "Retry", middleware.After); err != nil {
			return st.Finalize.Add(gate, middleware.Before)
		}
		return nil
	}
}

// Limited reports the rate (calls per second) to which account's calls
// of service (a service id such as "S3") are limited, and whether they
// are limited at all.
func (t *Throttle) Limited(account, service string) (rate float64, limited bool) {
	l := t.limiter(account, service)
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rate, l.limited
}

func (t *Throttle) limiter(account, service string) *limiter {
	k := throttleKey{account: account, service: service}
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.keys[k]
	if l == nil {
		l = &limiter{t: t, key: k}
		t.keys[k] = l
	}
	return l
}

func isThrottle(err error) bool {
	return retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary
}

// ThrottledError is a call to a customer account that the Throttle
// turned away (Err is nil) or that AWS throttled (Err is its error)
// while the account's (account, service) was limited. The engine treats
// it as transient; a transport should retry the finding after RetryAfter
// rather than at once. The SDK does not retry it.
type ThrottledError struct {
	Account string
	// Service is the SDK's service id, such as "S3" or "EC2".
	Service string
	// Wait is how long the finding should wait before it is tried again.
	Wait time.Duration
	// Err is AWS's throttling error, or nil when the call was not sent.
	Err error
}

func (e *ThrottledError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("crossaccount: calls to %s in account %s are rate-limited after throttling; not sent, retry after %s",
			e.Service, e.Account, e.Wait.Round(time.Millisecond))
	}
	return fmt.Sprintf("crossaccount: %s throttled account %s; retry after %s: %v", e.Service, e.Account, e.Wait.Round(time.Millisecond), e.Err)
}

func (e *ThrottledError) Unwrap() error { return e.Err }

// RetryAfter returns Wait: how long a transport should hold the finding
// back before it delivers it again.
func (e *ThrottledError) RetryAfter() time.Duration { return e.Wait }

// RetryableError returns false: the SDK must not retry the call, the
// finding waits in the queue instead.
func (e *ThrottledError) RetryableError() bool { return false }

// limiter is the token bucket of one (account, service).
type limiter struct {
	t   *Throttle
	key throttleKey

	mu      sync.Mutex
	limited bool
	rate    float64   // tokens per second, when limited
	tokens  float64   // may be negative: attempts waiting for their turn
	filled  time.Time // when tokens were last refilled
	// decreased is when the rate was last cut; increased when it was last
	// raised; throttledAt when AWS last throttled a call.
	decreased, increased, throttledAt time.Time
	// next is the latest time handed out in a RetryAfter: findings turned
	// away are spread at the key's rate after one another.
	next time.Time
	// Demand, in attempts per second: counted over windows of a second
	// or more, smoothed.
	window  time.Time
	count   int
	demand  float64
	started bool
	// While the key is not limited, the evidence of throttling since
	// evStart: the finding of the first error, whether another finding was
	// throttled too, the errors and the attempts.
	evStart              time.Time
	firstFinding         string
	otherFinding         bool
	evErrors, evAttempts int
	// admitted are the findings under way (a call succeeded), with when
	// they were last seen.
	admitted map[string]time.Time
	sweepAt  int // size at which expired entries are swept out
}

// admittedFor is how long a finding counts as under way after its last
// successful call: longer than the engine's timeout for one finding (2
// minutes by default).
const admittedFor = 5 * time.Minute

// isLimited reports whether the key is limited.
func (l *limiter) isLimited() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limited
}

// isAdmitted reports whether the finding is under way on this key.
func (l *limiter) isAdmitted(finding string) bool {
	if finding == "" {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	at, ok := l.admitted[finding]
	return ok && l.t.o.Now().Sub(at) < admittedFor
}

// acquire waits for the attempt's turn, at most MaxWait, and returns the
// time it was let through; or a *ThrottledError when the wait would be
// longer.
func (l *limiter) acquire(ctx context.Context, admitted bool) (time.Time, error) {
	o := &l.t.o
	now := o.Now()
	l.mu.Lock()
	l.count++
	l.evAttempts++
	l.measure(now)
	if !l.limited {
		l.mu.Unlock()
		return now, nil
	}
	l.refill(now)
	if l.tokens >= 1 {
		l.tokens--
		l.mu.Unlock()
		return now, nil
	}
	wait := time.Duration((1 - l.tokens) / l.rate * float64(time.Second))
	if wait > o.MaxWait && !admitted {
		err := &ThrottledError{Account: l.key.account, Service: l.key.service, Wait: l.backoffLocked(now, wait)}
		l.mu.Unlock()
		return time.Time{}, err
	}
	l.tokens-- // the turn is ours: later attempts queue behind it
	l.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return o.Now(), nil
	case <-ctx.Done():
		l.mu.Lock()
		l.tokens++ // give the turn back
		l.mu.Unlock()
		return time.Time{}, ctx.Err()
	}
}

// measure updates the demand estimate. l.mu is held.
func (l *limiter) measure(now time.Time) {
	if !l.started {
		l.started, l.window = true, now
		return
	}
	if d := now.Sub(l.window); d >= time.Second {
		rate := float64(l.count) / d.Seconds()
		if l.demand == 0 {
			l.demand = rate
		} else {
			l.demand = (l.demand + rate) / 2
		}
		l.window, l.count = now, 0
	}
}

// demandNow is the demand estimate including the current window. l.mu is
// held.
func (l *limiter) demandNow(now time.Time) float64 {
	d := max(now.Sub(l.window).Seconds(), 1)
	return max(l.demand, float64(l.count)/d)
}

// refill adds the tokens earned since the last refill, up to a burst of
// one second's worth. l.mu is held.
func (l *limiter) refill(now time.Time) {
	if d := now.Sub(l.filled); d > 0 {
		l.tokens = min(l.tokens+l.rate*d.Seconds(), max(1, l.rate))
		l.filled = now
	}
}

// throttled cuts the rate after AWS throttled an attempt let through at
// sent, and returns how long the next attempt would wait.
func (l *limiter) throttled(sent, now time.Time, finding string) (limited bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	o := &l.t.o
	switch {
	case !l.limited:
		if l.evStart.IsZero() || now.Sub(l.evStart) >= throttleEvidence {
			l.evStart, l.firstFinding, l.otherFinding, l.evErrors, l.evAttempts = now, finding, false, 0, 1
		}
		l.evErrors++
		if finding == "" || finding != l.firstFinding {
			l.otherFinding = true
		}
		// Sporadic errors, or one finding's however often (one
		// resource's throttling, such as an S3 prefix's SlowDown), are
		// the SDK's to retry. A call outside the engine has no finding
		// to tell apart: it counts as another.
		attempts := max(float64(l.evAttempts), l.demandNow(now)*max(now.Sub(l.evStart).Seconds(), 1))
		if !l.otherFinding || l.evErrors < throttleMinErrors || float64(3*l.evErrors) < attempts {
			l.throttledAt = now
			return false
		}
		l.limited = true
		l.rate = max(o.MinRate, throttleBeta*l.demandNow(now))
		l.tokens, l.filled = 0, now
		l.decreased, l.increased = now, now
	case sent.After(l.decreased):
		l.refill(now)
		l.rate = max(o.MinRate, throttleBeta*l.rate)
		l.tokens = min(l.tokens, 0) // no burst after a throttling error
		l.decreased, l.increased = now, now
	}
	l.throttledAt = now
	return l.limited
}

// succeeded raises a limited rate by Increase per second since the last
// raise, releases a key that no longer needs limiting, and notes the
// finding (if any) as under way.
func (l *limiter) succeeded(now time.Time, finding string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Noted while the key is not limited too: a finding under way when
	// the key becomes limited must not be turned away halfway.
	if finding != "" {
		if l.admitted == nil {
			l.admitted = make(map[string]time.Time)
		}
		if len(l.admitted) >= l.sweepAt {
			for id, at := range l.admitted {
				if now.Sub(at) >= admittedFor {
					delete(l.admitted, id)
				}
			}
			l.sweepAt = max(1024, 2*len(l.admitted))
		}
		l.admitted[finding] = now
	}
	if !l.limited {
		return
	}
	l.refill(now)
	if d := now.Sub(l.increased); d > 0 {
		l.rate += l.t.o.Increase * d.Seconds()
		l.increased = now
	}
	if now.Sub(l.throttledAt) >= throttleRecover && l.rate >= 2*l.demandNow(now) {
		l.limited = false
		l.next = time.Time{}
	}
}

// backoff returns how long a finding whose call AWS throttled should
// wait: its place after the findings already turned away.
func (l *limiter) backoff(now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	wait := time.Duration(0)
	if l.limited {
		l.refill(now)
		if l.tokens < 1 {
			wait = time.Duration((1 - l.tokens) / l.rate * float64(time.Second))
		}
	}
	return l.backoffLocked(now, wait)
}

// backoffLocked hands out the next retry time: at least wait from now,
// and one turn (1/rate) after the last one handed out, with up to 10 %
// jitter, at most MaxBackoff. l.mu is held.
func (l *limiter) backoffLocked(now time.Time, wait time.Duration) time.Duration {
	o := &l.t.o
	rate := l.rate
	if !l.limited || rate <= 0 {
		rate = o.MinRate
	}
	at := now.Add(wait)
	if turn := l.next.Add(time.Duration(float64(time.Second) / rate)); turn.After(at) {
		at = turn
	}
	if limit := now.Add(o.MaxBackoff); at.After(limit) {
		at = limit
	}
	if at.After(l.next) {
		l.next = at
	}
	d := at.Sub(now)
	return min(d+time.Duration(rand.Float64()*0.1*float64(d)), o.MaxBackoff)
}
