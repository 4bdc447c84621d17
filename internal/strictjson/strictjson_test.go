package strictjson

import (
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestParseRejects(t *testing.T) {
	deep := func(n int) string {
		return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n)
	}
	tests := []struct {
		name   string
		in     string
		lim    Limits
		want   error
		offset int
		path   string
	}{
		{"empty", ``, Limits{}, ErrNotObject, 0, ""},
		{"only space", " \n\t", Limits{}, ErrNotObject, 3, ""},
		{"array top", `[1]`, Limits{}, ErrNotObject, 0, ""},
		{"string top", `"a"`, Limits{}, ErrNotObject, 0, ""},
		{"number top", `12`, Limits{}, ErrNotObject, 0, ""},
		{"null top", `null`, Limits{}, ErrNotObject, 0, ""},
		{"byte order mark", "\ufeff{}", Limits{}, ErrNotObject, 0, ""},
		{"trailing object", `{}{}`, Limits{}, ErrTrailingData, 2, ""},
		{"trailing garbage", `{"a":1} x`, Limits{}, ErrTrailingData, 8, ""},
		{"trailing NUL", "{}\x00", Limits{}, ErrTrailingData, 2, ""},
		{"too large", `{"a":"` + strings.Repeat("x", 100) + `"}`, Limits{MaxBytes: 64}, ErrTooLarge, 64, ""},
		{"depth 65", deep(65), Limits{}, ErrTooDeep, 5 * 64, strings.TrimSuffix(strings.Repeat("a.", 64), ".")},
		{"depth over custom limit", `{"a":[[1]]}`, Limits{MaxDepth: 2}, ErrTooDeep, 6, "a[0]"},
		{"string too long", `{"k":"abcdef"}`, Limits{MaxStringBytes: 5}, ErrStringTooLong, 5, "k"},
		{"escaped string too long", `{"k":"ab\ncdef"}`, Limits{MaxStringBytes: 5}, ErrStringTooLong, 5, "k"},
		{"key too long", `{"abcdef":1}`, Limits{MaxStringBytes: 5}, ErrStringTooLong, 1, ""},
		{"number too long", `{"n":123456}`, Limits{MaxStringBytes: 5}, ErrStringTooLong, 5, "n"},
		{"duplicate key", `{"a":1,"a":2}`, Limits{}, ErrDuplicateKey, 7, "a"},
		{"duplicate key via escape", `{"a":1,"\u0061":2}`, Limits{}, ErrDuplicateKey, 7, "a"},
		{"duplicate nested", `{"issue":{"severity":"LOW","id":"1","severity":"HIGH"}}`, Limits{}, ErrDuplicateKey, 36, "issue.severity"},
		{"duplicate in array element", `{"p":[{"n":1},{"n":1,"n":2}]}`, Limits{}, ErrDuplicateKey, 21, "p[1].n"},
		{"duplicate in large object", bigObject(40) + `,"k7":0}`, Limits{}, ErrDuplicateKey, len(bigObject(40)) + 1, "k7"},
		{"invalid UTF-8 in value", "{\"a\":\"x\xffy\"}", Limits{}, ErrInvalidUTF8, 7, "a"},
		{"invalid UTF-8 in key", "{\"\xc3\x28\":1}", Limits{}, ErrInvalidUTF8, 2, ""},
		{"invalid UTF-8 after escape", "{\"a\":\"\\n\xff\"}", Limits{}, ErrInvalidUTF8, 8, "a"},
		{"UTF-8 encoded surrogate", "{\"a\":\"\xed\xa0\x80\"}", Limits{}, ErrInvalidUTF8, 6, "a"},
		{"overlong encoding", "{\"a\":\"\xc0\xaf\"}", Limits{}, ErrInvalidUTF8, 6, "a"},
		{"truncated sequence", "{\"a\":\"\xe2\x82\"}", Limits{}, ErrInvalidUTF8, 6, "a"},
		{"invalid UTF-8 outside string", "{\"a\":\xff}", Limits{}, ErrSyntax, 5, "a"},
		{"lone high surrogate", `{"a":"\ud800"}`, Limits{}, ErrInvalidUTF8, 6, "a"},
		{"lone low surrogate", `{"a":"\udc00"}`, Limits{}, ErrInvalidUTF8, 6, "a"},
		{"high then non-surrogate", `{"a":"\ud800\u0041"}`, Limits{}, ErrInvalidUTF8, 6, "a"},
		{"high then high", `{"a":"\ud800\ud800"}`, Limits{}, ErrInvalidUTF8, 6, "a"},
		{"high then bad hex", `{"a":"\ud800\uzzzz"}`, Limits{}, ErrSyntax, 12, "a"},
		{"bad hex", `{"a":"\u12g4"}`, Limits{}, ErrSyntax, 6, "a"},
		{"short hex", `{"a":"\u12"}`, Limits{}, ErrSyntax, 6, "a"},
		{"bad escape", `{"a":"\x"}`, Limits{}, ErrSyntax, 6, "a"},
		{"raw control char", "{\"a\":\"x\ty\"}", Limits{}, ErrSyntax, 7, "a"},
		{"raw newline in key", "{\"a\nb\":1}", Limits{}, ErrSyntax, 3, ""},
		{"unterminated string", `{"a":"abc`, Limits{}, ErrSyntax, 5, "a"},
		{"unterminated object", `{"a":1`, Limits{}, ErrSyntax, 6, ""},
		{"unterminated array", `{"a":[1`, Limits{}, ErrSyntax, 7, "a"},
		{"trailing comma object", `{"a":1,}`, Limits{}, ErrSyntax, 7, ""},
		{"trailing comma array", `{"a":[1,]}`, Limits{}, ErrSyntax, 8, "a[1]"},
		{"missing colon", `{"a" 1}`, Limits{}, ErrSyntax, 5, "a"},
		{"unquoted key", `{a:1}`, Limits{}, ErrSyntax, 1, ""},
		{"single quotes", `{'a':1}`, Limits{}, ErrSyntax, 1, ""},
		{"comment", `{"a":1 /* x */}`, Limits{}, ErrSyntax, 7, ""},
		{"leading zero", `{"a":01}`, Limits{}, ErrSyntax, 6, ""},
		{"plus sign", `{"a":+1}`, Limits{}, ErrSyntax, 5, "a"},
		{"bare minus", `{"a":-}`, Limits{}, ErrSyntax, 6, "a"},
		{"dot without digits", `{"a":1.}`, Limits{}, ErrSyntax, 7, "a"},
		{"exponent without digits", `{"a":1e+}`, Limits{}, ErrSyntax, 8, "a"},
		{"NaN", `{"a":NaN}`, Limits{}, ErrSyntax, 5, "a"},
		{"Infinity", `{"a":-Infinity}`, Limits{}, ErrSyntax, 6, "a"},
		{"truncated literal", `{"a":tru}`, Limits{}, ErrSyntax, 5, "a"},
		{"capital literal", `{"a":True}`, Limits{}, ErrSyntax, 5, "a"},
		{"missing value", `{"a":}`, Limits{}, ErrSyntax, 5, "a"},
		{"odd key path", `{"a.b":{"c":01}}`, Limits{}, ErrSyntax, 13, `["a.b"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := ParseString(tt.in, tt.lim)
			if err == nil {
				t.Fatalf("ParseString(%q) = %v, want error %v", tt.in, doc, tt.want)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseString(%q) error = %v, want %v", tt.in, err, tt.want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not *Error", err)
			}
			if e.Offset != tt.offset || e.Path != tt.path {
				t.Errorf("ParseString(%q): offset, path = %d, %q, want %d, %q (error: %v)", tt.in, e.Offset, e.Path, tt.offset, tt.path, err)
			}
			if !utf8.ValidString(err.Error()) {
				t.Errorf("error message is not valid UTF-8: %q", err.Error())
			}
			// The []byte entry point agrees.
			if _, err2 := Parse([]byte(tt.in), tt.lim); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("Parse = %v, ParseString = %v", err2, err)
			}
		})
	}
}

func bigObject(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"k` + strconv.Itoa(i) + `":0`)
	}
	return b.String()
}

func TestParseAcceptsLimitsExactly(t *testing.T) {
	deep := strings.Repeat(`[`, 63)
	in := `{"a":` + deep + strings.Repeat(`]`, 63) + `}`
	if _, err := ParseString(in, Limits{}); err != nil {
		t.Errorf("depth 64: %v", err)
	}
	if _, err := ParseString(`{"k":"abcde","n":12345,"abcde":1}`, Limits{MaxStringBytes: 5}); err != nil {
		t.Errorf("strings of exactly the limit: %v", err)
	}
	if _, err := ParseString(`{"k":"a\nbcd"}`, Limits{MaxStringBytes: 5}); err != nil {
		t.Errorf("escaped string of exactly the limit: %v", err)
	}
	in = `{"a":"` + strings.Repeat("x", 56) + `"}`
	if _, err := ParseString(in, Limits{MaxBytes: len(in)}); err != nil {
		t.Errorf("body of exactly the limit: %v", err)
	}
	if _, err := ParseString(bigObject(200)+"}", Limits{}); err != nil {
		t.Errorf("large object without duplicates: %v", err)
	}
}

// dump renders a value as a Go structure for comparison.
func dump(v Value) any {
	switch v.Kind() {
	case Object:
		var m [][2]any
		for k, c := range v.Members() {
			m = append(m, [2]any{k, dump(c)})
		}
		return m
	case Array:
		a := []any{}
		for c := range v.Elements() {
			a = append(a, dump(c))
		}
		return a
	default:
		return v.Kind().String() + ":" + v.Text()
	}
}

func TestParseTree(t *testing.T) {
	in := ` {"s":"h\u00e9llo \"w\"\/\b\f\n\r\t", "emoji":"\ud83d\ude00 ok", "nul":"a\u0000b",
	"n":-12.5e+3, "z":0, "t":true, "f":false, "x":null, "e":{}, "ea":[],
	"arr":[1,"two",[3],{"four":4}], "utf8":"日本"} `
	doc, err := ParseString(in, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]any{
		{"s", "string:héllo \"w\"/\b\f\n\r\t"},
		{"emoji", "string:😀 ok"},
		{"nul", "string:a\x00b"},
		{"n", "number:-12.5e+3"},
		{"z", "number:0"},
		{"t", "bool:true"},
		{"f", "bool:false"},
		{"x", "null:null"},
		{"e", [][2]any(nil)},
		{"ea", []any{}},
		{"arr", []any{"number:1", "string:two", []any{"number:3"}, [][2]any{{"four", "number:4"}}}},
		{"utf8", "string:日本"},
	}
	if diff := cmp.Diff(want, dump(doc.Root())); diff != "" {
		t.Errorf("tree mismatch (-want +got):\n%s", diff)
	}
	root := doc.Root()
	if got := root.Len(); got != 12 {
		t.Errorf("root.Len() = %d, want 12", got)
	}
	arr, ok := root.Get("arr")
	if !ok || arr.Len() != 4 || arr.Offset() != strings.Index(in, "[1,") {
		t.Errorf("Get(arr) = %v, %v (len %d, offset %d)", arr, ok, arr.Len(), arr.Offset())
	}
	if v, ok := root.Get("missing"); ok || v.Exists() || v.Kind() != Invalid || v.Offset() != -1 {
		t.Errorf("Get(missing) = %v, %v", v, ok)
	}
	if v, ok := arr.Get("x"); ok || v.Exists() {
		t.Errorf("Get on array = %v, %v", v, ok)
	}
	var zero Value
	if zero.Len() != 0 || zero.Text() != "" {
		t.Error("zero Value is not empty")
	}
	for range zero.Members() {
		t.Error("zero Value has members")
	}
	var nilDoc *Document
	if nilDoc.Root().Exists() {
		t.Error("nil Document has a root")
	}
}

func TestParseDoesNotAliasInput(t *testing.T) {
	b := []byte(`{"a":"bcd"}`)
	doc, err := Parse(b, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	copy(b, `{"a":"xyz"}`)
	if v, _ := doc.Root().Get("a"); v.Text() != "bcd" {
		t.Errorf("value changed with the input: %q", v.Text())
	}
}

func TestErrorMessage(t *testing.T) {
	_, err := ParseString(`{"issue":{"severity":1,"severity":2}}`, Limits{})
	want := `strictjson: duplicate key: "severity" at byte 23 (issue.severity)`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

// FuzzParseString checks the parser against encoding/json: whatever
// strictjson accepts, encoding/json accepts with the same content, and
// strictjson rejects only for a reason encoding/json ignores or a limit.
func FuzzParseString(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1}`, `{"a":[1,2,{"b":null}],"c":"\u00e9\ud83d\ude00"}`,
		`{"a":1,"a":2}`, "{\"a\":\"\xff\"}", `{"n":-0.5e-7}`, `{"a":"\ud800"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		doc, err := ParseString(s, Limits{MaxDepth: 16, MaxStringBytes: 256})
		std, stdErr := stdDecode(s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not *Error", err)
			}
			if errors.Is(err, ErrSyntax) && stdErr == nil {
				t.Fatalf("strictjson syntax error %v, encoding/json accepts %q", err, s)
			}
			return
		}
		if stdErr != nil {
			t.Fatalf("strictjson accepts %q, encoding/json: %v", s, stdErr)
		}
		if diff := cmp.Diff(std, toStd(doc.Root())); diff != "" {
			t.Fatalf("content differs (-encoding/json +strictjson):\n%s", diff)
		}
	})
}

// stdDecode decodes s with encoding/json, keeping numbers as text and
// rejecting trailing data as Unmarshal does.
func stdDecode(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data")
	}
	return v, nil
}

func toStd(v Value) any {
	switch v.Kind() {
	case Object:
		m := map[string]any{}
		for k, c := range v.Members() {
			m[k] = toStd(c)
		}
		return m
	case Array:
		a := []any{}
		for c := range v.Elements() {
			a = append(a, toStd(c))
		}
		return a
	case String:
		return v.Text()
	case Number:
		return json.Number(v.Text())
	case Bool:
		return v.Text() == "true"
	default:
		return nil
	}
}

// benchDoc is a typical ~2 KB Wiz payload.
const benchDoc = `{"trigger":{"source":"ISSUES","type":"CREATED","ruleId":"0f5b8a2c-7d41-4e0b-9c61-3a2e5f7d9b10","ruleName":"Auto-remediate S3 public access"},` +
	`"issue":{"id":"5b0e6c9a-1f0e-4d6e-9a53-2f1c0d4b7e11","status":"OPEN","severity":"HIGH","created":"2026-11-02T10:11:12.345Z","projects":"Payments, Shared Services"},` +
	`"resource":{"id":"arn:aws:s3:::payments-exports","name":"payments-exports","type":"bucket","cloudPlatform":"AWS","subscriptionId":"111111111111","subscriptionName":"payments-prod","region":"us-east-1","status":"Active","cloudProviderURL":"https://s3.console.aws.amazon.com/s3/buckets/payments-exports"},` +
	`"tags":{"environment":"production","owner":"payments-team@example.com","cost-center":"cc-4411","Name":"payments-exports"},` +
	`"control":{"id":"wc-id-1234","name":"S3 Bucket allows public access","severity":"HIGH","sourceCloudConfigurationRuleId":"S3-019","sourceCloudConfigurationRuleName":"S3 Bucket should block public access",` +
	`"description":"This control flags S3 buckets whose bucket policy or ACL grants access to everyone (\"*\" or AllUsers) and whose account- and bucket-level Block Public Access settings do not override that grant. Public buckets are the most common source of data exposure in AWS: objects can be listed and downloaded anonymously, and in some cases written. Remediation: enable all four Block Public Access settings on the bucket, then review the bucket policy and ACLs for grants to \"*\", AllUsers or AuthenticatedUsers and remove them unless the bucket intentionally serves public content through a documented exception. Consider using CloudFront with origin access control for public static content instead."}}`

// BenchmarkParse parses a typical payload; the encoding/json runs on the
// same input give a machine-independent yardstick.
func BenchmarkParse(b *testing.B) {
	in := []byte(benchDoc)
	b.Run("strictjson", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			if _, err := Parse(in, Limits{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json-Valid", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			if !json.Valid(in) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("encoding-json-Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			var v map[string]any
			if err := json.Unmarshal(in, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestDocumentReuse(t *testing.T) {
	var d Document
	if err := d.ParseString(`{"a":"first","b":[1,2]}`, Limits{}); err != nil {
		t.Fatal(err)
	}
	a, _ := d.Root().Get("a")
	first := a.Text()
	if err := d.Parse([]byte(`{"x":{"y":"second"}}`), Limits{}); err != nil {
		t.Fatal(err)
	}
	if got := dump(d.Root()); !cmp.Equal(got, [][2]any{{"x", [][2]any{{"y", "string:second"}}}}) {
		t.Errorf("reused Document = %v", got)
	}
	if first != "first" {
		t.Errorf("a string from the earlier parse changed: %q", first)
	}
	if err := d.ParseString(`{"x":1,"x":2}`, Limits{}); err == nil {
		t.Fatal("duplicate accepted")
	}
	if d.Root().Exists() {
		t.Error("Document not empty after a failed parse")
	}
	if err := d.ParseString(`{"a":1}`, Limits{MaxBytes: 3}); !errors.Is(err, ErrTooLarge) || d.Root().Exists() {
		t.Errorf("too large: %v", err)
	}
	d.Reset()
	if d.Root().Exists() || d.Cap() == 0 {
		t.Errorf("Reset: root %v, cap %d", d.Root().Exists(), d.Cap())
	}
}
