package dynamo_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/adapters/dynamo"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/eligibility"
	"github.com/remedy-sec/remedy/internal/faultproxy"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

func day(s string) time.Time {
	t, err := eligibility.ParseExpiry(s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestExceptionsAddListRevoke: add stores valid exceptions only and never
// overwrites one; list shows active, expired and revoked ones; a revoked
// exception is no longer served to the policy.
func TestExceptionsAddListRevoke(t *testing.T) {
	c, table := newTable(t, dynamo.CreateExceptionTable)
	ctx := mototest.Context(t)
	clk := newClock() // 2026-11-02
	s := dynamo.NewExceptions(c, table, func(o *dynamo.ExceptionOptions) { o.Now = clk.Now })

	active := eligibility.Exception{ID: "EXC-1", Owner: "web@example.com", Reason: "static site", Resource: "arn:aws:s3:::www-example-com", Expires: day("2027-01-31")}
	old := eligibility.Exception{ID: "EXC-2", Owner: "ops@example.com", Reason: "legacy", Control: "wc-1", Account: "111111111111", TagKey: "team", TagValue: "legacy", Expires: day("2026-10-01")}
	for _, e := range []eligibility.Exception{active, old} {
		if _, err := s.Add(ctx, e); err != nil {
			t.Fatalf("Add(%s): %v", e.ID, err)
		}
	}
	gen, err := s.Add(ctx, eligibility.Exception{Owner: "a@example.com", Reason: "r", Account: "222222222222", Expires: day("2027-01-01")})
	if err != nil || !strings.HasPrefix(gen.ID, "exc-") {
		t.Fatalf("Add without id = (%q, %v), want a generated exc- id", gen.ID, err)
	}

	for _, tc := range []struct {
		name string
		e    eligibility.Exception
		want string
	}{
		{"no scope", eligibility.Exception{ID: "X", Owner: "o", Reason: "r", Expires: day("2027-01-01")}, "no scope"},
		{"no expiry", eligibility.Exception{ID: "X", Owner: "o", Reason: "r", Account: "111111111111"}, "expires is required"},
		{"no owner", eligibility.Exception{ID: "X", Reason: "r", Account: "111111111111", Expires: day("2027-01-01")}, "owner is required"},
		{"bad account", eligibility.Exception{ID: "X", Owner: "o", Reason: "r", Account: "1111", Expires: day("2027-01-01")}, "not 12 digits"},
		{"duplicate id", eligibility.Exception{ID: "EXC-1", Owner: "o", Reason: "r", Account: "111111111111", Expires: day("2027-01-01")}, "already exists"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Add(ctx, tc.e)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Add = %v, want an error containing %q", err, tc.want)
			}
		})
	}

	if err := s.Revoke(ctx, gen.ID); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	for _, id := range []string{gen.ID, "EXC-404"} {
		if err := s.Revoke(ctx, id); !errors.Is(err, dynamo.ErrExceptionNotFound) {
			t.Errorf("Revoke(%s) = %v, want ErrExceptionNotFound", id, err)
		}
	}

	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range list {
		got = append(got, r.ID+" "+r.Status(clk.Now())+" "+r.ExpiresText()+" "+r.Scope())
		if r.Created.IsZero() {
			t.Errorf("%s: no creation time", r.ID)
		}
	}
	want := []string{
		`EXC-1 active 2027-01-31 resource "arn:aws:s3:::www-example-com"`,
		`EXC-2 expired 2026-10-01 control "wc-1", account 111111111111, tag "team=legacy"`,
		gen.ID + ` revoked 2027-01-01 account 222222222222`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	served, err := s.Exceptions(ctx, &remediate.Finding{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]eligibility.Exception{active, old}, served, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("Exceptions served to the policy (-want +got):\n%s", diff)
	}
}

// exceptionPolicy approves fix-flag on buckets in account 111111111111,
// so a finding no exception covers is remediated.
const exceptionPolicy = `name: exceptions-test
approved_resource_types:
  bucket: [fix-flag]
playbooks:
  wc-1: fix-flag
environment:
  known: [production]
  sources: [tag:Environment]
owner:
  sources: [tag:Owner]
accounts:
  - id: "111111111111"
`

// exceptionEngine returns an engine in apply mode whose policy consults
// store, the remediator it changes resources with, and where its audit
// records go.
func exceptionEngine(t *testing.T, store eligibility.ExceptionSource, now time.Time) (*remediate.Engine, *countingRemediator, *[]*audit.Record) {
	t.Helper()
	policy, err := eligibility.Parse([]byte(exceptionPolicy), "policy.yaml", func(o *eligibility.Options) {
		o.Exceptions = store
		o.Now = func() time.Time { return now }
	})
	if err != nil {
		t.Fatal(err)
	}
	rem := &countingRemediator{}
	reg, err := remediate.NewRegistry(rem)
	if err != nil {
		t.Fatal(err)
	}
	var records []*audit.Record
	var n atomic.Int64
	e, err := remediate.NewEngine(remediate.Options{
		// The body is the resource's ARN; its tags come after a space.
		Parser: remediate.ParserFunc(func(body []byte) (*remediate.Finding, error) {
			arn, tag, _ := strings.Cut(string(body), " ")
			tags := map[string]string{"Environment": "production", "Owner": "web@example.com"}
			if k, v, ok := strings.Cut(tag, "="); ok {
				tags[k] = v
			}
			return &remediate.Finding{
				ID: "f-" + arn, Source: "test", Revision: "r" + string(rune('0'+n.Add(1)%10)), TriggerType: "CREATED", Status: "OPEN",
				Severity: remediate.SeverityHigh, Control: remediate.Control{ID: "wc-1"},
				Resource: remediate.Resource{ARN: arn, Name: arn[strings.LastIndexByte(arn, ':')+1:], Type: "bucket", Account: "111111111111", Region: "us-east-1", Tags: tags},
			}, nil
		}),
		Policy:      policy,
		Registry:    reg,
		Credentials: staticCreds{},
		Audit:       audit.SinkFunc(func(_ context.Context, r *audit.Record) error { records = append(records, r); return nil }),
		Mode:        remediate.ModeApply,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e, rem, &records
}

// TestExceptionStoreDecides runs findings through an engine whose policy
// reads the DynamoDB exception store: a matching, unexpired exception
// skips the finding with its id and owner in the reason, exactly as a
// policy-file exception does; a lookalike resource, an expired, revoked
// or partly matching exception leaves the finding to be fixed.
func TestExceptionStoreDecides(t *testing.T) {
	c, table := newTable(t, dynamo.CreateExceptionTable)
	ctx := mototest.Context(t)
	s := dynamo.NewExceptions(c, table)
	for _, e := range []eligibility.Exception{
		{ID: "EXC-7", Owner: "web-platform@example.com", Reason: "public static website", Resource: "arn:aws:s3:::www-example-com", Control: "wc-1", Expires: day("2027-01-31")},
		{ID: "EXC-OLD", Owner: "ops@example.com", Reason: "was fine", Resource: "arn:aws:s3:::old-bucket", Expires: day("2026-11-01")},
		{ID: "EXC-TAG", Owner: "data@example.com", Reason: "archive tier", TagKey: "tier", TagValue: "archive", Account: "111111111111", Expires: day("2027-01-31")},
		{ID: "EXC-OTHER", Owner: "x@example.com", Reason: "another account", Resource: "arn:aws:s3:::other-account-bucket", Account: "999999999999", Expires: day("2027-01-31")},
		{ID: "EXC-GONE", Owner: "x@example.com", Reason: "revoked", Resource: "arn:aws:s3:::revoked-bucket", Expires: day("2027-01-31")},
	} {
		if _, err := s.Add(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Revoke(ctx, "EXC-GONE"); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, body  string
		wantOutcome string
		wantReason  string // the exception check's reason, if any
	}{
		{"matching exception", "arn:aws:s3:::www-example-com", "skipped",
			`exception "EXC-7" approved for resource "arn:aws:s3:::www-example-com", control "wc-1" until 2027-01-31 (owner web-platform@example.com): public static website`},
		{"tag and account", "arn:aws:s3:::cold-data tier=archive", "skipped",
			`exception "EXC-TAG" approved for account 111111111111, tag "tier=archive" until 2027-01-31 (owner data@example.com): archive tier`},
		{"lookalike resource", "arn:aws:s3:::www-example-com-copy", "applied", ""},
		{"same name in another partition", "arn:aws-cn:s3:::www-example-com", "applied", ""},
		{"tag value differs", "arn:aws:s3:::cold-data tier=archive2", "applied", ""},
		{"expired", "arn:aws:s3:::old-bucket", "applied", ""},
		{"account differs", "arn:aws:s3:::other-account-bucket", "applied", ""},
		{"revoked", "arn:aws:s3:::revoked-bucket", "applied", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, rem, records := exceptionEngine(t, s, now)
			rec, err := e.Process(ctx, remediate.Message{ID: "m-1", Body: []byte(tc.body), ReceiveCount: 1})
			if err != nil {
				t.Fatalf("Process: %v", err)
			}
			if rec.Outcome != tc.wantOutcome {
				t.Errorf("outcome %s, want %s (reasons %+v)", rec.Outcome, tc.wantOutcome, rec.Reasons)
			}
			var reason string
			for _, r := range rec.Reasons {
				if r.Check == eligibility.CheckException {
					reason = r.Message
				}
			}
			if reason != tc.wantReason {
				t.Errorf("exception reason:\n got %q\nwant %q", reason, tc.wantReason)
			}
			wantApplied := int32(0)
			if tc.wantOutcome == "applied" {
				wantApplied = 1
			}
			if got := rem.applied.Load(); got != wantApplied {
				t.Errorf("resource changed %d times, want %d", got, wantApplied)
			}
			if len(*records) != 1 {
				t.Errorf("%d audit records, want 1", len(*records))
			}
		})
	}
}

// TestExceptionStoreDown: when the exception store cannot be read — the
// table is missing, or DynamoDB answers 500 — the finding is retried
// (Process returns a transient error) and nothing is changed.
func TestExceptionStoreDown(t *testing.T) {
	srv := mototest.Require(t, moto)
	ctx := mototest.Context(t)
	proxy, err := faultproxy.Start(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	proxy.Add(faultproxy.Rule{Match: faultproxy.Operation("Scan"), Status: 500, Code: "InternalServerError"})
	cfg := srv.Config("us-east-1")
	cfg.BaseEndpoint = aws.String(proxy.URL)
	cfg.RetryMaxAttempts = 2
	_, table := newTable(t, dynamo.CreateExceptionTable)

	for _, tc := range []struct {
		name  string
		store *dynamo.Exceptions
	}{
		{"table missing", dynamo.NewExceptions(dynamodb.NewFromConfig(srv.Config("us-east-1")), "no-such-exception-table")},
		{"500 from DynamoDB", dynamo.NewExceptions(dynamodb.NewFromConfig(cfg), table)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, rem, records := exceptionEngine(t, tc.store, time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
			rec, err := e.Process(ctx, remediate.Message{ID: "m-1", Body: []byte("arn:aws:s3:::www-example-com"), ReceiveCount: 1})
			if err == nil || !remediate.IsTransient(err) || !strings.Contains(err.Error(), "exception store") {
				t.Errorf("Process = (%v, %v), want a transient error naming the exception store", rec, err)
			}
			if got := rem.applied.Load(); got != 0 {
				t.Errorf("resource changed %d times with the exception store down, want 0", got)
			}
			for _, r := range *records {
				if r.Outcome == "applied" || r.Decision == "remediate" {
					t.Errorf("record %s/%s with the exception store down", r.Decision, r.Outcome)
				}
			}
		})
	}
}
