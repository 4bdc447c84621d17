package remediate_test

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/remediate"
)

// TestRegisterNamesWhatToDeclare checks that a Spec whose resource scope
// is missing or malformed fails registration, with an error naming the
// field and what to declare, instead of being given a session on every
// resource of its service later.
func TestRegisterNamesWhatToDeclare(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*remediate.Spec)
		want   []string // substrings of the error; none means it registers
	}{
		{"complete", func(*remediate.Spec) {}, nil},
		{"no pattern of a resource type", func(s *remediate.Spec) { s.Resources = nil },
			[]string{`register "fix-flag"`, `Spec().Resources has no ARN pattern for resource type "bucket"`, "arn:{partition}:s3:::*"}},
		{"no pattern of a second type", func(s *remediate.Spec) { s.ResourceTypes = append(s.ResourceTypes, "object") },
			[]string{`no ARN pattern for resource type "object"`}},
		{"pattern of a type it does not fix", func(s *remediate.Spec) { s.Resources["object"] = []string{"arn:{partition}:s3:::*/*"} },
			[]string{`declares resource type "object", which is not in ResourceTypes`}},
		{"empty pattern list", func(s *remediate.Spec) { s.Resources["bucket"] = []string{} },
			[]string{`no ARN pattern for resource type "bucket"`}},
		{"not an ARN", func(s *remediate.Spec) { s.Resources["bucket"] = []string{"s3:::*"} },
			[]string{`Spec().Resources["bucket"]: pattern "s3:::*" is not an ARN`}},
		{"literal partition", func(s *remediate.Spec) { s.Resources["bucket"] = []string{"arn:aws:s3:::*"} },
			[]string{`has partition "aws"; write {partition}`}},
		{"literal account", func(s *remediate.Spec) {
			s.IAMActions = []string{"ec2:RevokeSecurityGroupIngress"}
			s.Resources["bucket"] = []string{"arn:{partition}:ec2:{region}:111111111111:security-group/*"}
		}, []string{`has account "111111111111"; write {account}`}},
		{"misspelt region", func(s *remediate.Spec) {
			s.IAMActions = []string{"ec2:RevokeSecurityGroupIngress"}
			s.Resources["bucket"] = []string{"arn:{partition}:ec2:{regoin}:{account}:security-group/*"}
		}, []string{`has region "{regoin}"; write {region}`}},
		{"no trailing star", func(s *remediate.Spec) { s.Resources["bucket"] = []string{"arn:{partition}:s3:::my-bucket"} },
			[]string{`does not end in "*"`}},
		{"placeholder in the resource part", func(s *remediate.Spec) { s.Resources["bucket"] = []string{"arn:{partition}:s3:::{account}-*"} },
			[]string{"holds ? or a placeholder"}},
		{"pattern of a service none of its actions belongs to", func(s *remediate.Spec) {
			s.Resources["bucket"] = []string{"arn:{partition}:ec2:{region}:{account}:security-group/*"}
		}, []string{`is of service "ec2", which none of IAMActions ["s3:PutFlag"] belongs to`}},
		{"wildcard action", func(s *remediate.Spec) { s.IAMActions = []string{"s3:Put*"} },
			[]string{`Spec().IAMActions: "s3:Put*" is not service:Action without a wildcard`}},
		{"permanent code with a space", func(s *remediate.Spec) { s.PermanentErrorCodes = []string{"DB Instance Not Found"} },
			[]string{`Spec().PermanentErrorCodes: "DB Instance Not Found" is not an AWS error code`}},
		{"throttling declared permanent", func(s *remediate.Spec) { s.PermanentErrorCodes = []string{"ThrottlingException"} },
			[]string{`"ThrottlingException" is an error a retry fixes`}},
		{"every problem at once", func(s *remediate.Spec) {
			s.Resources = map[string][]string{"object": {"arn:aws:s3:::*"}}
			s.PermanentErrorCodes = []string{"RequestLimitExceeded"}
		}, []string{`no ARN pattern for resource type "bucket"`, `declares resource type "object"`, `has partition "aws"`, `"RequestLimitExceeded" is an error a retry fixes`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newFake()
			tt.mutate(&r.spec)
			_, err := remediate.NewRegistry(r)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("NewRegistry: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("NewRegistry accepted %+v", r.spec)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestPermanentErrorCodes checks that a code a remediator declares
// permanent ends the finding as failed (to review), as the default codes
// do, while the same code from a remediator that does not declare it
// stays transient, and that Spec.Classify agrees with the engine.
func TestPermanentErrorCodes(t *testing.T) {
	gone := &smithy.GenericAPIError{Code: "DBInstanceNotFound", Message: "DBInstance db-1 not found"}
	for _, tt := range []struct {
		name     string
		codes    []string
		classify func(error) error
		want     remediate.Outcome // "" means a transient error
	}{
		{"undeclared: transient", nil, nil, ""},
		{"declared: failed", []string{"DBInstanceNotFound"}, nil, remediate.OutcomeFailed},
		{"declared, with a custom classifier: failed", []string{"DBInstanceNotFound"}, func(err error) error { return err }, remediate.OutcomeFailed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t, func(o *remediate.Options, r *fakeRemediator) {
				r.spec.PermanentErrorCodes = tt.codes
				r.planErr = gone
				o.Classify = tt.classify
			})
			rec, err := s.engine.Process(context.Background(), remediate.Message{ID: "m1", Body: []byte("f1")})
			if tt.want == "" {
				if err == nil || !remediate.IsTransient(err) {
					t.Fatalf("Process = %v, %v; want a transient error", rec, err)
				}
			} else if err != nil || rec.Outcome != string(tt.want) || !strings.Contains(rec.FailureReason, "DBInstanceNotFound") {
				t.Fatalf("Process = %+v, %v; want outcome %q naming the code", rec, err, tt.want)
			}
			if got, want := remediate.IsPermanent(s.rem.spec.Classify(gone)), tt.want != ""; got != want {
				t.Errorf("Spec.Classify permanent = %v, want %v", got, want)
			}
		})
	}
	spec := remediate.Spec{PermanentErrorCodes: []string{"DBInstanceNotFound"}}
	for _, tt := range []struct {
		err       error
		permanent bool
	}{
		{&smithy.GenericAPIError{Code: "AccessDenied"}, true}, // a default
		{&smithy.GenericAPIError{Code: "ResourceNotFoundException"}, false},
		{context.Canceled, false},
		{nil, false},
	} {
		if got := remediate.IsPermanent(spec.Classify(tt.err)); got != tt.permanent {
			t.Errorf("Spec.Classify(%v) permanent = %v, want %v", tt.err, got, tt.permanent)
		}
	}
}

// TestClassifyAWSDocListsDefaultCodes: every code ClassifyAWS marks
// permanent is named in its documentation, and every code the
// documentation names is marked permanent.
func TestClassifyAWSDocListsDefaultCodes(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "classify.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var doc string
	var codes []string
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Name.Name == "ClassifyAWS" && d.Recv == nil {
				doc = d.Doc.Text()
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				vs, ok := s.(*ast.ValueSpec)
				if !ok || vs.Names[0].Name != "defaultPermanentCodes" {
					continue
				}
				for _, e := range vs.Values[0].(*ast.CompositeLit).Elts {
					codes = append(codes, strings.Trim(e.(*ast.BasicLit).Value, `"`))
				}
			}
		}
	}
	if len(codes) == 0 || doc == "" {
		t.Fatalf("found %d default codes and doc %q in classify.go", len(codes), doc)
	}
	for _, c := range codes {
		if !strings.Contains(doc, c) {
			t.Errorf("ClassifyAWS's documentation does not name %s", c)
		}
		if !remediate.IsPermanent(remediate.ClassifyAWS(&smithy.GenericAPIError{Code: c})) {
			t.Errorf("ClassifyAWS does not mark %s permanent", c)
		}
	}
}

// TestSensitiveApprovedByPolicy checks the engine's sensitive check both
// ways: a sensitive remediator runs only for a decision that approves it
// (Decision.SensitiveApproved); without that it goes to review, and an
// approval does not run a decision that does not remediate.
func TestSensitiveApprovedByPolicy(t *testing.T) {
	sensitive := func(_ *remediate.Options, r *fakeRemediator) { r.spec.Sensitive = true }
	withReason := remediate.Decision{Verdict: remediate.VerdictRemediate, Action: "fix-flag", SensitiveApproved: true}
	withReason.Add("owner", remediate.VerdictReview, "no owner")
	for _, tt := range []struct {
		name        string
		d           remediate.Decision
		wantOutcome remediate.Outcome
		wantApplies int32
	}{
		{"not approved: review", remediate.Decision{Verdict: remediate.VerdictRemediate, Action: "fix-flag"}, remediate.OutcomeReview, 0},
		{"approved: applied", remediate.Decision{Verdict: remediate.VerdictRemediate, Action: "fix-flag", SensitiveApproved: true}, remediate.OutcomeApplied, 1},
		{"approved but a check failed: review", withReason, remediate.OutcomeReview, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t, sensitive, decide(tt.d))
			rec, err := s.engine.Process(context.Background(), remediate.Message{ID: "m1", Body: []byte("f1")})
			if err != nil {
				t.Fatal(err)
			}
			if rec.Outcome != string(tt.wantOutcome) || s.rem.applies.Load() != tt.wantApplies {
				t.Errorf("outcome %q (%s), %d applies; want %q, %d", rec.Outcome, rec.FailureReason, s.rem.applies.Load(), tt.wantOutcome, tt.wantApplies)
			}
		})
	}
}

// enrichingPolicy is a Policy that is also an Enricher, as
// eligibility.Policy is.
type enrichingPolicy struct{}

func (enrichingPolicy) Enrich(_ context.Context, f *remediate.Finding) error {
	f.Owner = "payments@example.com"
	return nil
}

func (enrichingPolicy) Decide(_ context.Context, f *remediate.Finding) (remediate.Decision, error) {
	d := remediate.Decision{Verdict: remediate.VerdictRemediate, Action: "fix-flag"}
	if f.Owner == "" {
		d.Add("owner", remediate.VerdictReview, "owner is unknown")
	}
	return d, nil
}

// TestNewEngineEnrichesWithPolicy: with no Options.Enricher, a Policy
// that can enrich does; an explicit Enricher wins.
func TestNewEngineEnrichesWithPolicy(t *testing.T) {
	for _, tt := range []struct {
		name      string
		enricher  remediate.Enricher
		wantOwner string
		want      remediate.Outcome
	}{
		{"defaults to the policy", nil, "payments@example.com", remediate.OutcomeApplied},
		{"explicit enricher wins", remediate.EnricherFunc(func(context.Context, *remediate.Finding) error { return nil }), "", remediate.OutcomeReview},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t, func(o *remediate.Options, _ *fakeRemediator) {
				o.Policy = enrichingPolicy{}
				o.Enricher = tt.enricher
			})
			rec, err := s.engine.Process(context.Background(), remediate.Message{ID: "m1", Body: []byte("f1")})
			if err != nil {
				t.Fatal(err)
			}
			if rec.Finding.Owner != tt.wantOwner || rec.Outcome != string(tt.want) {
				t.Errorf("owner %q, outcome %q (%s); want %q, %q", rec.Finding.Owner, rec.Outcome, rec.FailureReason, tt.wantOwner, tt.want)
			}
		})
	}
}

// typedPolicy approves its actions for the resource types it lists.
type typedPolicy struct {
	remediate.PolicyFunc
	types map[string][]string // action → types
}

func (p typedPolicy) Actions() []string {
	var out []string
	for a := range p.types {
		out = append(out, a)
	}
	return out
}

func (p typedPolicy) ResourceTypes(action string) []string { return p.types[action] }

// TestNewEngineChecksResourceTypes: a policy approving an action for a
// resource type its remediator does not fix is a NewEngine error naming
// the action, the type and what the remediator fixes.
func TestNewEngineChecksResourceTypes(t *testing.T) {
	for _, tt := range []struct {
		name  string
		types map[string][]string
		want  []string // substrings of the error; none means no error
		bad   map[string][]string
	}{
		{"types line up", map[string][]string{"fix-flag": {"bucket"}}, nil, nil},
		{"a type the remediator does not fix", map[string][]string{"fix-flag": {"bucket", "AWS::S3::Bucket", "securityGroup"}},
			[]string{`Options.Policy approves "fix-flag" for resource type "AWS::S3::Bucket", "securityGroup", which its remediator does not fix (it fixes ["bucket"])`, "Spec.ResourceTypes"},
			map[string][]string{"fix-flag": {"AWS::S3::Bucket", "securityGroup"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := typedPolicy{remediate.PolicyFunc(approve), tt.types}
			reg, err := remediate.NewRegistry(newFake())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.bad, remediate.MismatchedResourceTypes(p, reg)); diff != "" {
				t.Errorf("MismatchedResourceTypes (-want +got):\n%s", diff)
			}
			_, err = remediate.NewEngine(remediate.Options{
				Parser: remediate.ParserFunc(parse), Policy: p, Registry: reg, Audit: audit.Discard(), Mode: remediate.ModeDecideOnly,
			})
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("NewEngine: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("NewEngine accepted the policy")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestSessionNameInRecord: the name a CredentialSource records for the
// finding's session lands in the record's Correlation.SessionName, in
// dry-run and apply mode alike.
func TestSessionNameInRecord(t *testing.T) {
	for _, mode := range []remediate.Mode{remediate.ModeDryRun, remediate.ModeApply} {
		s := newSetup(t, func(o *remediate.Options, _ *fakeRemediator) {
			o.Mode = mode
			o.Credentials = credsFunc(func(ctx context.Context, f *remediate.Finding, s remediate.Spec) (aws.Config, error) {
				remediate.RecordSessionName(ctx, s.Action+"@"+f.ID)
				return aws.Config{Region: "us-east-1"}, nil
			})
		})
		rec, err := s.engine.Process(context.Background(), remediate.Message{ID: "m1", Body: []byte("f1")})
		if err != nil {
			t.Fatal(err)
		}
		if rec.Correlation.SessionName != "fix-flag@f1" {
			t.Errorf("%s: Correlation.SessionName = %q, want %q", mode, rec.Correlation.SessionName, "fix-flag@f1")
		}
	}
	// A role that could not be assumed: the record names the session
	// that was tried.
	s := newSetup(t, func(o *remediate.Options, _ *fakeRemediator) {
		o.Credentials = credsFunc(func(ctx context.Context, f *remediate.Finding, s remediate.Spec) (aws.Config, error) {
			remediate.RecordSessionName(ctx, s.Action+"@shared")
			return aws.Config{}, remediate.Permanentf("AccessDenied: not authorized to perform sts:AssumeRole")
		})
	})
	rec, err := s.engine.Process(context.Background(), remediate.Message{ID: "m1", Body: []byte("f1")})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome != string(remediate.OutcomeFailed) || rec.Correlation.SessionName != "fix-flag@shared" {
		t.Errorf("denied assume: outcome %q, session name %q; want failed, %q", rec.Outcome, rec.Correlation.SessionName, "fix-flag@shared")
	}
	// Outside a finding's processing it does nothing.
	remediate.RecordSessionName(context.Background(), "x")
}
