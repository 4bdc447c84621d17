package crossaccount

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

// planRemediator is a remediator whose Plan makes the AWS calls of plan
// and finds the resource compliant.
type planRemediator struct {
	spec remediate.Spec
	plan func(ctx context.Context, t remediate.Target) error
}

func (r planRemediator) Spec() remediate.Spec { return r.spec }

func (r planRemediator) Plan(ctx context.Context, t remediate.Target) (remediate.Plan, error) {
	return remediate.Plan{Compliant: true}, r.plan(ctx, t)
}

func (r planRemediator) Apply(context.Context, remediate.Target, remediate.Plan) (remediate.Result, error) {
	return remediate.Result{}, errors.New("Apply is not used by these tests")
}

// callerSpec declares a bucket action besides the one it calls, so that
// it can declare the resources of the bucket type: a remediator acts on
// the resources of its types.
var callerSpec = remediate.Spec{Action: "whoami", ResourceTypes: []string{"bucket"}, Resources: resourcesOf("bucket"), IAMActions: []string{"sts:GetCallerIdentity", "s3:GetBucketTagging"}}

// getCallerIdentity is a Plan that checks the credentials act in the
// finding's account.
func getCallerIdentity(ctx context.Context, t remediate.Target) error {
	out, err := sts.NewFromConfig(t.AWS).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return err
	}
	if got := aws.ToString(out.Account); got != t.Finding.Resource.Account {
		return remediate.Permanentf("credentials act in account %s, not %s", got, t.Finding.Resource.Account)
	}
	return nil
}

// process runs f through a real engine (dry run) whose policy approves
// rem's action, with creds as its credential source.
func process(t *testing.T, creds remediate.CredentialSource, rem remediate.Remediator, f *remediate.Finding) *audit.Record {
	t.Helper()
	reg, err := remediate.NewRegistry(rem)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := remediate.NewEngine(remediate.Options{
		Parser: remediate.ParserFunc(func(b []byte) (*remediate.Finding, error) {
			var f remediate.Finding
			return &f, json.Unmarshal(b, &f)
		}),
		Policy: remediate.PolicyFunc(func(context.Context, *remediate.Finding) (remediate.Decision, error) {
			return remediate.Decision{Verdict: remediate.VerdictRemediate, Action: rem.Spec().Action}, nil
		}),
		Registry:    reg,
		Credentials: creds,
		Audit:       audit.Discard(),
	})
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	r, err := eng.Process(mototest.Context(t), remediate.Message{ID: "msg-" + f.ID, Body: body})
	if err != nil {
		t.Fatalf("Process(%s): %v", f.ID, err)
	}
	return r
}

// TestEngineTraceability: through the engine, every call a remediator
// makes with a shared session carries its finding's id in the user agent,
// and the request ids of the calls (and of the AssumeRole the finding
// caused) land in the audit record.
func TestEngineTraceability(t *testing.T) {
	srv := mototest.Require(t, moto)
	accs := setUpCustomers(t, srv)
	stsRec, apiRec := newRecorder(), newRecorder()
	cache := newCache(t, srv, stsRec, accs, func(o *Options) { o.Base.HTTPClient = apiRec.client() })
	rem := planRemediator{spec: callerSpec, plan: getCallerIdentity}

	var records []*audit.Record
	for i := range 2 {
		r := process(t, cache, rem, bucketFinding(i, customers[0]))
		if r.Outcome != string(remediate.OutcomeCompliant) {
			t.Fatalf("finding %d: outcome %q (%s), want compliant", i, r.Outcome, r.FailureReason)
		}
		records = append(records, r)
	}
	assumes := stsRec.recorded("AssumeRole")
	calls := apiRec.recorded("GetCallerIdentity")
	if len(assumes) != 1 || len(calls) != 2 {
		t.Fatalf("%d AssumeRole and %d GetCallerIdentity calls, want 1 and 2", len(assumes), len(calls))
	}
	for i, c := range calls {
		if want := "remedy-finding/" + bucketFinding(i, "").ID; !strings.Contains(c.UserAgent, want) {
			t.Errorf("call %d user agent %q lacks %q", i, c.UserAgent, want)
		}
	}
	got := [][]string{records[0].Evidence.RequestIDs, records[1].Evidence.RequestIDs}
	want := [][]string{{assumes[0].RequestID, calls[0].RequestID}, {calls[1].RequestID}}
	if diff := cmp.Diff(want, got); diff != "" || calls[0].RequestID == "" {
		t.Errorf("audit request ids mismatch (-want +got):\n%s", diff)
	}
}

// TestIAMEnforcement runs a second moto server that enforces IAM and
// trust policies: a wrong external id and a denied API call both end as
// failed, with the reason; the right external id works.
func TestIAMEnforcement(t *testing.T) {
	mototest.Require(t, moto)
	srv, err := mototest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ctx := mototest.Context(t)
	const account = mototest.DefaultAccount

	// Set up before enforcement starts: a platform user allowed to assume
	// roles, and the remediation role, trusting that user with an
	// external id.
	root := iam.NewFromConfig(srv.Config(region))
	user, err := root.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("remedy-platform")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.PutUserPolicy(ctx, &iam.PutUserPolicyInput{
		UserName: aws.String("remedy-platform"), PolicyName: aws.String("assume"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`),
	}); err != nil {
		t.Fatal(err)
	}
	key, err := root.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("remedy-platform")})
	if err != nil {
		t.Fatal(err)
	}
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + aws.ToString(user.User.Arn) + `"},` +
		`"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"right-external-id"}}}]}`
	if _, err := root.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(roleName), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	// From now on every call is authenticated and authorized.
	resp, err := http.Post(srv.URL+"/moto-api/reset-auth", "text/plain", strings.NewReader("0"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	platform := srv.ConfigWith(region, credentials.NewStaticCredentialsProvider(
		aws.ToString(key.AccessKey.AccessKeyId), aws.ToString(key.AccessKey.SecretAccessKey), ""))
	listRoles := func(ctx context.Context, t remediate.Target) error {
		_, err := iam.NewFromConfig(t.AWS).ListRoles(ctx, &iam.ListRolesInput{})
		return err
	}
	tests := []struct {
		name, externalID string
		plan             func(context.Context, remediate.Target) error
		outcome          remediate.Outcome
		reason           string
	}{
		{"right external id", "right-external-id", getCallerIdentity, remediate.OutcomeCompliant, ""},
		{"wrong external id", "wrong-external-id", getCallerIdentity, remediate.OutcomeFailed, "assume role: crossaccount: assume arn:aws:iam::123456789012:role/RemedyRemediation"},
		{"denied API call", "right-external-id", listRoles, remediate.OutcomeFailed, "plan: operation error IAM: ListRoles"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			accs, err := LoadAccounts(ctx, AccountsConfig{Regions: []string{region}, Accounts: []Account{{ID: account, ExternalID: tt.externalID}}})
			if err != nil {
				t.Fatal(err)
			}
			cache, err := New(sts.NewFromConfig(platform), accs, func(o *Options) { o.Base = srv.Config(region) })
			if err != nil {
				t.Fatal(err)
			}
			f := bucketFinding(1, account)
			r := process(t, cache, planRemediator{spec: callerSpec, plan: tt.plan}, f)
			if r.Outcome != string(tt.outcome) || !strings.Contains(r.FailureReason, tt.reason) {
				t.Fatalf("outcome %q, reason %q; want %q with a reason containing %q", r.Outcome, r.FailureReason, tt.outcome, tt.reason)
			}
			t.Logf("outcome %s: %s", r.Outcome, r.FailureReason)
			// Named whether or not STS let the role be assumed: CloudTrail
			// records the attempt under that name.
			if r.Correlation.SessionName != "whoami@shared" {
				t.Errorf("Correlation.SessionName = %q, want %q", r.Correlation.SessionName, "whoami@shared")
			}
			if tt.outcome == remediate.OutcomeFailed {
				if !strings.Contains(r.FailureReason, "AccessDenied") {
					t.Errorf("reason %q does not name AccessDenied", r.FailureReason)
				}
				if !remediate.Outcome(r.Outcome).NeedsReview() {
					t.Errorf("outcome %q is not routed to review", r.Outcome)
				}
				if strings.Contains(r.FailureReason, tt.externalID) {
					t.Errorf("reason %q shows the external id", r.FailureReason)
				}
			}
		})
	}
}

// TestSessionNameInRecord: through the engine, the audit record names
// the session the finding's calls were made in — the RoleSessionName
// that reached STS, which the customer account's CloudTrail shows in
// the assumed-role ARN — in shared and strict mode.
func TestSessionNameInRecord(t *testing.T) {
	srv := mototest.Require(t, moto)
	accs := setUpCustomers(t, srv)
	for _, tt := range []struct {
		mode Mode
		want string
	}{
		{Shared, "whoami@shared"},
		{Strict, "whoami@wiz-0007"},
	} {
		t.Run(tt.mode.String(), func(t *testing.T) {
			rec := newRecorder()
			cache := newCache(t, srv, rec, accs, func(o *Options) { o.Mode = tt.mode })
			var caller string
			rem := planRemediator{spec: callerSpec, plan: func(ctx context.Context, tg remediate.Target) error {
				out, err := sts.NewFromConfig(tg.AWS).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
				caller = aws.ToString(out.Arn)
				return err
			}}
			r := process(t, cache, rem, bucketFinding(7, customers[1]))
			if r.Outcome != string(remediate.OutcomeCompliant) {
				t.Fatalf("outcome %q (%s), want compliant", r.Outcome, r.FailureReason)
			}
			assumes := rec.recorded("AssumeRole")
			if len(assumes) != 1 {
				t.Fatalf("%d AssumeRole calls, want 1", len(assumes))
			}
			got := []string{r.Correlation.SessionName, assumes[0].Form.Get("RoleSessionName"), caller}
			want := []string{tt.want, tt.want, "arn:aws:sts::" + customers[1] + ":assumed-role/" + roleName + "/" + tt.want}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("record's session name, STS's RoleSessionName, caller ARN (-want +got):\n%s", diff)
			}
		})
	}
}
