package faultproxy_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/remedy-sec/remedy/internal/faultproxy"
)

// sdkConfig returns an SDK configuration that sends every call to url,
// signed, with attempts tries per call.
func sdkConfig(url string, attempts int) aws.Config {
	return aws.Config{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		BaseEndpoint:     aws.String(url),
		RetryMaxAttempts: attempts,
		// No back-off between the SDK's attempts: these tests count them.
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = attempts
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			})
		},
	}
}

// calls makes one call to each service Remedy's worker uses, with the
// SDK's own client.
var calls = map[string]func(ctx context.Context, cfg aws.Config) error{
	"sts": func(ctx context.Context, cfg aws.Config) error {
		_, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		return err
	},
	"s3": func(ctx context.Context, cfg aws.Config) error {
		_, err := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String("a-bucket")})
		return err
	},
	"ec2": func(ctx context.Context, cfg aws.Config) error {
		_, err := ec2.NewFromConfig(cfg).DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{"sg-0123456789abcdef0"}})
		return err
	},
	"kms": func(ctx context.Context, cfg aws.Config) error {
		_, err := kms.NewFromConfig(cfg).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("a-key")})
		return err
	},
	"dynamodb": func(ctx context.Context, cfg aws.Config) error {
		_, err := dynamodb.NewFromConfig(cfg).GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String("a-table"), Key: map[string]dbtypes.AttributeValue{"pk": &dbtypes.AttributeValueMemberS{Value: "k"}},
		})
		return err
	},
	"sns": func(ctx context.Context, cfg aws.Config) error {
		_, err := sns.NewFromConfig(cfg).Publish(ctx, &sns.PublishInput{TopicArn: aws.String("arn:aws:sns:us-east-1:123456789012:t"), Message: aws.String("m")})
		return err
	},
	"sqs": func(ctx context.Context, cfg aws.Config) error {
		_, err := sqs.NewFromConfig(cfg).ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String("http://127.0.0.1/123456789012/q")})
		return err
	},
}

// unreachable is a backend that fails the test if a call reaches it.
func unreachable(t *testing.T) string {
	t.Helper()
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a faulted call reached the backend: %s %s", r.Method, r.URL)
		w.WriteHeader(http.StatusTeapot)
	}))
	t.Cleanup(b.Close)
	return b.URL
}

func start(t *testing.T, backend string) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.Start(backend)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestFaultsReadAsAWSErrors: for each service the worker calls, the
// proxy's throttling and internal errors reach the SDK's own client as
// that service's error, with its code and status, and the SDK classifies
// them as it would AWS's (throttling retried as throttling, both
// retryable). The proxy names the service from the call's signature.
func TestFaultsReadAsAWSErrors(t *testing.T) {
	p := start(t, unreachable(t))
	for svc, call := range calls {
		for kind, fault := range map[string]func(string) (int, string){"throttled": faultproxy.Throttled, "unavailable": faultproxy.Unavailable} {
			t.Run(svc+"/"+kind, func(t *testing.T) {
				status, code := fault(svc)
				var seen string
				p.Reset()
				p.Add(faultproxy.Rule{Match: func(r faultproxy.Request) bool { seen = r.Service; return true }, Status: status, Code: code})
				err := call(t.Context(), sdkConfig(p.URL, 1))
				if seen != svc {
					t.Errorf("Request.Service = %q, want %q", seen, svc)
				}
				var ae smithy.APIError
				if !errors.As(err, &ae) || ae.ErrorCode() != code {
					t.Fatalf("error %v: want an API error with code %s", err, code)
				}
				var re *awshttp.ResponseError
				if !errors.As(err, &re) || re.HTTPStatusCode() != status {
					t.Errorf("error %v: want HTTP status %d", err, status)
				}
				if got := (retry.IsErrorRetryables(retry.DefaultRetryables)).IsErrorRetryable(err); got != aws.TrueTernary {
					t.Errorf("the SDK calls %v retryable: %v, want true", err, got)
				}
				throttle := (retry.IsErrorThrottles(retry.DefaultThrottles)).IsErrorThrottle(err) == aws.TrueTernary
				if want := kind == "throttled"; throttle != want {
					t.Errorf("the SDK calls %v a throttle: %v, want %v", err, throttle, want)
				}
			})
		}
	}
}

// TestReset: a reset rule cuts the connection without an answer, which
// the SDK sees as a retryable connection error; with AfterForward the
// call reaches the backend first.
func TestReset(t *testing.T) {
	var reached atomic.Int32
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, `<GetCallerIdentityResponse><GetCallerIdentityResult><Account>123456789012</Account></GetCallerIdentityResult></GetCallerIdentityResponse>`)
	}))
	defer backend.Close()
	p := start(t, backend.URL)
	for _, tt := range []struct {
		name         string
		afterForward bool
		wantReached  int32
	}{
		{"before forwarding", false, 0},
		{"after forwarding", true, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reached.Store(0)
			p.Reset()
			p.Add(faultproxy.Rule{Reset: true, AfterForward: tt.afterForward, Times: 1})
			err := calls["sts"](t.Context(), sdkConfig(p.URL, 1))
			if err == nil {
				t.Fatal("the call succeeded through a reset connection")
			}
			if got := (retry.IsErrorRetryables(retry.DefaultRetryables)).IsErrorRetryable(err); got != aws.TrueTernary {
				t.Errorf("the SDK calls %v retryable: %v, want true", err, got)
			}
			if got := reached.Load(); got != tt.wantReached {
				t.Errorf("backend reached %d times, want %d", got, tt.wantReached)
			}
			if got := p.Faults("GetCallerIdentity"); got != 1 {
				t.Errorf("Faults = %d, want 1", got)
			}
			if err := calls["sts"](t.Context(), sdkConfig(p.URL, 1)); err != nil {
				t.Errorf("the next call: %v", err)
			}
		})
	}
}

// TestWriteLog: every call the log's function names is logged with its
// SDK invocation and attempt, whether it reached the backend, the
// backend's status and the injected fault; Took tells the writes that
// changed something.
func TestWriteLog(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "missing") {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `<Error><Code>NoSuchBucket</Code></Error>`)
		}
	}))
	defer backend.Close()
	p := start(t, backend.URL)
	p.LogWrites(func(r faultproxy.Request) string {
		if r.Method != http.MethodPut {
			return ""
		}
		return strings.Trim(r.Path, "/")
	})
	unavailable := func(r faultproxy.Request) bool { return strings.Contains(r.Path, "flaky") }
	p.Add(faultproxy.Rule{Match: unavailable, Status: 500, Code: "InternalError", Times: 1})
	p.Add(faultproxy.Rule{Match: faultproxy.PathContains("lost"), Status: 500, Code: "InternalError", AfterForward: true})
	p.Add(faultproxy.Rule{Match: faultproxy.PathContains("cut"), Reset: true, Times: 1})

	c := s3.NewFromConfig(sdkConfig(p.URL, 2), func(o *s3.Options) { o.UsePathStyle = true })
	on := aws.Bool(true)
	for _, b := range []string{"flaky", "lost", "cut", "missing"} {
		_, _ = c.PutPublicAccessBlock(t.Context(), &s3.PutPublicAccessBlockInput{
			Bucket: aws.String(b), PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{BlockPublicAcls: on},
		})
	}
	if _, err := c.GetPublicAccessBlock(t.Context(), &s3.GetPublicAccessBlockInput{Bucket: aws.String("flaky")}); err != nil {
		t.Fatal(err)
	}
	got := p.Writes()
	want := []faultproxy.Write{
		{Resource: "flaky", Operation: "PUT /flaky", Attempt: 1, Fault: "InternalError"},
		{Resource: "flaky", Operation: "PUT /flaky", Attempt: 2, Forwarded: true, Status: 200},
		{Resource: "lost", Operation: "PUT /lost", Attempt: 1, Forwarded: true, Status: 200, Fault: "InternalError"},
		{Resource: "lost", Operation: "PUT /lost", Attempt: 2, Forwarded: true, Status: 200, Fault: "InternalError"},
		{Resource: "cut", Operation: "PUT /cut", Attempt: 1, Fault: "reset"},
		{Resource: "cut", Operation: "PUT /cut", Attempt: 2, Forwarded: true, Status: 200},
		{Resource: "missing", Operation: "PUT /missing", Attempt: 1, Forwarded: true, Status: 404},
	}
	if d := cmp.Diff(want, got, cmpopts.IgnoreFields(faultproxy.Write{}, "Invocation", "Seq")); d != "" {
		t.Errorf("write log (-want +got):\n%s", d)
	}
	var took []string
	for i, w := range got {
		if w.Invocation == "" {
			t.Errorf("write %d has no SDK invocation id", i)
		}
		if i > 0 && (w.Resource == got[i-1].Resource) != (w.Invocation == got[i-1].Invocation) || i > 0 && w.Seq <= got[i-1].Seq {
			t.Errorf("write %d: invocation %s seq %d after %s seq %d: want one invocation per call, retries included, and growing seq", i, w.Invocation, w.Seq, got[i-1].Invocation, got[i-1].Seq)
		}
		if w.Took() {
			took = append(took, w.Resource)
		}
	}
	if d := cmp.Diff([]string{"flaky", "lost", "lost", "cut"}, took); d != "" {
		t.Errorf("writes that took effect (-want +got):\n%s", d)
	}
	p.Reset()
	if n := len(p.Writes()); n != 0 {
		t.Errorf("%d writes logged after Reset, want none", n)
	}
}

// TestChoose: a rule with Choose faults only the calls it picks, with
// the fault it returns, and counts only those against Times; the calls
// it leaves go to the next rule.
func TestChoose(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer backend.Close()
	p := start(t, backend.URL)
	n := 0
	p.Add(faultproxy.Rule{Times: 2, Choose: func(r faultproxy.Request) (faultproxy.Rule, bool) {
		n++
		return faultproxy.Rule{Status: 503, Code: "SlowDown"}, n%2 == 0
	}})
	p.Add(faultproxy.Rule{Match: faultproxy.PathContains("/next"), Status: 500, Code: "InternalError"})
	var got []int
	for _, path := range []string{"/a", "/a", "/next", "/a", "/a", "/a", "/next"} {
		resp, err := http.Get(p.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got = append(got, resp.StatusCode)
	}
	// Calls 2 and 4 are chosen; after two faults the rule is spent.
	if d := cmp.Diff([]int{200, 503, 500, 503, 200, 200, 500}, got); d != "" {
		t.Errorf("statuses (-want +got):\n%s", d)
	}
}

// TestSerializeBy: calls to one item reach the backend one at a time;
// calls to different items do not wait for each other.
func TestSerializeBy(t *testing.T) {
	var (
		mu      sync.Mutex
		inside  = map[string]int{}
		most    = map[string]int{}
		arrived = make(chan string, 16)
	)
	release := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		item := r.URL.Query().Get("item")
		mu.Lock()
		inside[item]++
		most[item] = max(most[item], inside[item])
		mu.Unlock()
		arrived <- item
		if item == "held" {
			<-release // until a call to another item got through
		} else {
			time.Sleep(5 * time.Millisecond) // give a second call to the item a chance to overlap
		}
		mu.Lock()
		inside[item]--
		mu.Unlock()
	}))
	defer backend.Close()
	p := start(t, backend.URL)
	p.SerializeBy(func(r faultproxy.Request) string { return strings.TrimPrefix(r.Path, "/") })
	get := func(path string) {
		resp, err := http.Get(p.URL + path)
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
	}

	var held sync.WaitGroup
	held.Go(func() { get("/held?item=held") })
	defer held.Wait()
	defer close(release)
	if got := <-arrived; got != "held" {
		t.Fatalf("first arrival %q", got)
	}
	done := make(chan struct{})
	go func() { get("/other?item=other"); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("a call to another item waited for the held one")
	}
	<-arrived

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { get("/same?item=same") })
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if most["same"] != 1 {
		t.Errorf("up to %d calls to one item at the backend at once, want 1", most["same"])
	}
}

// TestDynamoDBItem names the item of DynamoDB calls with a key, the same
// whatever the order of the key's attributes, and nothing else.
func TestDynamoDBItem(t *testing.T) {
	for _, tt := range []struct {
		name    string
		service string
		body    string
		want    string
	}{
		{"update", "dynamodb", `{"TableName":"t","Key":{"pk":{"S":"k"}},"UpdateExpression":"SET a = :a"}`, `t {"pk":{"S":"k"}}`},
		{"composite key in any order", "dynamodb", `{"Key":{"sk":{"N":"1"},"pk":{"S":"k"}},"TableName":"t"}`, `t {"pk":{"S":"k"},"sk":{"N":"1"}}`},
		{"put has no key", "dynamodb", `{"TableName":"t","Item":{"id":{"S":"x"}}}`, ""},
		{"not dynamodb", "kms", `{"TableName":"t","Key":{"pk":{"S":"k"}}}`, ""},
		{"not JSON", "dynamodb", `Action=Scan`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := faultproxy.DynamoDBItem(faultproxy.Request{Service: tt.service, Body: []byte(tt.body)})
			if got != tt.want {
				t.Errorf("DynamoDBItem = %q, want %q", got, tt.want)
			}
		})
	}
}
