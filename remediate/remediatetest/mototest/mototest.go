// Package mototest starts a moto server (the AWS API emulator) on
// 127.0.0.1 for integration tests, and builds AWS SDK configurations that
// talk to it over HTTP.
//
// Typical use, from a package's TestMain:
//
//	var moto *mototest.Server
//
//	func TestMain(m *testing.M) { os.Exit(mototest.Main(m, &moto)) }
//
//	func TestSomething(t *testing.T) {
//		srv := mototest.Require(t, moto)
//		cfg := srv.Config("us-east-1")
//		...
//	}
//
// When moto_server is not installed the tests skip with a message naming
// `make check`, unless REMEDY_REQUIRE_MOTO=1 is set (make check sets it),
// in which case they fail.
package mototest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// ErrNotInstalled is returned by Start when no moto_server can be found.
var ErrNotInstalled = errors.New("mototest: moto_server not found; run `make check` (it installs moto[server]==5.2.1) or `pip install 'moto[server]==5.2.1'`")

// RequireEnv names the environment variable that turns a missing moto
// into a test failure instead of a skip.
const RequireEnv = "REMEDY_REQUIRE_MOTO"

// DefaultAccount is the account moto uses for root credentials.
const DefaultAccount = "123456789012"

// Options configure Start.
type Options struct {
	// Env is added to the server's environment, such as
	// "INITIAL_NO_AUTH_ACTION_COUNT=0" to enforce IAM.
	Env []string
	// StartTimeout bounds how long Start waits for the server. Default
	// 2 minutes: moto takes about a second to start on an idle machine,
	// but `go test ./...` starts one per package at once, on machines as
	// small as two cores shared with other work.
	StartTimeout time.Duration
}

// Server is a running moto server.
type Server struct {
	// URL is the endpoint, such as "http://127.0.0.1:43121".
	URL  string
	cmd  *exec.Cmd
	done chan struct{}
}

// Start launches moto_server on a free 127.0.0.1 port and waits until it
// answers.
func Start(optFns ...func(*Options)) (*Server, error) {
	o := Options{StartTimeout: 2 * time.Minute}
	for _, fn := range optFns {
		fn(&o)
	}
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, ErrNotInstalled
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Env = append(os.Environ(), o.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = nil, &limitedWriter{w: &logs, n: 8 << 10}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("mototest: start %s: %w", bin, err)
	}
	s := &Server{URL: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()

	deadline := time.Now().Add(o.StartTimeout)
	for {
		resp, err := http.Get(s.URL + "/moto-api/data.json")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("mototest: moto_server exited during start-up: %s", logs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Close()
			return nil, fmt.Errorf("mototest: moto_server did not answer on %s within %s", s.URL, o.StartTimeout)
		}
	}
}

// Close stops the server and its child processes.
func (s *Server) Close() error {
	if s == nil || s.cmd.Process == nil {
		return nil
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
	return nil
}

// Reset drops every resource in every account.
func (s *Server) Reset() error {
	resp, err := http.Post(s.URL+"/moto-api/reset", "application/json", nil)
	if err != nil {
		return fmt.Errorf("mototest: reset: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("mototest: reset: HTTP %d", resp.StatusCode)
	}
	return nil
}

// Config returns an AWS configuration for region that sends every call to
// the server with moto's root test credentials.
func (s *Server) Config(region string) aws.Config {
	return s.ConfigWith(region, credentials.NewStaticCredentialsProvider("testing", "testing", ""))
}

// ConfigWith is Config with the given credentials.
func (s *Server) ConfigWith(region string, creds aws.CredentialsProvider) aws.Config {
	return aws.Config{
		Region:           region,
		Credentials:      creds,
		BaseEndpoint:     aws.String(s.URL),
		HTTPClient:       &http.Client{Timeout: 30 * time.Second},
		RetryMaxAttempts: 1,
	}
}

// Main starts a server into *srv, runs the tests and stops it. It returns
// the exit code for os.Exit. If moto is missing *srv stays nil and the
// tests that call Require skip (or fail under REMEDY_REQUIRE_MOTO=1).
func Main(m *testing.M, srv **Server, optFns ...func(*Options)) int {
	s, err := Start(optFns...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mototest: %v\n", err)
		if os.Getenv(RequireEnv) == "1" && errors.Is(err, ErrNotInstalled) {
			return 1
		}
	}
	*srv = s
	code := m.Run()
	if s != nil {
		s.Close()
	}
	return code
}

// Require returns srv, or skips the test (fails it under
// REMEDY_REQUIRE_MOTO=1) when the server did not start.
func Require(t testing.TB, srv *Server) *Server {
	t.Helper()
	if srv == nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatal("moto server not running; see the TestMain output")
		}
		t.Skip("moto_server not installed: integration test skipped; install it with pip install 'moto[server]==5.2.1' (Remedy's make check does) and run it again")
	}
	return srv
}

// ContextTimeout is the ceiling of Context: far longer than any test
// needs, even on a loaded machine, so that reaching it means something is
// stuck rather than slow.
const ContextTimeout = 5 * time.Minute

// Context returns a context that ends with the test, or after
// ContextTimeout.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), ContextTimeout)
	t.Cleanup(cancel)
	return ctx
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("mototest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type limitedWriter struct {
	w interface{ WriteString(string) (int, error) }
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		q := p
		if len(q) > l.n {
			q = q[:l.n]
		}
		l.n -= len(q)
		_, _ = l.w.WriteString(string(q))
	}
	return len(p), nil
}
