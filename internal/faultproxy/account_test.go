package faultproxy_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/remedy-sec/remedy/internal/faultproxy"
)

// TestAccount: the access key an AssumeRole answer hands out is tied to
// the role's account, and a rule matching that account faults the calls
// signed with it, and only those.
func TestAccount(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(string(body), "Action=AssumeRole") {
			key := "ASIAOTHER"
			if strings.Contains(string(body), "111111111111") {
				key = "ASIATHROTTLED"
			}
			io.WriteString(w, "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>"+key+"</AccessKeyId></Credentials></AssumeRoleResult></AssumeRoleResponse>")
			return
		}
		io.WriteString(w, "ok")
	}))
	defer backend.Close()
	p, err := faultproxy.Start(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	status, code := faultproxy.Throttled("s3")
	p.Add(faultproxy.Rule{Match: faultproxy.Account("111111111111"), Status: status, Code: code})

	call := func(body, key string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, p.URL+"/", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+key+"/20261206/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// Before the key was handed out, it belongs to no account.
	if got, _ := call("x", "ASIATHROTTLED"); got != 200 {
		t.Errorf("call with an unknown key: %d, want 200", got)
	}
	for _, acct := range []string{"111111111111", "222222222222"} {
		if got, body := call("Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A"+acct+"%3Arole%2FR", "testing"); got != 200 || !strings.Contains(body, "AccessKeyId") {
			t.Fatalf("AssumeRole into %s through the proxy: %d %s", acct, got, body)
		}
	}
	if got, body := call("x", "ASIATHROTTLED"); got != status || !strings.Contains(body, code) {
		t.Errorf("call signed by account 111111111111's key: %d %s, want %d %s", got, body, status, code)
	}
	if got, _ := call("x", "ASIAOTHER"); got != 200 {
		t.Errorf("call signed by account 222222222222's key: %d, want 200", got)
	}
}
