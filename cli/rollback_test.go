package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/adapters/dynamo"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/crossaccount"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
	"github.com/remedy-sec/remedy/remediators/s3publicaccess"
)

// rollbackEnv is a customer account on moto with the remediation role,
// an account registry naming it and an audit table.
type rollbackEnv struct {
	srv      *mototest.Server
	account  string
	accounts string // path of accounts.yaml
	table    string
	s3       *s3.Client // acts in the customer account
	db       *dynamodb.Client
}

func newRollbackEnv(t *testing.T, account, table string) *rollbackEnv {
	t.Helper()
	srv := mototest.Require(t, moto)
	ctx := mototest.Context(t)
	const externalID = "ext-rollback-test"
	if _, err := srv.CreateRole(ctx, account, "RemedyRemediation", externalID); err != nil {
		t.Fatal(err)
	}
	cust, err := srv.AccountConfig(ctx, account, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e := &rollbackEnv{
		srv: srv, account: account, table: table,
		accounts: filepath.Join(dir, "accounts.yaml"),
		s3:       s3.NewFromConfig(cust, func(o *s3.Options) { o.UsePathStyle = true }),
		db:       dynamodb.NewFromConfig(srv.Config("us-east-1")),
	}
	if err := os.WriteFile(e.accounts, []byte("regions: [us-east-1]\naccounts:\n  - id: \""+account+"\"\n    external_id: "+externalID+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := dynamo.CreateAuditTable(ctx, e.db, table); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	return e
}

// bucketWithBlock creates bucket with the public access block b.
func (e *rollbackEnv) bucketWithBlock(t *testing.T, bucket string, b s3types.PublicAccessBlockConfiguration) {
	t.Helper()
	ctx := mototest.Context(t)
	if _, err := e.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	e.putBlock(t, bucket, b)
}

func (e *rollbackEnv) putBlock(t *testing.T, bucket string, b s3types.PublicAccessBlockConfiguration) {
	t.Helper()
	if _, err := e.s3.PutPublicAccessBlock(mototest.Context(t), &s3.PutPublicAccessBlockInput{
		Bucket: aws.String(bucket), PublicAccessBlockConfiguration: &b,
	}); err != nil {
		t.Fatal(err)
	}
}

func block(acls, ignore, policy, restrict bool) s3types.PublicAccessBlockConfiguration {
	return s3types.PublicAccessBlockConfiguration{
		BlockPublicAcls: aws.Bool(acls), IgnorePublicAcls: aws.Bool(ignore),
		BlockPublicPolicy: aws.Bool(policy), RestrictPublicBuckets: aws.Bool(restrict),
	}
}

// liveBlock reads bucket's public access block as four flags.
func (e *rollbackEnv) liveBlock(t *testing.T, bucket string) [4]bool {
	t.Helper()
	out, err := e.s3.GetPublicAccessBlock(mototest.Context(t), &s3.GetPublicAccessBlockInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("GetPublicAccessBlock(%s): %v", bucket, err)
	}
	c := out.PublicAccessBlockConfiguration
	return [4]bool{aws.ToBool(c.BlockPublicAcls), aws.ToBool(c.IgnorePublicAcls), aws.ToBool(c.BlockPublicPolicy), aws.ToBool(c.RestrictPublicBuckets)}
}

// fix runs a finding about bucket through an engine in apply mode, as
// the deployment does (crossaccount, s3publicaccess, the DynamoDB audit
// table), and returns its applied record.
func (e *rollbackEnv) fix(t *testing.T, bucket string) *audit.Record {
	t.Helper()
	ctx := mototest.Context(t)
	af, err := os.Open(e.accounts)
	if err != nil {
		t.Fatal(err)
	}
	defer af.Close()
	accounts, err := crossaccount.ReadAccounts(ctx, af)
	if err != nil {
		t.Fatal(err)
	}
	base := e.srv.Config("us-east-1")
	creds, err := crossaccount.New(sts.NewFromConfig(base), accounts, func(o *crossaccount.Options) {
		o.Base = aws.Config{BaseEndpoint: base.BaseEndpoint}
	})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := remediate.NewRegistry(s3publicaccess.New(func(o *s3publicaccess.Options) { o.UsePathStyle = true }))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := remediate.NewEngine(remediate.Options{
		Parser: remediate.ParserFunc(func(b []byte) (*remediate.Finding, error) {
			var f remediate.Finding
			return &f, json.Unmarshal(b, &f)
		}),
		Policy: remediate.PolicyFunc(func(context.Context, *remediate.Finding) (remediate.Decision, error) {
			return remediate.Decision{Verdict: remediate.VerdictRemediate, Action: s3publicaccess.Action}, nil
		}),
		Registry: reg, Credentials: creds, Mode: remediate.ModeApply,
		Audit: dynamo.NewAuditSink(e.db, e.table),
	})
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(remediate.Finding{
		ID: "finding-" + bucket, Source: "wiz", CorrelationID: "corr-" + bucket,
		Resource: remediate.Resource{ID: "arn:aws:s3:::" + bucket, ARN: "arn:aws:s3:::" + bucket, Name: bucket, Type: "bucket", Account: e.account, Region: "us-east-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := eng.Process(ctx, remediate.Message{ID: "msg-" + bucket, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome != string(remediate.OutcomeApplied) {
		t.Fatalf("fix of %s: outcome %q (%s), want applied", bucket, rec.Outcome, rec.FailureReason)
	}
	return rec
}

// records returns the audit table's records about bucket's finding,
// by id.
func (e *rollbackEnv) records(t *testing.T) map[string]*audit.Record {
	t.Helper()
	out := map[string]*audit.Record{}
	p := dynamodb.NewScanPaginator(e.db, &dynamodb.ScanInput{TableName: aws.String(e.table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(mototest.Context(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			r, err := dynamo.DecodeAuditItem(it)
			if err != nil {
				t.Fatal(err)
			}
			out[r.ID] = r
		}
	}
	return out
}

func (e *rollbackEnv) rollback(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runCLI(t, "", append([]string{"rollback", "--audit-table", e.table, "--accounts", e.accounts, "--endpoint", e.srv.URL}, args...)...)
}

// TestRollbackRestoresPriorState: a bucket fixed by s3publicaccess
// through the engine is rolled back by remedy rollback from its record in
// the audit table: a dry run changes and writes nothing; the rollback
// restores the prior public access block, through the customer role, and
// writes a rolled-back record linked to the original. Rolling back the
// same record again is refused: the live state is no longer the fix's.
func TestRollbackRestoresPriorState(t *testing.T) {
	e := newRollbackEnv(t, "333333333333", "audit-rollback-clean")
	const bucket = "rollback-clean"
	e.bucketWithBlock(t, bucket, block(true, false, false, false))
	fixed := e.fix(t, bucket)
	if got, want := e.liveBlock(t, bucket), [4]bool{true, true, true, true}; got != want {
		t.Fatalf("after the fix, block = %v, want %v", got, want)
	}

	code, out, errOut := e.rollback(t, "--dry-run", fixed.ID)
	if code != exitOK {
		t.Fatalf("dry run: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"rollback  planned (dry run)", "restore   ", "change    ignore_public_acls: true → false"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if got, want := e.liveBlock(t, bucket), [4]bool{true, true, true, true}; got != want {
		t.Errorf("after the dry run, block = %v, want %v (unchanged)", got, want)
	}
	if n := len(e.records(t)); n != 1 {
		t.Errorf("after the dry run the table holds %d records, want 1 (the fix's)", n)
	}

	code, out, errOut = e.rollback(t, fixed.ID)
	if code != exitOK {
		t.Fatalf("rollback: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if got, want := e.liveBlock(t, bucket), [4]bool{true, false, false, false}; got != want {
		t.Errorf("after the rollback, block = %v, want the prior %v", got, want)
	}
	recs := e.records(t)
	if len(recs) != 2 {
		t.Fatalf("the table holds %d records, want the fix's and the rollback's", len(recs))
	}
	var rb *audit.Record
	for id, r := range recs {
		if id != fixed.ID {
			rb = r
		}
	}
	got := audit.Record{
		Decision: rb.Decision, Outcome: rb.Outcome, RollbackOf: rb.RollbackOf, Action: rb.Action,
		Resource: rb.Resource, Finding: audit.Finding{ID: rb.Finding.ID},
		Evidence: audit.Evidence{After: rb.Evidence.After, Verified: rb.Evidence.Verified},
	}
	want := audit.Record{
		Decision: "rollback", Outcome: "rolled-back", RollbackOf: fixed.ID, Action: s3publicaccess.Action,
		Resource: fixed.Resource, Finding: audit.Finding{ID: fixed.Finding.ID},
		Evidence: audit.Evidence{After: fixed.Evidence.Before, Verified: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rollback record (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(rb.Correlation.SessionName, s3publicaccess.Action) || len(rb.Evidence.RequestIDs) == 0 {
		t.Errorf("rollback record: session %q, request ids %v; want the remediator's session and the calls made", rb.Correlation.SessionName, rb.Evidence.RequestIDs)
	}
	if !strings.Contains(out, "rollback  rolled-back, record "+rb.ID) {
		t.Errorf("output lacks the rolled-back line:\n%s", out)
	}

	// Again: the bucket is no longer as the fix left it.
	code, out, _ = e.rollback(t, fixed.ID)
	if code != exitInput || !strings.Contains(out, "rollback  review") || !strings.Contains(out, "changed since record "+fixed.ID) {
		t.Errorf("second rollback: exit %d, want 1 and a refusal:\n%s", code, out)
	}
	if got, want := e.liveBlock(t, bucket), [4]bool{true, false, false, false}; got != want {
		t.Errorf("after the second rollback, block = %v, want %v (unchanged)", got, want)
	}
}

// TestRollbackRefusesChangedResource: when the resource changed after
// the fix, remedy rollback writes nothing to it, exits 1, shows the
// difference between the state the fix left and the live one, and
// writes a review record linked to the original.
func TestRollbackRefusesChangedResource(t *testing.T) {
	e := newRollbackEnv(t, "444444444444", "audit-rollback-refused")
	const bucket = "rollback-refused"
	e.bucketWithBlock(t, bucket, block(false, false, true, false))
	fixed := e.fix(t, bucket)
	// Someone turns one flag off again after the fix.
	e.putBlock(t, bucket, block(true, false, true, true))

	code, out, errOut := e.rollback(t, fixed.ID)
	if code != exitInput {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"rollback  review",
		"differs   ignore_public_acls: true → false",
		`live      {"bucket":"rollback-refused","configured":true,"block_public_acls":true,"ignore_public_acls":false`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "remedy rollback: not rolled back: rollback refused: resource arn:aws:s3:::rollback-refused changed since") {
		t.Errorf("stderr lacks the refusal:\n%s", errOut)
	}
	if got, want := e.liveBlock(t, bucket), [4]bool{true, false, true, true}; got != want {
		t.Errorf("after the refusal, block = %v, want %v (untouched)", got, want)
	}
	recs := e.records(t)
	if len(recs) != 2 {
		t.Fatalf("the table holds %d records, want the fix's and the refusal's", len(recs))
	}
	for id, r := range recs {
		if id == fixed.ID {
			continue
		}
		got := []string{r.Decision, r.Outcome, r.RollbackOf, strings.Join(r.Evidence.Changes, "; ")}
		want := []string{"rollback", "review", fixed.ID, "ignore_public_acls: true → false"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("refusal record (-want +got):\n%s", diff)
		}
	}
}

// TestRollbackRefusesRecords: only an applied record can be rolled back;
// the refusal is recorded and nothing is changed.
func TestRollbackRefusesRecords(t *testing.T) {
	e := newRollbackEnv(t, "555555555555", "audit-rollback-records")
	const bucket = "rollback-records"
	e.bucketWithBlock(t, bucket, block(false, false, false, false))
	fixed := e.fix(t, bucket)
	ctx := mototest.Context(t)
	sink := dynamo.NewAuditSink(e.db, e.table)
	for _, tt := range []struct {
		name string
		edit func(r *audit.Record)
		want string
	}{
		{"planned", func(r *audit.Record) { r.Outcome = "planned"; r.DryRun = true }, `has outcome "planned"`},
		{"no rollback data", func(r *audit.Record) { r.Evidence.Rollback = nil }, "has no rollback data"},
		{"unknown action", func(r *audit.Record) { r.Action = "no-such-action" }, `no remediator is registered for action "no-such-action"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := *fixed
			r.ID = fixed.ID + "-" + strings.ReplaceAll(tt.name, " ", "-")
			tt.edit(&r)
			if err := sink.Write(ctx, &r); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := e.rollback(t, r.ID)
			if code != exitInput || !strings.Contains(errOut, tt.want) || !strings.Contains(out, "rollback  review") {
				t.Errorf("exit %d, want 1 naming %q\nstdout:\n%s\nstderr:\n%s", code, tt.want, out, errOut)
			}
			if got, want := e.liveBlock(t, bucket), [4]bool{true, true, true, true}; got != want {
				t.Errorf("block = %v, want %v (untouched)", got, want)
			}
		})
	}
	code, _, errOut := e.rollback(t, "no-such-record")
	if code != exitInput || !strings.Contains(errOut, "no record no-such-record in audit table") {
		t.Errorf("unknown record: exit %d, stderr %q", code, errOut)
	}
}

func TestRollbackUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"rollback"}, "exactly one RECORD_ID"},
		{[]string{"rollback", "id"}, "--audit-table TABLE is required"},
		{[]string{"rollback", "--audit-table", "t", "id"}, "--accounts FILE is required"},
		{[]string{"rollback", "--audit-table", "t", "--accounts", "a", "--session-mode", "loose", "id"}, `--session-mode "loose"`},
	} {
		code, _, errOut := runCLI(t, "", tt.args...)
		if code != exitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 naming %q", tt.args, code, errOut, tt.want)
		}
	}
}
