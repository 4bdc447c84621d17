// Package faultproxy is a small HTTP proxy on 127.0.0.1 that sits in
// front of an AWS emulator (moto) and injects faults — errors, latency —
// into the calls that match a rule, so that the SDK's real retry and
// error paths and Remedy's transient-error handling are exercised. It
// also counts calls by operation. It is test code: it never listens on
// anything but the loopback interface.
//
//	p, err := faultproxy.Start(moto.URL)
//	defer p.Close()
//	p.Add(faultproxy.Rule{Match: faultproxy.PathContains("/flaky-bucket"), Status: 503, Code: "SlowDown"})
//	cfg.BaseEndpoint = aws.String(p.URL)
//	...
//	p.Calls("AssumeRole") // STS calls that went through
package faultproxy

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Request is what a rule sees of a call.
type Request struct {
	Method, Path string
	// Operation is the AWS operation: the Action of query-protocol calls
	// (STS, SNS, IAM, EC2), the part after the dot of X-Amz-Target for
	// JSON-protocol calls (SQS, DynamoDB, KMS), or METHOD plus the path
	// for REST calls (S3).
	Operation string
	Body      []byte
}

// Rule injects a fault into matching calls.
type Rule struct {
	// Match selects the calls; nil matches every call.
	Match func(Request) bool
	// Delay is added before the call is answered (or forwarded).
	Delay time.Duration
	// Status, if non-zero, answers in the emulator's place with this
	// status and an error of code Code; zero forwards the call.
	Status int
	Code   string
	// AfterForward forwards the call first and then answers with the
	// error instead of the emulator's response: the call took effect but
	// its response was lost, as with a timeout after AWS acted.
	AfterForward bool
	// Times limits how many calls the rule applies to; zero is no limit.
	Times int
	// Forwarded, if set, is called after the emulator answered a matching
	// call and before the answer (or the fault) is sent back: the moment
	// a call has taken effect but its caller does not know yet. A test
	// kills a process there to prove crash safety. With neither Status
	// nor AfterForward set, the emulator's answer is sent after it.
	Forwarded func(Request)

	applied int
}

// PathContains matches calls whose path contains s (for S3 path-style
// calls, "/bucket-name").
func PathContains(s string) func(Request) bool {
	return func(r Request) bool { return strings.Contains(r.Path, s) }
}

// BodyContains matches calls whose body contains s (a queue URL, a
// group id, a table name).
func BodyContains(s string) func(Request) bool {
	return func(r Request) bool { return bytes.Contains(r.Body, []byte(s)) }
}

// Operation matches calls of one AWS operation, such as "AssumeRole".
func Operation(op string) func(Request) bool {
	return func(r Request) bool { return r.Operation == op }
}

// Proxy is a running proxy. It is safe for concurrent use.
type Proxy struct {
	// URL is the proxy's endpoint, for BaseEndpoint or AWS_ENDPOINT_URL.
	URL string

	srv *http.Server
	rp  *httputil.ReverseProxy

	mu    sync.Mutex
	rules []*Rule
	calls map[string]int
	fault map[string]int
	// spent is the time the emulator took to answer forwarded calls.
	spent map[string]time.Duration
	// record lists the operations whose requests are kept; kept holds them.
	record map[string]bool
	kept   map[string][]Request
}

// Start listens on a free 127.0.0.1 port and forwards to target.
func Start(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: target %q: %w", target, err)
	}
	if h := u.Hostname(); h != "127.0.0.1" && h != "localhost" && h != "::1" {
		return nil, fmt.Errorf("faultproxy: target %q is not on the loopback interface", target)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	p := &Proxy{URL: "http://" + l.Addr().String(), calls: map[string]int{}, fault: map[string]int{}, spent: map[string]time.Duration{}, record: map[string]bool{}, kept: map[string][]Request{}}
	p.rp = httputil.NewSingleHostReverseProxy(u)
	p.rp.Transport = &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second}
	// A client that hangs up (a long poll cut short by shutdown) is normal.
	p.rp.ErrorLog = log.New(io.Discard, "", 0)
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(l) }()
	return p, nil
}

// Add installs a rule. Rules are tried in the order added; the first
// that matches (and has applications left) applies.
func (p *Proxy) Add(r Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, &r)
}

// Record keeps the requests of operation op from now on, for Recorded.
func (p *Proxy) Record(op string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.record[op] = true
}

// Recorded returns the kept requests of operation op, oldest first.
func (p *Proxy) Recorded(op string) []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.kept[op]...)
}

// Reset removes every rule and forgets the counts and kept requests.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
	p.calls = map[string]int{}
	p.fault = map[string]int{}
	p.kept = map[string][]Request{}
}

// Calls returns how many calls of operation op reached the proxy.
func (p *Proxy) Calls(op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[op]
}

// Counts returns the number of calls of every operation so far.
func (p *Proxy) Counts() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.calls)
}

// Upstream returns, for every operation, the total time the emulator
// took to answer the calls that were forwarded (injected delays not
// included).
func (p *Proxy) Upstream() map[string]time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.spent)
}

// Faults returns how many calls of operation op were answered with an
// injected error.
func (p *Proxy) Faults(op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fault[op]
}

// Close stops the proxy.
func (p *Proxy) Close() error { return p.srv.Close() }

// ServeHTTP forwards r, or answers with the fault of the first rule that
// matches.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	req := Request{Method: r.Method, Path: r.URL.Path, Body: body, Operation: operation(r, body)}

	p.mu.Lock()
	p.calls[req.Operation]++
	if p.record[req.Operation] {
		p.kept[req.Operation] = append(p.kept[req.Operation], req)
	}
	var rule Rule
	for _, x := range p.rules {
		if (x.Match == nil || x.Match(req)) && (x.Times == 0 || x.applied < x.Times) {
			x.applied++
			rule = *x
			break
		}
	}
	if rule.Status != 0 {
		p.fault[req.Operation]++
	}
	p.mu.Unlock()

	if rule.Delay > 0 {
		select {
		case <-time.After(rule.Delay):
		case <-r.Context().Done():
			return
		}
	}
	if rule.Status != 0 {
		if rule.AfterForward {
			p.rp.ServeHTTP(httptest.NewRecorder(), r)
			if rule.Forwarded != nil {
				rule.Forwarded(req)
			}
		}
		writeError(w, r, rule.Status, rule.Code)
		return
	}
	start := time.Now()
	if rule.Forwarded != nil {
		rec := httptest.NewRecorder()
		p.rp.ServeHTTP(rec, r)
		rule.Forwarded(req)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	} else {
		p.rp.ServeHTTP(w, r)
	}
	d := time.Since(start)
	p.mu.Lock()
	p.spent[req.Operation] += d
	p.mu.Unlock()
}

// operation names the AWS operation of a call.
func operation(r *http.Request, body []byte) string {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		if i := strings.LastIndexByte(t, '.'); i >= 0 {
			return t[i+1:]
		}
		return t
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if v, err := url.ParseQuery(string(body)); err == nil && v.Get("Action") != "" {
			return v.Get("Action")
		}
	}
	if a := r.URL.Query().Get("Action"); a != "" {
		return a
	}
	return r.Method + " " + r.URL.Path
}

// writeError answers in the error format the caller's protocol expects.
func writeError(w http.ResponseWriter, r *http.Request, status int, code string) {
	if code == "" {
		code = "InternalError"
	}
	msg := "injected by faultproxy"
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json") {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amzn-Query-Error", code+";Sender")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"__type":%q,"message":%q}`, code, msg)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	if r.Header.Get("X-Amz-Target") == "" && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><RequestId>faultproxy</RequestId></Error>`, code, msg)
		return
	}
	fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>faultproxy</RequestId></ErrorResponse>`, code, msg)
}
