// Package faultproxy is a small HTTP proxy on 127.0.0.1 that sits in
// front of an AWS emulator (moto) and injects faults — errors in each
// service's own format (see Throttled and Unavailable), connection
// resets, latency, lost answers to calls that took effect — into the
// calls that match a rule, so that the SDK's real retry and error paths
// and Remedy's transient-error handling are exercised. Rules match calls
// by operation, path, body or the customer account whose assumed role
// signed them (Account). It also counts
// calls by operation, can log the calls that write a resource (LogWrites),
// and can serialize the calls to one item (SerializeBy), as DynamoDB
// does and moto does not. It is test code: it never listens on anything
// but the loopback interface.
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
	"encoding/json"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
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
	// Service is the signing name in the call's SigV4 credential scope
	// ("s3", "ec2", "sts", "kms", "dynamodb", "sns", "sqs"), or empty for
	// an unsigned call.
	Service string
	// Account is the account whose assumed-role credentials signed the
	// call, when the proxy saw them handed out (see Account), or empty.
	Account string
	// Header is the call's header; rules must not change it.
	Header http.Header
	Body   []byte
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
	// Reset, instead of answering, closes the connection with a TCP reset:
	// the caller sees "connection reset by peer". With AfterForward the
	// call reaches the emulator first (the call took effect, the
	// connection died before the answer).
	Reset bool
	// Choose, if set, decides call by call among the calls Match selects,
	// for randomized faults: it returns the fault to inject (the Delay,
	// Status, Code, AfterForward, Reset and Forwarded of the returned
	// rule; its other fields are ignored) and true, or false to leave the
	// call to the next rules. It runs under the proxy's lock and must not
	// call the proxy.
	Choose func(Request) (Rule, bool)

	applied int
}

// faulted reports whether the rule answers with a fault.
func (r Rule) faulted() bool { return r.Status != 0 || r.Reset }

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

// Account matches the calls signed with credentials of an assumed role
// in account, as Remedy's calls in a customer account are: the proxy
// learns which access key belongs to which account from the AssumeRole
// answers it forwards, so the AssumeRole call must go through the proxy
// too. It does not match the AssumeRole call itself, which the
// platform's credentials sign.
func Account(account string) func(Request) bool {
	return func(r Request) bool { return r.Account == account }
}

// Proxy is a running proxy. It is safe for concurrent use.
type Proxy struct {
	// URL is the proxy's endpoint, for BaseEndpoint or AWS_ENDPOINT_URL.
	URL string

	srv *http.Server
	rp  *httputil.ReverseProxy

	mu    sync.Mutex
	seq   int // calls so far
	rules []*Rule
	calls map[string]int
	fault map[string]int
	// spent is the time the emulator took to answer forwarded calls.
	spent map[string]time.Duration
	// record lists the operations whose requests are kept; kept holds them.
	record map[string]bool
	kept   map[string][]Request
	// writeOf names the resource a call writes (see LogWrites); writes
	// is the log.
	writeOf func(Request) string
	writes  []Write
	// itemOf names the item a call must have to itself (see SerializeBy);
	// items holds the locks of the items in use.
	itemOf func(Request) string
	items  map[string]*itemLock
	// keyAccount maps the access keys of assumed roles to their account.
	keyAccount map[string]string
}

// itemLock serializes the calls to one item; n counts the calls holding
// or waiting for it.
type itemLock struct {
	mu sync.Mutex
	n  int
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
	p := &Proxy{URL: "http://" + l.Addr().String(), calls: map[string]int{}, fault: map[string]int{}, spent: map[string]time.Duration{}, record: map[string]bool{}, kept: map[string][]Request{}, items: map[string]*itemLock{}, keyAccount: map[string]string{}}
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

// Reset removes every rule and forgets the counts, the kept requests and
// the write log.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
	p.calls = map[string]int{}
	p.fault = map[string]int{}
	p.kept = map[string][]Request{}
	p.writes = nil
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

// Write is one call that LogWrites logged.
type Write struct {
	// Resource is what the log's function named, such as a bucket.
	Resource  string
	Operation string
	// Invocation is the SDK's amz-sdk-invocation-id: the SDK's retries of
	// one call share it. Attempt is that retry's number, from 1 (0 when
	// the SDK did not say).
	Invocation string
	Attempt    int
	// Forwarded is true when the call reached the emulator; Status is
	// then the emulator's answer (which the caller may not have had).
	Forwarded bool
	Status    int
	// Fault is the code of the injected fault ("reset" for a connection
	// reset), or empty.
	Fault string
	// Seq orders the log: the call was the Seq-th to reach the proxy.
	Seq int
}

// Took reports whether the call changed something: it reached the
// emulator and the emulator answered with success.
func (w Write) Took() bool { return w.Forwarded && w.Status >= 200 && w.Status < 300 }

// LogWrites logs, from now on, every call for which resource returns a
// non-empty name (the resource the call writes), whether or not it was
// faulted or reached the emulator; Writes returns the log. resource runs
// under the proxy's lock and must not call the proxy.
func (p *Proxy) LogWrites(resource func(Request) string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.writeOf = resource
}

// Writes returns the write log, in the order the calls reached the
// proxy (Seq): a call's entry is added once it is answered, so a retry
// may be logged before the reset call it follows.
func (p *Proxy) Writes() []Write {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := append([]Write(nil), p.writes...)
	slices.SortFunc(out, func(a, b Write) int { return a.Seq - b.Seq })
	return out
}

// SerializeBy makes the calls for which item returns the same non-empty
// name reach the emulator one at a time, as DynamoDB applies the writes
// to one item (see DynamoDBItem). Faults are decided before; a fault
// answered without forwarding waits for nothing. item runs under the
// proxy's lock and must not call the proxy.
func (p *Proxy) SerializeBy(item func(Request) string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.itemOf = item
}

// lockItem waits until the call has item to itself and returns the
// function that gives it up.
func (p *Proxy) lockItem(item string) (unlock func()) {
	if item == "" {
		return func() {}
	}
	p.mu.Lock()
	l := p.items[item]
	if l == nil {
		l = &itemLock{}
		p.items[item] = l
	}
	l.n++
	p.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		p.mu.Lock()
		l.n--
		if l.n == 0 {
			delete(p.items, item)
		}
		p.mu.Unlock()
	}
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
	req := Request{Method: r.Method, Path: r.URL.Path, Body: body, Operation: operation(r, body), Service: service(r), Header: r.Header}

	p.mu.Lock()
	req.Account = p.keyAccount[accessKey(r)]
	p.calls[req.Operation]++
	p.seq++
	seq := p.seq
	if p.record[req.Operation] {
		p.kept[req.Operation] = append(p.kept[req.Operation], req)
	}
	var rule Rule
	for _, x := range p.rules {
		if x.Times != 0 && x.applied >= x.Times || x.Match != nil && !x.Match(req) {
			continue
		}
		if x.Choose == nil {
			rule = *x
		} else {
			c, ok := x.Choose(req)
			if !ok {
				continue
			}
			rule = Rule{Delay: c.Delay, Status: c.Status, Code: c.Code, AfterForward: c.AfterForward, Reset: c.Reset, Forwarded: c.Forwarded}
		}
		x.applied++
		break
	}
	if rule.faulted() {
		p.fault[req.Operation]++
	}
	var write *Write
	if p.writeOf != nil {
		if res := p.writeOf(req); res != "" {
			write = &Write{Resource: res, Operation: req.Operation, Invocation: r.Header.Get("Amz-Sdk-Invocation-Id"), Attempt: attempt(r), Seq: seq}
			if rule.faulted() {
				write.Fault = rule.Code
				if rule.Reset {
					write.Fault = "reset"
				}
			}
		}
	}
	var item string
	if p.itemOf != nil {
		item = p.itemOf(req)
	}
	p.mu.Unlock()
	if write != nil {
		defer func() {
			p.mu.Lock()
			p.writes = append(p.writes, *write)
			p.mu.Unlock()
		}()
	}

	if rule.Delay > 0 {
		select {
		case <-time.After(rule.Delay):
		case <-r.Context().Done():
			return
		}
	}
	if rule.faulted() && !rule.AfterForward {
		p.answerFault(w, r, req, rule)
		return
	}
	// The emulator's answer is held back when the caller must not have it
	// yet (Forwarded) or at all (a fault after forwarding).
	var rec *httptest.ResponseRecorder
	out := &statusWriter{ResponseWriter: w}
	var dst http.ResponseWriter = out
	if rule.faulted() || rule.Forwarded != nil || req.Operation == "AssumeRole" {
		rec = httptest.NewRecorder()
		dst = rec
	}
	unlock := p.lockItem(item)
	start := time.Now()
	p.rp.ServeHTTP(dst, r)
	d := time.Since(start)
	unlock()
	p.mu.Lock()
	p.spent[req.Operation] += d
	if req.Operation == "AssumeRole" && !rule.faulted() {
		p.learnKey(req, rec.Body.Bytes())
	}
	p.mu.Unlock()
	if write != nil {
		write.Forwarded, write.Status = true, out.status
		if rec != nil {
			write.Status = rec.Code
		}
	}
	if rule.Forwarded != nil {
		rule.Forwarded(req)
	}
	switch {
	case rule.faulted():
		p.answerFault(w, r, req, rule)
	case rec != nil:
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}
}

// answerFault answers with the rule's error, or resets the connection.
func (p *Proxy) answerFault(w http.ResponseWriter, r *http.Request, req Request, rule Rule) {
	if rule.Reset {
		resetConn(w)
		return
	}
	writeError(w, r, req.Service, rule.Status, rule.Code)
}

// resetConn closes the caller's connection with a TCP reset (no FIN, no
// answer).
func resetConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler) // closes the connection, if not with a reset
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// learnKey notes the account of the access key an AssumeRole answer
// hands out: the account of the role the request names. p.mu is held.
func (p *Proxy) learnKey(req Request, answer []byte) {
	form, err := url.ParseQuery(string(req.Body))
	if err != nil {
		return
	}
	// arn:aws:iam::ACCOUNT:role/NAME
	parts := strings.SplitN(form.Get("RoleArn"), ":", 6)
	_, rest, ok := bytes.Cut(answer, []byte("<AccessKeyId>"))
	key, _, ok2 := bytes.Cut(rest, []byte("</AccessKeyId>"))
	if len(parts) != 6 || parts[4] == "" || !ok || !ok2 {
		return
	}
	p.keyAccount[string(bytes.TrimSpace(key))] = parts[4]
}

// accessKey returns the access key id of r's SigV4 credential scope.
func accessKey(r *http.Request) string {
	_, cred, ok := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	if !ok {
		return ""
	}
	key, _, _ := strings.Cut(cred, "/")
	return key
}

// statusWriter remembers the status written through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Flush lets the reverse proxy flush streamed answers.
func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// service returns the signing name of r's SigV4 credential scope:
// Credential=AKID/DATE/REGION/SERVICE/aws4_request.
func service(r *http.Request) string {
	_, cred, ok := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	if !ok {
		return ""
	}
	cred, _, _ = strings.Cut(cred, ",")
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return ""
	}
	return parts[3]
}

// attempt returns the SDK's attempt number from amz-sdk-request
// ("attempt=2; max=3"), or 0.
func attempt(r *http.Request) int {
	for _, f := range strings.Split(r.Header.Get("Amz-Sdk-Request"), ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(f), "attempt="); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
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
func writeError(w http.ResponseWriter, r *http.Request, service string, status int, code string) {
	if code == "" {
		code = "InternalError"
	}
	msg := "injected by faultproxy"
	if ct := r.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/x-amz-json") {
		w.Header().Set("Content-Type", ct)
		w.Header().Set("X-Amzn-Query-Error", code+";Sender")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"__type":%q,"message":%q}`, code, msg)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	switch {
	case service == "ec2":
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>faultproxy</RequestID></Response>`, code, msg)
	case r.Header.Get("X-Amz-Target") == "" && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded"):
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><RequestId>faultproxy</RequestId></Error>`, code, msg)
	default:
		fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>faultproxy</RequestId></ErrorResponse>`, code, msg)
	}
}

// Throttled returns the status and error code with which service (a
// signing name, as in Request.Service) answers a call it throttles. The
// AWS SDKs retry each as a throttling error.
func Throttled(service string) (status int, code string) {
	switch service {
	case "s3":
		return http.StatusServiceUnavailable, "SlowDown"
	case "ec2":
		return http.StatusServiceUnavailable, "RequestLimitExceeded"
	case "sts", "sns", "iam":
		return http.StatusBadRequest, "Throttling"
	case "sqs":
		return http.StatusBadRequest, "RequestThrottled"
	}
	return http.StatusBadRequest, "ThrottlingException" // kms, dynamodb and most JSON services
}

// Unavailable returns the status and error code of service's internal
// error, which the AWS SDKs retry.
func Unavailable(service string) (status int, code string) {
	switch service {
	case "s3", "ec2", "sns":
		return http.StatusInternalServerError, "InternalError"
	case "kms":
		return http.StatusInternalServerError, "KMSInternalException"
	case "dynamodb":
		return http.StatusInternalServerError, "InternalServerError"
	}
	return http.StatusServiceUnavailable, "ServiceUnavailable" // sts, sqs and others
}

// DynamoDBItem names the item a DynamoDB call with a Key (GetItem,
// UpdateItem, DeleteItem) is about, as "table key-json", or returns ""
// for other calls; for SerializeBy.
func DynamoDBItem(r Request) string {
	if r.Service != "dynamodb" {
		return ""
	}
	var in struct {
		TableName string
		Key       map[string]json.RawMessage
	}
	if err := json.Unmarshal(r.Body, &in); err != nil || in.TableName == "" || len(in.Key) == 0 {
		return ""
	}
	key, err := json.Marshal(in.Key) // map keys sorted: one name per item
	if err != nil {
		return ""
	}
	return in.TableName + " " + string(key)
}
