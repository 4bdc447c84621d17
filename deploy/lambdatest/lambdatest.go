// Package lambdatest runs a Lambda function binary under the AWS Lambda
// Runtime Interface Emulator (aws-lambda-rie) on 127.0.0.1, the way
// Lambda's provided.al2023 runtime runs it, for end-to-end tests and
// cold-start benchmarks.
//
//	bootstrap := lambdatest.Build(t, "./examples/lambda")
//	fn := lambdatest.Start(t, bootstrap, []string{"AWS_REGION=us-east-1", ...})
//	inv, err := fn.Invoke(ctx, event)
//	// inv.Response is the handler's JSON; inv.Init is the cold start.
//
// Emulator installs aws-lambda-rie with `go install` when it is missing.
// When it cannot, tests skip with a message saying how to install it, or fail
// under REMEDY_REQUIRE_MOTO=1 (which make check sets).
package lambdatest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/remedy-sec/remedy/internal/syncbuf"
)

// Module is the emulator's Go package and version, as go install takes it.
const Module = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

// requireEnv turns a missing emulator into a failure instead of a skip.
const requireEnv = "REMEDY_REQUIRE_MOTO"

// ceiling bounds each wait on the emulator (start-up, the REPORT line of
// an invocation). The emulator is quick on an idle machine; the ceiling
// is for a loaded one, where a fixed short wait would fail at random.
const ceiling = time.Minute

// Emulator returns the path of aws-lambda-rie: from PATH, from
// $(go env GOPATH)/bin, or installed there now with go install.
func Emulator(t testing.TB) string {
	t.Helper()
	path, err := findOrInstall()
	if err != nil {
		if os.Getenv(requireEnv) == "1" {
			t.Fatalf("lambdatest: %v", err)
		}
		t.Skipf("lambdatest: %v; install it with go install '%s' (Remedy's make check does) and run it again", err, Module)
	}
	return path
}

func findOrInstall() (string, error) {
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p, nil
	}
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOPATH: %w", err)
	}
	bin := filepath.Join(strings.TrimSpace(strings.SplitN(string(gopath), string(os.PathListSeparator), 2)[0]), "bin", "aws-lambda-rie")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	// Concurrent installs are safe: go install replaces the file atomically.
	out, err := exec.Command("go", "install", Module).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("aws-lambda-rie is not installed and `go install %s` failed: %v\n%s", Module, err, out)
	}
	return bin, nil
}

// Build compiles the main package pkg (a path relative to the test's
// directory or an import path) as Lambda runs it on provided.al2023 —
// static, stripped, without the legacy RPC mode — into a file named
// bootstrap in a temporary directory, and returns its path. Other
// binaries built with it (a worker, a CLI) share its compiled packages.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("lambdatest: build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// Function is a Lambda binary running under the emulator.
type Function struct {
	// URL is the invoke endpoint.
	URL  string
	cmd  *exec.Cmd
	logs *syncbuf.Buffer
	done chan struct{}
	api  *http.Server

	mu        sync.Mutex
	firstNext time.Time // when the runtime first asked for an event: init done
}

// Start runs bootstrap under the emulator on free 127.0.0.1 ports with
// env added to a minimal environment (PATH, HOME), and waits until the
// emulator accepts connections. The function itself starts (its init
// phase) on the first Invoke, as on Lambda. It stops when the test ends.
func Start(t testing.TB, bootstrap string, env []string) *Function {
	t.Helper()
	rie := Emulator(t)
	f, err := start(rie, bootstrap, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Close()
		if t.Failed() {
			t.Logf("emulator and function output:\n%s", f.Logs())
		}
	})
	return f
}

func start(rie, bootstrap string, env []string) (*Function, error) {
	apiPort, err := freePort()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	f := &Function{URL: "http://" + addr + "/2015-03-31/functions/function/invocations", done: make(chan struct{})}

	// The emulator's own "Init Duration" only times handing the init to
	// its sandbox, which is asynchronous. Lambda's init phase ends when
	// the runtime first asks for an event, so the function talks to the
	// Runtime API through a proxy that notes when that happens. A wrapper
	// script points the function at it (the emulator sets
	// AWS_LAMBDA_RUNTIME_API itself); its exec costs about a millisecond,
	// which the measured init includes.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("lambdatest: listen: %w", err)
	}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(apiPort)})
	rp.FlushInterval = -1
	// Close cuts the runtime's long poll for the next event; that is normal.
	rp.ErrorLog = log.New(io.Discard, "", 0)
	f.api = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/runtime/invocation/next") {
			f.mu.Lock()
			if f.firstNext.IsZero() {
				f.firstNext = time.Now()
			}
			f.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = f.api.Serve(l) }()
	wrapper := filepath.Join(filepath.Dir(bootstrap), "lambdatest-bootstrap")
	script := "#!/bin/sh\nAWS_LAMBDA_RUNTIME_API=" + l.Addr().String() + " exec " + shellQuote(bootstrap) + "\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o700); err != nil {
		f.api.Close()
		return nil, fmt.Errorf("lambdatest: %w", err)
	}

	cmd := exec.Command(rie,
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(apiPort),
		"--log-level", "error",
		wrapper)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LAMBDA_TASK_ROOT=" + filepath.Dir(bootstrap)}, env...)
	logs := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	// Its own process group, so that Close stops the function too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.api.Close()
		return nil, fmt.Errorf("lambdatest: start %s: %w", rie, err)
	}
	f.cmd, f.logs = cmd, logs
	go func() { _ = cmd.Wait(); close(f.done) }()
	deadline := time.Now().Add(ceiling)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return f, nil
		}
		select {
		case <-f.done:
			return nil, fmt.Errorf("lambdatest: the emulator exited during start-up:\n%s", logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("lambdatest: the emulator did not listen on %s within %s:\n%s", addr, ceiling, logs.String())
		}
	}
}

// Invocation is the result of one Invoke.
type Invocation struct {
	// Response is the body the handler returned (JSON), or the error
	// document of a failed invocation.
	Response []byte
	// Status is the emulator's HTTP status.
	Status int
	// Wall is the invoke request's round trip as the caller saw it; on a
	// cold start it includes Init.
	Wall time.Duration
	// Init is the function's init phase on a cold start, as Lambda counts
	// it: from the invoke that started the function to its first request
	// for an event (everything main does before lambda.Start, and Go's
	// start-up). Zero when the function was already initialized.
	Init time.Duration
	// Duration is the invoke duration the emulator reported.
	Duration time.Duration
	// RequestID is the invocation's request id.
	RequestID string
}

var reportRE = regexp.MustCompile(`REPORT RequestId: (\S+)\t(?:Init Duration: [0-9.]+ ms\t)?Duration: ([0-9.]+) ms`)

// Invoke sends payload (the event, as JSON) and waits for the handler's
// response and the emulator's REPORT line.
func (f *Function) Invoke(ctx context.Context, payload []byte) (Invocation, error) {
	reqID := fmt.Sprintf("lambdatest-%d", time.Now().UnixNano())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.URL, bytes.NewReader(payload))
	if err != nil {
		return Invocation{}, err
	}
	req.Header.Set("X-Amzn-RequestId", reqID)
	f.mu.Lock()
	cold := f.firstNext.IsZero()
	f.mu.Unlock()
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Invocation{}, fmt.Errorf("lambdatest: invoke: %w", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	inv := Invocation{Response: body, Status: resp.StatusCode, Wall: time.Since(start), RequestID: reqID}
	if err != nil {
		return inv, fmt.Errorf("lambdatest: read response: %w", err)
	}
	if cold {
		f.mu.Lock()
		if !f.firstNext.IsZero() {
			inv.Init = f.firstNext.Sub(start)
		}
		f.mu.Unlock()
	}
	// The REPORT line is printed just before the response is written, but
	// reaches the log buffer through a pipe and a copying goroutine, which
	// may be scheduled late on a busy machine.
	wait := time.NewTimer(ceiling)
	defer wait.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, m := range reportRE.FindAllStringSubmatch(f.logs.String(), -1) {
			if m[1] != reqID {
				continue
			}
			inv.Duration = ms(m[2])
			if resp.StatusCode != http.StatusOK {
				return inv, fmt.Errorf("lambdatest: invoke: HTTP %d: %s", resp.StatusCode, body)
			}
			return inv, nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return inv, fmt.Errorf("lambdatest: no REPORT line for request %s (HTTP %d: %s): %w", reqID, resp.StatusCode, body, ctx.Err())
		case <-wait.C:
			return inv, fmt.Errorf("lambdatest: no REPORT line for request %s within %s (HTTP %d: %s)", reqID, ceiling, resp.StatusCode, body)
		}
	}
}

func ms(s string) time.Duration {
	v, _ := strconv.ParseFloat(s, 64)
	return time.Duration(v * float64(time.Millisecond))
}

// Logs returns everything the emulator and the function wrote so far:
// the function's stdout (audit records, on Lambda CloudWatch Logs) and
// stderr, and the emulator's START/END/REPORT lines.
func (f *Function) Logs() string { return f.logs.String() }

// Close stops the emulator and the function.
func (f *Function) Close() {
	defer f.api.Close()
	if f.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-f.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-f.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-f.cmd.Process.Pid, syscall.SIGKILL)
		<-f.done
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("lambdatest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
