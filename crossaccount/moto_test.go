package crossaccount

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

var moto *mototest.Server

func TestMain(m *testing.M) { os.Exit(mototest.Main(m, &moto)) }

// The customer accounts of the integration tests. moto creates an
// account the first time a role in it is assumed.
var customers = []string{"111111111111", "222222222222", "333333333333"}

const (
	region   = "us-east-1"
	roleName = "RemedyRemediation"
)

func externalID(account string) string { return "ext-" + account }

// recorder is an http.RoundTripper in front of the SDK's transport. It
// records every request (the form body of query-protocol calls such as
// STS's) and can answer in moto's place to inject a fault.
type recorder struct {
	next http.RoundTripper

	mu     sync.Mutex
	calls  []recordedCall
	inject func(c recordedCall) (*http.Response, error)
}

type recordedCall struct {
	Action    string
	Form      url.Values
	UserAgent string
	Host      string
	RequestID string // of the response
}

func newRecorder() *recorder { return &recorder{next: awshttp.NewBuildableClient().GetTransport()} }

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	form, _ := url.ParseQuery(string(body))
	c := recordedCall{Action: form.Get("Action"), Form: form, UserAgent: req.Header.Get("User-Agent"), Host: req.URL.Host}
	if c.Action == "" {
		c.Action = req.Header.Get("X-Amz-Target")
	}
	r.mu.Lock()
	inject := r.inject
	r.mu.Unlock()
	var resp *http.Response
	var err error
	if inject != nil {
		resp, err = inject(c)
	}
	if resp == nil && err == nil {
		resp, err = r.next.RoundTrip(req)
	} else if resp != nil {
		resp.Request = req
	}
	if resp != nil {
		c.RequestID = resp.Header.Get("X-Amzn-Requestid")
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	return resp, err
}

// recorded returns the calls of action so far.
func (r *recorder) recorded(action string) []recordedCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []recordedCall
	for _, c := range r.calls {
		if c.Action == action {
			out = append(out, c)
		}
	}
	return out
}

func (r *recorder) client() *http.Client {
	return &http.Client{Transport: r, Timeout: 30 * time.Second}
}

// stsThrough returns an STS client of the platform account whose calls go
// through rec.
func stsThrough(srv *mototest.Server, rec *recorder) *sts.Client {
	cfg := srv.Config(region)
	cfg.HTTPClient = rec.client()
	return sts.NewFromConfig(cfg)
}

// setUpCustomers creates the remediation role in every customer account,
// with a trust policy that requires the account's external id. It can run
// more than once against one server.
func setUpCustomers(t testing.TB, srv *mototest.Server) *Accounts {
	t.Helper()
	ctx := mototest.Context(t)
	root := sts.NewFromConfig(srv.Config(region))
	var entries []Account
	for _, acct := range customers {
		// moto: assuming any role in an account yields credentials of that
		// account, so this bootstraps it.
		out, err := root.AssumeRole(ctx, &sts.AssumeRoleInput{
			RoleArn:         aws.String("arn:aws:iam::" + acct + ":role/bootstrap"),
			RoleSessionName: aws.String("bootstrap"),
			ExternalId:      aws.String("bootstrap"),
		})
		if err != nil {
			t.Fatalf("bootstrap account %s: %v", acct, err)
		}
		c := out.Credentials
		admin := iam.NewFromConfig(srv.ConfigWith(region, credentials.NewStaticCredentialsProvider(
			aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))))
		trust := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},`+
			`"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"],"Condition":{"StringEquals":{"sts:ExternalId":"%s"}}}]}`,
			mototest.DefaultAccount, externalID(acct))
		_, err = admin.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(roleName), AssumeRolePolicyDocument: aws.String(trust)})
		var exists interface{ ErrorCode() string }
		if err != nil && !(errors.As(err, &exists) && exists.ErrorCode() == "EntityAlreadyExists") {
			t.Fatalf("create role in %s: %v", acct, err)
		}
		role, err := admin.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(roleName)})
		if err != nil {
			t.Fatalf("get role in %s: %v", acct, err)
		}
		if got, want := aws.ToString(role.Role.Arn), "arn:aws:iam::"+acct+":role/"+roleName; got != want {
			t.Fatalf("role created as %s, want %s", got, want)
		}
		entries = append(entries, Account{ID: acct, ExternalID: externalID(acct)})
	}
	accs, err := LoadAccounts(ctx, AccountsConfig{Regions: []string{region, "eu-west-1"}, Accounts: entries})
	if err != nil {
		t.Fatal(err)
	}
	return accs
}

func newCache(t *testing.T, srv *mototest.Server, rec *recorder, accs *Accounts, optFns ...func(*Options)) *Cache {
	t.Helper()
	c, err := New(stsThrough(srv, rec), accs, append([]func(*Options){func(o *Options) {
		o.Region = region
		o.Base = srv.Config(region)
	}}, optFns...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func bucketFinding(i int, account string) *remediate.Finding {
	name := fmt.Sprintf("bucket-%04d", i)
	return &remediate.Finding{
		ID:            fmt.Sprintf("wiz-%04d", i),
		Control:       remediate.Control{ID: "wc-s3-public"},
		CorrelationID: fmt.Sprintf("corr-%04d", i),
		Resource: remediate.Resource{
			ID: "arn:aws:s3:::" + name, ARN: "arn:aws:s3:::" + name, Name: name, Type: "bucket",
			Cloud: "AWS", Account: account, Region: region,
		},
	}
}

// assumeRequest is what reached STS in one AssumeRole call.
type assumeRequest struct {
	RoleArn, RoleSessionName, SourceIdentity, ExternalId, DurationSeconds string
	Tags                                                                  map[string]string
	Policy                                                                policyDoc
}

func parseAssumeRequest(t *testing.T, c recordedCall) assumeRequest {
	t.Helper()
	f := c.Form
	r := assumeRequest{
		RoleArn: f.Get("RoleArn"), RoleSessionName: f.Get("RoleSessionName"), SourceIdentity: f.Get("SourceIdentity"),
		ExternalId: f.Get("ExternalId"), DurationSeconds: f.Get("DurationSeconds"), Tags: map[string]string{},
	}
	for i := 1; f.Has("Tags.member." + strconv.Itoa(i) + ".Key"); i++ {
		r.Tags[f.Get("Tags.member."+strconv.Itoa(i)+".Key")] = f.Get("Tags.member." + strconv.Itoa(i) + ".Value")
	}
	checkPolicy(t, f.Get("Policy"))
	if err := json.Unmarshal([]byte(f.Get("Policy")), &r.Policy); err != nil {
		t.Fatalf("Policy that reached STS is not JSON: %v: %q", err, f.Get("Policy"))
	}
	return r
}

// accountOf asks STS (moto) which account cfg's credentials act in.
func accountOf(t *testing.T, cfg aws.Config) string {
	t.Helper()
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(mototest.Context(t), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	return aws.ToString(out.Account)
}

// TestSharedMode: 1,000 findings for one remediator across 3 accounts
// cost exactly 3 AssumeRole calls, and each session acts in its account.
func TestSharedMode(t *testing.T) {
	srv := mototest.Require(t, moto)
	accs := setUpCustomers(t, srv)
	rec := newRecorder()
	cache := newCache(t, srv, rec, accs)
	ctx := mototest.Context(t)

	const findings = 1000
	cfgs := make([]aws.Config, findings)
	errs := make([]error, findings)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < findings; i += 8 {
				cfgs[i], errs[i] = cache.Config(ctx, bucketFinding(i, customers[i%3]), s3Spec)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	calls := rec.recorded("AssumeRole")
	if len(calls) != len(customers) {
		t.Fatalf("%d findings over %d accounts made %d AssumeRole calls, want %d", findings, len(customers), len(calls), len(customers))
	}
	t.Logf("shared mode: %d lookups over %d accounts -> %d AssumeRole calls", findings, len(customers), len(calls))

	got := map[string]assumeRequest{}
	for _, c := range calls {
		r := parseAssumeRequest(t, c)
		got[r.RoleArn] = r
	}
	want := map[string]assumeRequest{}
	for _, acct := range customers {
		p, err := SessionPolicy(s3Spec, Scope{Account: acct, Regions: []string{region, "eu-west-1"}})
		if err != nil {
			t.Fatal(err)
		}
		var doc policyDoc
		if err := json.Unmarshal([]byte(p), &doc); err != nil {
			t.Fatal(err)
		}
		arn := "arn:aws:iam::" + acct + ":role/" + roleName
		want[arn] = assumeRequest{
			RoleArn: arn, RoleSessionName: "s3-block-public-access@shared", SourceIdentity: "remedy@s3-block-public-access",
			ExternalId: externalID(acct), DurationSeconds: "900",
			Tags:   map[string]string{TagAction: "s3-block-public-access", TagMode: "shared"},
			Policy: doc,
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AssumeRole requests mismatch (-want +got):\n%s", diff)
	}
	for i, acct := range customers {
		if got := accountOf(t, cfgs[i]); got != acct {
			t.Errorf("finding %d for account %s got credentials of account %s", i, acct, got)
		}
		if cfgs[i].Region != region {
			t.Errorf("Config region = %q, want %q", cfgs[i].Region, region)
		}
	}
	if n := len(rec.recorded("AssumeRole")); n != len(customers) {
		t.Errorf("using the configs made %d AssumeRole calls in all, want %d", n, len(customers))
	}
}

// TestConcurrentFirstRequests: 50 goroutines asking at once for a cold
// session make one AssumeRole call.
func TestConcurrentFirstRequests(t *testing.T) {
	srv := mototest.Require(t, moto)
	accs := setUpCustomers(t, srv)
	rec := newRecorder()
	cache := newCache(t, srv, rec, accs)
	ctx := mototest.Context(t)

	const n = 50
	start := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = cache.Config(ctx, bucketFinding(i, customers[0]), s3Spec)
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := len(rec.recorded("AssumeRole")); got != 1 {
		t.Fatalf("%d concurrent first requests made %d AssumeRole calls, want 1", n, got)
	}
	t.Logf("%d concurrent first requests -> 1 AssumeRole call", n)
}

// TestStrictMode: every finding gets its own session, scoped to its
// bucket and tagged with its ids; asking again for a finding reuses it.
func TestStrictMode(t *testing.T) {
	srv := mototest.Require(t, moto)
	accs := setUpCustomers(t, srv)
	rec := newRecorder()
	cache := newCache(t, srv, rec, accs, func(o *Options) { o.Mode = Strict })
	ctx := mototest.Context(t)

	const findings = 30
	for round := range 2 {
		for i := range findings {
			cfg, err := cache.Config(ctx, bucketFinding(i, customers[i%3]), s3Spec)
			if err != nil {
				t.Fatal(err)
			}
			if round == 0 && i < len(customers) {
				if got := accountOf(t, cfg); got != customers[i] {
					t.Errorf("finding %d: credentials of account %s, want %s", i, got, customers[i])
				}
			}
		}
	}
	calls := rec.recorded("AssumeRole")
	if len(calls) != findings {
		t.Fatalf("strict mode: %d findings (asked twice each) made %d AssumeRole calls, want %d", findings, len(calls), findings)
	}
	t.Logf("strict mode: %d findings, each looked up twice -> %d AssumeRole calls", findings, len(calls))

	got := parseAssumeRequest(t, calls[0])
	f := bucketFinding(0, customers[0])
	want := assumeRequest{
		RoleArn: "arn:aws:iam::" + customers[0] + ":role/" + roleName, RoleSessionName: "s3-block-public-access@wiz-0000",
		SourceIdentity: "remedy@wiz-0000", ExternalId: externalID(customers[0]), DurationSeconds: "900",
		Tags: map[string]string{
			TagAction: "s3-block-public-access", TagMode: "strict", TagFindingID: "wiz-0000",
			TagControlID: "wc-s3-public", TagCorrelationID: "corr-0000",
		},
		Policy: policyDoc{Version: "2012-10-17", Statement: []statement{allow(
			[]string{"s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock"}, []string{f.Resource.ARN},
			map[string][]string{"aws:RequestedRegion": {region}, "aws:ResourceAccount": {customers[0]}},
		)}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AssumeRole request mismatch (-want +got):\n%s", diff)
	}
}

// TestNeverReachesSTS: an account that is not listed, a region that is
// not allowed and a registry entry without an external id all fail
// before any call to STS.
func TestNeverReachesSTS(t *testing.T) {
	srv := mototest.Require(t, moto)
	accs := setUpCustomers(t, srv)
	rec := newRecorder()
	cache := newCache(t, srv, rec, accs)
	ctx := mototest.Context(t)

	tests := []struct {
		name string
		f    *remediate.Finding
		want error
	}{
		{"not allowlisted", bucketFinding(1, "444444444444"), ErrNotAllowlisted},
		{"no account", bucketFinding(1, ""), ErrNotAllowlisted},
		{"region not allowed", func() *remediate.Finding {
			f := bucketFinding(1, customers[0])
			f.Resource.Region = "ap-south-1"
			return f
		}(), ErrRegionNotAllowed},
		{"resource in another account", func() *remediate.Finding {
			f := bucketFinding(1, customers[0])
			f.Resource.ARN = "arn:aws:ec2:us-east-1:" + customers[1] + ":security-group/sg-1"
			return f
		}(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cache.Config(ctx, tt.f, s3Spec)
			if (tt.want != nil && !errors.Is(err, tt.want)) || !remediate.IsPermanent(err) {
				t.Fatalf("Config error = %v, want permanent %v", err, tt.want)
			}
		})
	}

	_, err := LoadAccounts(ctx, AccountsConfig{Regions: []string{region}, Accounts: []Account{
		{ID: customers[0], ExternalID: externalID(customers[0])},
		{ID: customers[1]}, // no external id
	}})
	if err == nil || !strings.Contains(err.Error(), "no external id") {
		t.Fatalf("LoadAccounts error = %v, want a configuration error for the entry without an external id", err)
	}
	if got := len(rec.recorded("AssumeRole")); got != 0 {
		t.Errorf("%d AssumeRole calls reached STS, want 0", got)
	}
}

// stsError is an STS error response as AWS sends it.
func stsError(status int, code string) *http.Response {
	typ := "Sender"
	if status >= 500 {
		typ = "Receiver"
	}
	body := fmt.Sprintf(`<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>%s</Type><Code>%s</Code>`+
		`<Message>injected %s</Message></Error><RequestId>req-injected</RequestId></ErrorResponse>`, typ, code, code)
	return &http.Response{
		StatusCode: status, Status: strconv.Itoa(status) + " " + http.StatusText(status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"text/xml"}, "X-Amzn-Requestid": {"req-injected"}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
	}
}

// TestAssumeRoleErrors: STS errors injected at the HTTP layer are
// classified through the SDK's real deserializers.
func TestAssumeRoleErrors(t *testing.T) {
	srv := mototest.Require(t, moto)
	accs := setUpCustomers(t, srv)
	tests := []struct {
		name      string
		resp      *http.Response
		netErr    error
		permanent bool
	}{
		{"access denied", stsError(403, "AccessDenied"), nil, true},
		{"malformed policy", stsError(400, "MalformedPolicyDocument"), nil, true},
		{"packed policy too large", stsError(400, "PackedPolicyTooLarge"), nil, true},
		{"region disabled", stsError(403, "RegionDisabledException"), nil, true},
		{"throttling", stsError(400, "Throttling"), nil, false},
		{"internal error", stsError(500, "InternalFailure"), nil, false},
		{"unavailable", stsError(503, "ServiceUnavailable"), nil, false},
		{"network", nil, errors.New("connection reset by peer"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder()
			rec.inject = func(c recordedCall) (*http.Response, error) {
				if c.Action != "AssumeRole" {
					return nil, nil
				}
				return tt.resp, tt.netErr
			}
			cache := newCache(t, srv, rec, accs)
			_, err := cache.Config(mototest.Context(t), bucketFinding(1, customers[0]), s3Spec)
			if err == nil {
				t.Fatal("Config succeeded")
			}
			// A second finding: a permanent error is remembered, a
			// transient one is tried again.
			_, err2 := cache.Config(mototest.Context(t), bucketFinding(2, customers[0]), s3Spec)
			wantCalls := 2
			if tt.permanent {
				wantCalls = 1
			}
			if got := len(rec.recorded("AssumeRole")); got != wantCalls || remediate.IsPermanent(err2) != tt.permanent {
				t.Errorf("second lookup: %d AssumeRole calls in all, error %v; want %d calls and the same class", got, err2, wantCalls)
			}
			if got := remediate.IsPermanent(err); got != tt.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, got, tt.permanent)
			}
			if got := remediate.IsPermanent(remediate.ClassifyAWS(err)); got != tt.permanent {
				t.Errorf("after ClassifyAWS, IsPermanent = %v, want %v", got, tt.permanent)
			}
			var ae smithy.APIError
			if tt.resp != nil && (!errors.As(err, &ae) || !strings.Contains(err.Error(), ae.ErrorCode())) {
				t.Errorf("error %v does not carry the STS error code", err)
			}
		})
	}
}
