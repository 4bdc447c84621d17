package wizpayload

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/remedy-sec/remedy/remediate"
)

// FuzzParse checks the parser's invariants on any input: it never
// panics; a success has non-empty, valid UTF-8 ids and no trusted
// context; every failure is a rejection.
//
// The seed corpus is every file in testdata plus testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"id":"x","entitySnapshot":{"providerId":"arn:aws:s3:::b","cloudPlatform":"AWS","subscriptionExternalId":"123456789012","region":"us-east-1"},"sourceRule":{"__typename":"Control","id":"c"},"projects":[{"name":"p"}]}`))
	f.Add([]byte(`{"Type":"Notification","MessageId":"m","Message":"{\"issue\":{\"id\":\"i\"},\"resource\":{\"id\":\"r\",\"tags\":\"{\\\"a\\\":\\\"b\\\"}\"}}"}`))
	f.Add([]byte(`{"Type":"Notification","MessageId":"m","Timestamp":"2026-11-05T09:00:00.123Z","Message":"{\"trigger\":{\"source\":\"ISSUES\",\"type\":\"REOPENED\"},\"issue\":{\"id\":\"i\",\"created\":\"2026-11-02T10:11:12Z\"},\"resource\":{\"id\":\"arn:aws:s3:::b\"}}"}`))
	p := New(func(o *Options) { o.MaxBodyBytes = 64 << 10 })
	f.Fuzz(func(t *testing.T, input []byte) {
		body := bytes.Clone(input)
		fd, err := p.Parse(body)
		if err != nil {
			var rej *remediate.RejectError
			if !errors.As(err, &rej) {
				t.Fatalf("error %v (%T) does not wrap *remediate.RejectError", err, err)
			}
			if fd != nil {
				t.Fatal("Finding returned with an error")
			}
			if !utf8.ValidString(err.Error()) {
				t.Fatalf("error is not valid UTF-8: %q", err)
			}
			return
		}
		if fd.ID == "" || fd.Resource.ID == "" {
			t.Fatalf("accepted without ids: %+v", fd)
		}
		for _, s := range []string{fd.ID, fd.Resource.ID, fd.Resource.Account, fd.Resource.Region, fd.Resource.Type, fd.CorrelationID} {
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8 in %q", s)
			}
		}
		if checkIdent(fd.Resource.ID, maxResourceIDBytes) != "" || checkToken(fd.ID, maxIDBytes) != "" {
			t.Fatalf("malformed id accepted: %q %q", fd.ID, fd.Resource.ID)
		}
		if id := fd.Resource.ID; strings.ContainsAny(id, "*?") || len(id) >= 4 && equalFoldASCII(id[:4], "ARN:") && id[:4] != "arn:" {
			t.Fatalf("wildcard or upper-case ARN accepted: %q", id)
		}
		if fd.Environment != "" || fd.Owner != "" || fd.Exception != remediate.ExceptionNone {
			t.Fatalf("parser set trusted context: %+v", fd)
		}
		if fd.Resource.Account != "" && fd.Resource.Cloud == "AWS" && !isAccountID(fd.Resource.Account) {
			t.Fatalf("malformed AWS account accepted: %q", fd.Resource.Account)
		}
		if fd.Severity != "" {
			if _, ok := remediate.ParseSeverity(string(fd.Severity)); !ok {
				t.Fatalf("unknown severity %q", fd.Severity)
			}
		}
		for k, v := range fd.Resource.Tags {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				t.Fatalf("invalid UTF-8 tag %q=%q", k, v)
			}
		}
		// The Finding shares no memory with the body.
		before, err := json.Marshal(fd)
		if err != nil {
			t.Fatalf("Finding does not marshal: %v", err)
		}
		raw := bytes.Clone(fd.Raw)
		for i := range body {
			body[i] = 'x'
		}
		if after, _ := json.Marshal(fd); !bytes.Equal(before, after) || !bytes.Equal(raw, fd.Raw) {
			t.Fatalf("Finding changed with the body:\n%s\n%s", before, after)
		}
		body = input
		// Parsing is deterministic.
		again, err := p.Parse(body)
		if err != nil || again.CorrelationID != fd.CorrelationID || len(again.Concerns) != len(fd.Concerns) {
			t.Fatalf("second parse differs: %v", err)
		}
	})
}
