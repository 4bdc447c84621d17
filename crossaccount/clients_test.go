package crossaccount

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/internal/faultproxy"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

// TestEngineSharesClients: through the engine, the findings of one
// shared session reuse the SDK client remediate.Client built for the
// first of them, even when they run at once, and yet every call carries
// its own finding's id in the user agent and its request id lands in its
// own finding's record. A strict session serves one finding, so each
// finding builds its own.
func TestEngineSharesClients(t *testing.T) {
	srv := mototest.Require(t, moto)
	accs := setUpCustomers(t, srv)
	for _, tt := range []struct {
		mode Mode
		// builds is the clients built for findings in two accounts:
		// perAccount findings each.
		builds func(perAccount int) int32
	}{
		{Shared, func(int) int32 { return 2 }},
		{Strict, func(n int) int32 { return int32(2 * n) }},
	} {
		t.Run(tt.mode.String(), func(t *testing.T) {
			apiRec := newRecorder()
			cache := newCache(t, srv, newRecorder(), accs, func(o *Options) {
				o.Mode = tt.mode
				o.Base.HTTPClient = apiRec.client()
			})
			var builds atomic.Int32
			rem := planRemediator{spec: callerSpec, plan: func(ctx context.Context, t remediate.Target) error {
				c := remediate.Client(t, "sts", func() *sts.Client { builds.Add(1); return sts.NewFromConfig(t.AWS) })
				out, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
				if err != nil {
					return err
				}
				if got := aws.ToString(out.Account); got != t.Finding.Resource.Account {
					return remediate.Permanentf("credentials act in account %s, not %s", got, t.Finding.Resource.Account)
				}
				return nil
			}}
			const perAccount = 6
			var findings []*remediate.Finding
			for i := range 2 * perAccount {
				findings = append(findings, bucketFinding(i, customers[i%2]))
			}
			eng := testEngine(t, cache, rem)
			records := make([]*audit.Record, len(findings))
			errs := make([]error, len(findings))
			var wg sync.WaitGroup
			for i, f := range findings {
				body, err := json.Marshal(f)
				if err != nil {
					t.Fatal(err)
				}
				wg.Go(func() {
					records[i], errs[i] = eng.Process(mototest.Context(t), remediate.Message{ID: "msg-" + f.ID, Body: body})
				})
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			if got, want := builds.Load(), tt.builds(perAccount); got != want {
				t.Errorf("%d clients built for %d findings in 2 accounts, want %d", got, len(findings), want)
			}
			calls := apiRec.recorded("GetCallerIdentity")
			if len(calls) != len(findings) {
				t.Fatalf("%d GetCallerIdentity calls, want %d", len(calls), len(findings))
			}
			// Each record holds the request id of exactly one call (besides
			// AssumeRole's), and that call's user agent names its finding.
			byID := make(map[string]recordedCall)
			for _, c := range calls {
				byID[c.RequestID] = c
			}
			for i, r := range records {
				if r.Outcome != string(remediate.OutcomeCompliant) {
					t.Errorf("finding %d: outcome %q (%s), want compliant", i, r.Outcome, r.FailureReason)
					continue
				}
				var mine []recordedCall
				for _, id := range r.Evidence.RequestIDs {
					if c, ok := byID[id]; ok {
						mine = append(mine, c)
					}
				}
				if len(mine) != 1 {
					t.Errorf("finding %d: record names %d of the GetCallerIdentity calls (request ids %v), want 1", i, len(mine), r.Evidence.RequestIDs)
					continue
				}
				want := UserAgentKey + "/" + findings[i].ID
				if ua := mine[0].UserAgent; !strings.Contains(ua, want) || strings.Count(ua, UserAgentKey+"/") != 1 {
					t.Errorf("finding %d: its call's user agent %q does not name %q exactly once", i, ua, want)
				}
			}
		})
	}
}

// TestSharedClientsReuseConnections: with the SDK's "standard" defaults
// mode (AWS_DEFAULTS_MODE), every SDK client gets a transport of its own,
// so a client built per finding opened a connection per finding (a TLS
// handshake each on AWS). Findings of one session share their client and
// so its connections.
func TestSharedClientsReuseConnections(t *testing.T) {
	srv := mototest.Require(t, moto)
	accs := setUpCustomers(t, srv)
	// moto closes every connection; the proxy keeps those of its clients.
	p, err := faultproxy.Start(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	front, dials := countingForwarder(t, strings.TrimPrefix(p.URL, "http://"))
	cache := newCache(t, srv, newRecorder(), accs, func(o *Options) {
		o.Base.BaseEndpoint = aws.String("http://" + front)
		o.Base.HTTPClient = awshttp.NewBuildableClient()
		o.Base.DefaultsMode = aws.DefaultsModeStandard
	})
	rem := planRemediator{spec: callerSpec, plan: func(ctx context.Context, t remediate.Target) error {
		_, err := remediate.Client(t, "sts", func() *sts.Client { return sts.NewFromConfig(t.AWS) }).
			GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		return err
	}}
	eng := testEngine(t, cache, rem)
	const n = 8
	for i := range n {
		body, err := json.Marshal(bucketFinding(i, customers[0]))
		if err != nil {
			t.Fatal(err)
		}
		r, err := eng.Process(mototest.Context(t), remediate.Message{ID: fmt.Sprint("msg-", i), Body: body})
		if err != nil || r.Outcome != string(remediate.OutcomeCompliant) {
			t.Fatalf("finding %d: %v, outcome %q (%s)", i, err, r.Outcome, r.FailureReason)
		}
	}
	if got := dials.Load(); got != 1 {
		t.Errorf("%d findings of one session, one after the other, opened %d connections, want 1", n, got)
	}
}

// countingForwarder forwards TCP connections to addr and counts them.
func countingForwarder(t *testing.T, addr string) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(up, c); up.Close() }()
				_, _ = io.Copy(c, up)
			}()
		}
	}()
	return ln.Addr().String(), &n
}

// TestConfigOutsideEngine: a Config asked for outside the engine (its
// context belongs to no finding) still names its finding in the user
// agent of calls made in any context, and only once.
func TestConfigOutsideEngine(t *testing.T) {
	srv := mototest.Require(t, moto)
	accs := setUpCustomers(t, srv)
	apiRec := newRecorder()
	cache := newCache(t, srv, newRecorder(), accs, func(o *Options) { o.Base.HTTPClient = apiRec.client() })
	ctx := mototest.Context(t)
	f := bucketFinding(7, customers[0])
	cfg, err := cache.Config(ctx, f, callerSpec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	calls := apiRec.recorded("GetCallerIdentity")
	want := UserAgentKey + "/" + f.ID
	if len(calls) != 1 || strings.Count(calls[0].UserAgent, want) != 1 {
		t.Fatalf("calls %+v: want one whose user agent names %q once", calls, want)
	}
}

// testEngine returns a real engine (dry run) whose policy approves rem's
// action, with creds as its credential source.
func testEngine(t *testing.T, creds remediate.CredentialSource, rem remediate.Remediator) *remediate.Engine {
	t.Helper()
	reg, err := remediate.NewRegistry(rem)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := remediate.NewEngine(remediate.Options{
		Parser: remediate.ParserFunc(func(b []byte) (*remediate.Finding, error) {
			var f remediate.Finding
			return &f, json.Unmarshal(b, &f)
		}),
		Policy: remediate.PolicyFunc(func(context.Context, *remediate.Finding) (remediate.Decision, error) {
			return remediate.Decision{Verdict: remediate.VerdictRemediate, Action: rem.Spec().Action}, nil
		}),
		Registry:    reg,
		Credentials: creds,
		Audit:       audit.Discard(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}
