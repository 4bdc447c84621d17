// Package e2e runs Remedy's reference deployment end to end on this
// machine: moto stands in for AWS (STS, S3, EC2, SNS, SQS, DynamoDB), the
// Lambda binary runs under the AWS Lambda Runtime Interface Emulator, the
// worker binary runs as a process, and a fault-injecting proxy in front of
// moto makes chosen calls fail. Nothing is mocked inside the binaries.
package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/deploy/lambdatest"
	"github.com/remedy-sec/remedy/internal/faultproxy"
	"github.com/remedy-sec/remedy/internal/scenario"
	"github.com/remedy-sec/remedy/internal/syncbuf"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

var moto *mototest.Server

func TestMain(m *testing.M) { os.Exit(mototest.Main(m, &moto)) }

// world is a scenario with its findings.
type world struct {
	*scenario.World
	proxy *faultproxy.Proxy
	// want is the outcome each finding id must end with; the rejected
	// payload has no finding id and is counted apart.
	want map[string]string
	// bodies are the payloads published, in order.
	bodies [][]byte
	// flaky is the finding whose S3 calls fail (in the Lambda test, every
	// time; in the worker test, the first attempt).
	flaky, flakyBucket string
	// sg is the open security group in the staging account.
	sg string
}

const (
	prod       = "111111111111"
	staging    = "222222222222"
	restricted = "333333333333"
)

// newWorld builds the small scenario of the end-to-end tests: eight
// findings over three accounts, one of each kind of outcome, plus one
// whose S3 calls are made to fail.
func newWorld(t *testing.T, name string, o scenario.Options) *world {
	t.Helper()
	srv := mototest.Require(t, moto)
	ctx := mototest.Context(t)
	o.Name = name + "-" + strings.ToLower(rand.Text()[:6])
	w, err := scenario.New(ctx, srv, t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	p, err := faultproxy.Start(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	p.Record("AssumeRole")
	x := &world{World: w, proxy: p, want: map[string]string{}}
	n := w.Name
	bucket := func(account, b string) {
		t.Helper()
		if err := w.CreatePublicBucket(ctx, account, b); err != nil {
			t.Fatal(err)
		}
	}
	add := func(outcome string, f scenario.Finding) {
		x.want[f.ID] = outcome
		x.bodies = append(x.bodies, w.Payload(f))
	}
	owner := "payments-team@example.com"
	bucket(prod, n+"-payments")
	add("applied", scenario.Finding{ID: n + "-payments", Account: prod, Bucket: n + "-payments", Owner: owner})
	bucket(staging, n+"-artifacts")
	add("applied", scenario.Finding{ID: n + "-artifacts", Account: staging, Bucket: n + "-artifacts", Environment: "staging", Owner: owner})
	if x.sg, err = w.CreateOpenSecurityGroup(ctx, staging, n+"-ssh"); err != nil {
		t.Fatal(err)
	}
	add("applied", scenario.Finding{ID: n + "-ssh", Account: staging, GroupID: x.sg, Owner: owner})
	bucket(restricted, n+"-vault")
	add("review", scenario.Finding{ID: n + "-vault", Account: restricted, Bucket: n + "-vault", Owner: owner})
	bucket(prod, n+"-orphan")
	add("review", scenario.Finding{ID: n + "-orphan", Account: prod, Bucket: n + "-orphan"})
	bucket(prod, n+"-low")
	add("skipped", scenario.Finding{ID: n + "-low", Account: prod, Bucket: n + "-low", Owner: owner, Severity: "LOW"})
	x.bodies = append(x.bodies, []byte(`{"trigger":{"source":"ISSUES","type":"CREATED"},"issue":{"id":"`+n+`-broken"`)) // truncated: rejected
	x.flaky, x.flakyBucket = n+"-flaky", n+"-flaky"
	bucket(prod, x.flakyBucket)
	add("applied", scenario.Finding{ID: x.flaky, Account: prod, Bucket: x.flakyBucket, Owner: owner})
	return x
}

// checkOutcomes checks the audit table: one terminal record per finding
// with the expected outcome, one rejected record for the broken payload,
// and for each dead-lettered message the records listed in dead.
func (x *world) checkOutcomes(t *testing.T, ctx context.Context, wantDead []string) []audit.Record {
	t.Helper()
	recs, err := x.AuditRecords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	count := map[string]int{}
	rejected := 0
	var dead []string
	for _, r := range recs {
		switch {
		case r.Outcome == "rejected":
			rejected++
		case r.Outcome == string(remediate.OutcomeDeadLettered):
			dead = append(dead, r.Finding.ID)
		default:
			got[r.Finding.ID] = r.Outcome
			count[r.Finding.ID]++
		}
	}
	if d := cmp.Diff(x.want, got); d != "" {
		t.Errorf("outcomes in the audit table (-want +got):\n%s", d)
	}
	for id, n := range count {
		if n != 1 {
			t.Errorf("finding %s has %d terminal audit records, want 1", id, n)
		}
	}
	if rejected != 1 {
		t.Errorf("%d rejected records, want 1 (the truncated payload)", rejected)
	}
	slices.Sort(dead)
	if d := cmp.Diff(wantDead, dead); d != "" {
		t.Errorf("dead-lettered records (-want +got):\n%s", d)
	}
	return recs
}

// checkResources checks the live state in each account: the fixes landed
// where the findings were, and nowhere else.
func (x *world) checkResources(t *testing.T, ctx context.Context) {
	t.Helper()
	n := x.Name
	for _, c := range []struct {
		account, bucket string
		blocked         bool
	}{
		{prod, n + "-payments", true},
		{staging, n + "-artifacts", true},
		{restricted, n + "-vault", false},
		{prod, n + "-orphan", false},
		{prod, n + "-low", false},
		{prod, x.flakyBucket, x.want[x.flaky] == "applied"},
	} {
		got, err := x.BucketBlocksPublicAccess(ctx, c.account, c.bucket)
		if err != nil {
			t.Error(err)
			continue
		}
		if got != c.blocked {
			t.Errorf("bucket %s in account %s: blocks public access = %v, want %v", c.bucket, c.account, got, c.blocked)
		}
	}
	ports, err := x.PublicIngressPorts(ctx, staging, x.sg)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]int32{443}, ports); d != "" {
		t.Errorf("security group %s: ports open to 0.0.0.0/0 (-want +got):\n%s", x.sg, d)
	}
}

// checkAssumed checks which roles were assumed, and how often: shared
// sessions mean one AssumeRole per account and action.
func (x *world) checkAssumed(t *testing.T, want map[string]int) {
	t.Helper()
	got := map[string]int{}
	for _, r := range x.proxy.Recorded("AssumeRole") {
		v, err := url.ParseQuery(string(r.Body))
		if err != nil {
			t.Fatal(err)
		}
		got[v.Get("RoleArn")]++
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("AssumeRole calls by role (-want +got):\n%s", d)
	}
}

func roleOf(account string) string { return "arn:aws:iam::" + account + ":role/" + scenario.RoleName }

// checkReviews checks that the review queue holds one message per review
// case, with the context a person needs, and reports the one rejected
// payload.
func (x *world) checkReviews(t *testing.T, ctx context.Context, extra ...string) {
	t.Helper()
	msgs, err := x.ReviewMessages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for id, o := range x.want {
		if o == "review" || o == "failed" {
			want = append(want, id)
		}
	}
	want = append(want, extra...)
	rejections := 0
	for _, m := range msgs {
		if m.Rejections != nil { // rejected payloads, grouped by reason
			rejections += m.Rejections.Count
			continue
		}
		got = append(got, m.Finding.ID)
		if m.Resource.Account == "" || m.Subject == "" || (m.FailureReason == "" && len(m.Reasons) == 0) || m.RecordID == "" {
			t.Errorf("review message for %s lacks context: %+v", m.Finding.ID, m)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("review messages by finding (-want +got):\n%s", d)
	}
	if rejections != 1 {
		t.Errorf("review messages report %d rejections, want 1 (the broken payload)", rejections)
	}
}

// buildWorker builds examples/worker. Every binary of these tests is
// built with lambdatest.Build's flags, so the packages they share compile
// once.
func buildWorker(t testing.TB) string { return lambdatest.Build(t, "../examples/worker") }

// buildRemedy builds the operator CLI.
func buildRemedy(t testing.TB) string { return lambdatest.Build(t, "../cmd/remedy") }

// process is a running binary with its output captured.
type process struct {
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{}
	err  error
}

func startProcess(t *testing.T, bin string, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	p := &process{cmd: cmd, out: &syncbuf.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(bin), p.out.String())
		}
	})
	return p
}

// stop sends SIGTERM and waits for the process to exit.
func (p *process) stop(t *testing.T, within time.Duration) error {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(within):
		return fmt.Errorf("did not exit within %s of SIGTERM", within)
	}
}
