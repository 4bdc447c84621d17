package faultproxy_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/remedy-sec/remedy/internal/faultproxy"
)

// TestProxy: calls are forwarded, counted by operation, and the first
// matching rule answers with its fault the number of times it allows.
func TestProxy(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok "+r.URL.Path)
	}))
	defer backend.Close()
	p, err := faultproxy.Start(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Record("AssumeRole")
	p.Add(faultproxy.Rule{Match: faultproxy.PathContains("/flaky"), Status: 503, Code: "SlowDown", Times: 2})
	p.Add(faultproxy.Rule{Match: faultproxy.Operation("AssumeRole"), Delay: 50 * time.Millisecond})

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(p.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for i, want := range []int{503, 503, 200} {
		code, body := get("/flaky-bucket")
		if code != want {
			t.Errorf("call %d to /flaky-bucket: %d %s, want %d", i+1, code, body, want)
		}
		if code == 503 && !strings.Contains(body, "<Code>SlowDown</Code>") {
			t.Errorf("fault body %q is not an S3 error", body)
		}
	}
	if code, body := get("/other"); code != 200 || body != "ok /other" {
		t.Errorf("/other: %d %q", code, body)
	}
	start := time.Now()
	resp, err := http.Post(p.URL+"/", "application/x-www-form-urlencoded", strings.NewReader("Action=AssumeRole&RoleArn=r"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("AssumeRole answered after %v, want the 50ms delay", d)
	}
	if got := p.Calls("GET /flaky-bucket"); got != 3 {
		t.Errorf("counted %d calls to /flaky-bucket, want 3", got)
	}
	if got := p.Faults("GET /flaky-bucket"); got != 2 {
		t.Errorf("counted %d faults, want 2", got)
	}
	if rec := p.Recorded("AssumeRole"); len(rec) != 1 || !strings.Contains(string(rec[0].Body), "RoleArn=r") {
		t.Errorf("recorded AssumeRole calls: %+v", rec)
	}
	if _, err := faultproxy.Start("http://10.0.0.1:80"); err == nil {
		t.Error("Start accepted a target off the loopback interface")
	}
}

// TestAfterForward: the call reaches the backend, and the caller gets
// the injected error instead of its response.
func TestAfterForward(t *testing.T) {
	var reached atomic.Int32
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		io.WriteString(w, "done")
	}))
	defer backend.Close()
	p, err := faultproxy.Start(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Add(faultproxy.Rule{Status: 500, Code: "InternalError", AfterForward: true, Times: 1})
	for i, want := range []int{500, 200} {
		req, _ := http.NewRequest(http.MethodPut, p.URL+"/bucket?publicAccessBlock", strings.NewReader("<x/>"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want || int(reached.Load()) != i+1 {
			t.Errorf("call %d: status %d, backend reached %d times; want %d and %d", i+1, resp.StatusCode, reached.Load(), want, i+1)
		}
	}
}

// TestForwarded: the hook runs after the emulator acted and before the
// caller has its answer, which then arrives unchanged.
func TestForwarded(t *testing.T) {
	var acted atomic.Bool
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		acted.Store(true)
		w.Header().Set("X-Test", "yes")
		w.WriteHeader(201)
		io.WriteString(w, "made")
	}))
	defer backend.Close()
	p, err := faultproxy.Start(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	answered := make(chan struct{})
	var sawActed atomic.Bool
	p.Add(faultproxy.Rule{Match: faultproxy.PathContains("/x"), Forwarded: func(faultproxy.Request) {
		sawActed.Store(acted.Load())
		select {
		case <-answered:
			t.Error("the caller had its answer before the hook ran")
		default:
		}
	}})
	resp, err := http.Post(p.URL+"/x", "text/plain", strings.NewReader("b"))
	if err != nil {
		t.Fatal(err)
	}
	close(answered)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 || string(b) != "made" || resp.Header.Get("X-Test") != "yes" {
		t.Errorf("answer %d %q %v, want the backend's 201 made", resp.StatusCode, b, resp.Header)
	}
	if !sawActed.Load() {
		t.Error("the hook ran before the backend acted")
	}
}
