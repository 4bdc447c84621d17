package wizpayload

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/remedy-sec/remedy/remediate"
)

// sample returns a testdata file's contents.
func sample(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// edit replaces old, which must occur in s exactly once, with new.
func edit(t testing.TB, s, old, new string) string {
	t.Helper()
	if n := strings.Count(s, old); n != 1 {
		t.Fatalf("edit: %q occurs %d times, want 1", old, n)
	}
	return strings.Replace(s, old, new, 1)
}

// extend adds members at the end of the top-level object s.
func extend(t testing.TB, s, members string) string {
	t.Helper()
	s = strings.TrimSpace(s)
	if !strings.HasSuffix(s, "}") {
		t.Fatalf("extend: %q does not end an object", s[len(s)-10:])
	}
	return s[:len(s)-1] + "," + members + "}"
}

// wrapSNS puts payload in an SNS Notification envelope.
func wrapSNS(t testing.TB, payload string) string {
	t.Helper()
	msg, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return `{"Type":"Notification","MessageId":"6a1f2b3c-4d5e-5f60-8a9b-0c1d2e3f4a5b",` +
		`"TopicArn":"arn:aws:sns:us-east-1:999999999999:wiz-findings","Message":` + string(msg) + `}`
}

// wantDefault is the Finding testdata/default.json parses to.
func wantDefault() *remediate.Finding {
	return &remediate.Finding{
		ID:            "5b0e6c9a-1f0e-4d6e-9a53-2f1c0d4b7e11",
		Source:        "wiz",
		TriggerSource: "ISSUES",
		TriggerType:   "CREATED",
		Status:        "OPEN",
		Severity:      remediate.SeverityHigh,
		Rule:          remediate.Rule{ID: "0f5b8a2c-7d41-4e0b-9c61-3a2e5f7d9b10", Name: "Auto-remediate S3 public access"},
		Control: remediate.Control{
			ID:             "wc-id-1234",
			Name:           "S3 Bucket allows public access",
			Severity:       remediate.SeverityHigh,
			SourceRuleID:   "S3-019",
			SourceRuleName: "S3 Bucket should block public access",
		},
		Resource: remediate.Resource{
			ID:      "arn:aws:s3:::payments-exports",
			ARN:     "arn:aws:s3:::payments-exports",
			Name:    "payments-exports",
			Type:    "bucket",
			Cloud:   "AWS",
			Account: "111111111111",
			Region:  "us-east-1",
		},
		Projects:      []string{"Payments", "Shared Services"},
		CorrelationID: "wiz:5b0e6c9a-1f0e-4d6e-9a53-2f1c0d4b7e11:CREATED:2026-11-02T10:11:12.345Z",
		Revision:      "CREATED:2026-11-02T10:11:12.345Z",
		DetectedAt:    time.Date(2026, 11, 2, 10, 11, 12, 345e6, time.UTC),
	}
}

var ignoreRaw = cmpopts.IgnoreFields(remediate.Finding{}, "Raw")

func TestParseSamples(t *testing.T) {
	tests := []struct {
		file string
		want func() *remediate.Finding
	}{
		{"default.json", wantDefault},
		{"sns.json", func() *remediate.Finding {
			f := wantDefault()
			f.CorrelationID = "6a1f2b3c-4d5e-5f60-8a9b-0c1d2e3f4a5b"
			return f
		}},
		{"tags-object.json", func() *remediate.Finding {
			f := wantDefault()
			f.Resource.Tags = map[string]string{
				"environment": "production", "owner": "payments-team@example.com",
				"cost-center": "cc-4411", "Name": "payments-exports",
			}
			f.Declared = remediate.Declared{Environment: "production", Owner: "payments-team@example.com"}
			f.ProposedAction = "s3-block-public-access"
			return f
		}},
		{"tags-string.json", func() *remediate.Finding {
			f := wantDefault()
			f.TriggerType = "REOPENED"
			f.UpdatedAt = time.Date(2026, 11, 3, 8, 0, 0, 0, time.UTC)
			f.Revision = "REOPENED:2026-11-03T08:00:00Z"
			f.CorrelationID = "wiz:" + f.ID + ":" + f.Revision
			f.Resource.Tags = map[string]string{"environment": "staging", "owner": "data-platform@example.com"}
			return f
		}},
		{"graphql.json", func() *remediate.Finding {
			return &remediate.Finding{
				ID:            "c6d3d3a8-88b0-4a1e-b5f2-0d8f8c9e2a71",
				Source:        "wiz",
				TriggerSource: "API",
				Status:        "IN_PROGRESS",
				Severity:      remediate.SeverityCritical,
				Control: remediate.Control{
					Severity:       remediate.SeverityHigh,
					SourceRuleID:   "4e3f7b0c-2d5e-4a8f-9b1c-6e7d8f9a0b1c",
					SourceRuleName: "Security Group allows SSH from the internet",
				},
				Resource: remediate.Resource{
					ID:      "arn:aws:ec2:eu-west-1:222222222222:security-group/sg-0abc1234def567890",
					ARN:     "arn:aws:ec2:eu-west-1:222222222222:security-group/sg-0abc1234def567890",
					Name:    "payments-api-sg",
					Type:    "securityGroup",
					Cloud:   "AWS",
					Account: "222222222222",
					Region:  "eu-west-1",
					Tags:    map[string]string{"environment": "production", "owner": "api-team@example.com"},
				},
				Projects:      []string{"Payments", "Shared Services"},
				CorrelationID: "wiz:c6d3d3a8-88b0-4a1e-b5f2-0d8f8c9e2a71::2026-11-01T05:15:00.5Z",
				Revision:      ":2026-11-01T05:15:00.5Z",
				DetectedAt:    time.Date(2026, 10, 30, 22, 4, 5, 0, time.UTC),
				UpdatedAt:     time.Date(2026, 11, 1, 5, 15, 0, 5e8, time.UTC),
			}
		}},
		{"hostile-self-exception.json", wantDefault},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body := sample(t, tt.file)
			got, err := Parse([]byte(body))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want(), got, ignoreRaw); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}
			if got.Environment != "" || got.Owner != "" || got.Exception != remediate.ExceptionNone {
				t.Errorf("parser set trusted context: %q %q %q", got.Environment, got.Owner, got.Exception)
			}
		})
	}
}

func TestParseRaw(t *testing.T) {
	payload := sample(t, "default.json")
	for name, body := range map[string]string{"raw": payload, "sns": wrapSNS(t, payload)} {
		t.Run(name, func(t *testing.T) {
			b := []byte(body)
			f, err := Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			if string(f.Raw) != payload {
				t.Errorf("Raw = %.60q..., want the Wiz payload", f.Raw)
			}
			// The Finding does not alias the caller's buffer.
			for i := range b {
				b[i] = 'x'
			}
			if string(f.Raw) != payload || f.ID != wantDefault().ID || f.Resource.ID != wantDefault().Resource.ID {
				t.Error("Finding changed with the caller's buffer")
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	base := sample(t, "default.json")
	gql := sample(t, "graphql.json")
	deep := `"extra":` + strings.Repeat("[", 64) + strings.Repeat("]", 64)
	long := strings.Repeat("a", 129)
	tests := []struct {
		name  string
		body  string
		opts  func(*Options)
		field string
	}{
		// Limits and JSON well-formedness.
		{"body over limit", base, func(o *Options) { o.MaxBodyBytes = 1024 }, ""},
		{"nesting too deep", extend(t, base, deep), nil, "extra" + strings.Repeat("[0]", 63)},
		{"nesting over custom limit", base, func(o *Options) { o.MaxDepth = 1 }, "trigger"},
		{"tag value over limit", extend(t, base, `"tags":{"env":"`+strings.Repeat("p", 201)+`"}`), func(o *Options) { o.MaxStringBytes = 200 }, "tags.env"},
		{"tag key over limit", extend(t, base, `"tags":{"`+strings.Repeat("k", 201)+`":"prod"}`), func(o *Options) { o.MaxStringBytes = 200 }, "tags"},
		{"tag value over default limit", extend(t, base, `"tags":{"env":"`+strings.Repeat("p", DefaultMaxStringBytes+1)+`"}`), nil, "tags.env"},
		{"declared environment over limit", extend(t, base, `"environment":"`+strings.Repeat("p", 201)+`"`), func(o *Options) { o.MaxStringBytes = 200 }, "environment"},
		{"declared owner over limit", extend(t, base, `"owner":"`+strings.Repeat("o", 201)+`"`), func(o *Options) { o.MaxStringBytes = 200 }, "owner"},
		{"hostile deep file", sample(t, "hostile-deep.json"), nil, "extra" + strings.Repeat("[0]", 63)},
		{"duplicate top-level key", extend(t, base, `"issue":{}`), nil, "issue"},
		{"duplicate issue.severity", sample(t, "hostile-duplicate-severity.json"), nil, "issue.severity"},
		{"duplicate in unknown field", extend(t, base, `"x":{"a":[{"b":1,"b":1}]}`), nil, "x.a[0].b"},
		{"duplicate in tags object", edit(t, base, `"region": "us-east-1",`, `"region": "us-east-1", "tags": {"env":"a","env":"b"},`), nil, "resource.tags.env"},
		{"duplicate in tags string", sample(t, "hostile-tags-string-duplicate.json"), nil, "tags.environment"},
		{"duplicate in SNS Message", sample(t, "hostile-sns-duplicate-account.json"), nil, "resource.subscriptionId"},
		{"duplicate in SNS envelope", extend(t, wrapSNS(t, base), `"Type":"Notification"`), nil, "Type"},
		{"invalid UTF-8", sample(t, "hostile-invalid-utf8.json"), nil, "resource.id"},
		{"invalid UTF-8 in key", extend(t, base, "\"x\xc0\":1"), nil, ""},
		{"lone surrogate", sample(t, "hostile-lone-surrogate.json"), nil, "issue.id"},
		{"lone surrogate in SNS Message string", strings.Replace(wrapSNS(t, base), `5b0e6c9a`, `\ud800`, 1), nil, "Message"},
		{"lone surrogate escaped inside SNS Message", wrapSNS(t, edit(t, base, `"name": "payments-exports"`, `"name": "\udfff"`)), nil, "resource.name"},
		{"unescaped quote", sample(t, "hostile-unescaped-quote.json"), nil, "resource"},
		{"trailing data", base + `{}`, nil, ""},
		{"empty body", ``, nil, ""},
		{"top-level array", `[` + base + `]`, nil, ""},
		{"top-level string", `"{}"`, nil, ""},
		{"top-level null", `null`, nil, ""},

		// Wrong JSON types.
		{"issue.severity number", sample(t, "hostile-severity-number.json"), nil, "issue.severity"},
		{"issue.severity object", edit(t, base, `"severity": "High"`, `"severity": {"v":"HIGH"}`), nil, "issue.severity"},
		{"issue a string", `{"issue":"x","resource":{}}`, nil, "issue"},
		{"issue.id number", edit(t, base, `"id": "5b0e6c9a-1f0e-4d6e-9a53-2f1c0d4b7e11"`, `"id": 5`), nil, "issue.id"},
		{"issue.projects array", edit(t, base, `"projects": "Payments, Shared Services, "`, `"projects": ["Payments"]`), nil, "issue.projects"},
		{"issue.status bool", edit(t, base, `"status": "OPEN"`, `"status": true`), nil, "issue.status"},
		{"resource array", edit(t, base, `"resource": {`, `"resource": [], "r": {`), nil, "resource"},
		{"resource.id number", edit(t, base, `"id": "arn:aws:s3:::payments-exports"`, `"id": 1`), nil, "resource.id"},
		{"resource.name number", edit(t, base, `"name": "payments-exports"`, `"name": 1`), nil, "resource.name"},
		{"resource.tags number", edit(t, base, `"region": "us-east-1",`, `"region": "us-east-1", "tags": 3,`), nil, "resource.tags"},
		{"tag value number", extend(t, base, `"tags":{"env":1}`), nil, "tags.env"},
		{"tags string not an object", extend(t, base, `"tags":"[1,2]"`), nil, "tags"},
		{"tags string not JSON", extend(t, base, `"tags":"env=prod"`), nil, "tags"},
		{"tags string too deep", extend(t, base, `"tags":"{\"a\":[[[]]]}"`), func(o *Options) { o.MaxDepth = 3 }, "tags.a[0][0]"},
		{"trigger.source bool", edit(t, base, `"source": "ISSUES"`, `"source": false`), nil, "trigger.source"},
		{"trigger.ruleName number", edit(t, base, `"ruleName": "Auto-remediate S3 public access"`, `"ruleName": 2`), nil, "trigger.ruleName"},
		{"control array", edit(t, base, `"control": {`, `"control": [], "c": {`), nil, "control"},
		{"control.severity number", edit(t, base, `"severity": "HIGH"`, `"severity": 4`), nil, "control.severity"},
		{"environment number", extend(t, base, `"environment":1`), nil, "environment"},
		{"owner object", extend(t, base, `"owner":{}`), nil, "owner"},
		{"proposedAction object", extend(t, base, `"proposedAction":{}`), nil, "proposedAction"},
		{"graphql projects string", edit(t, gql, `"projects": [`, `"projects": "Payments", "p": [`), nil, "projects"},
		{"graphql project not object", edit(t, gql, `"projects": [`, `"projects": ["p-0",`), nil, "projects[0]"},
		{"graphql project name number", edit(t, gql, `"name": "Payments"`, `"name": 1`), nil, "projects[0].name"},
		{"graphql entitySnapshot string", `{"id":"x","entitySnapshot":"arn:aws:s3:::b"}`, nil, "entitySnapshot"},
		{"graphql sourceRule.id number", edit(t, gql, `"id": "4e3f7b0c-2d5e-4a8f-9b1c-6e7d8f9a0b1c"`, `"id": 7`), nil, "sourceRule.id"},
		{"graphql tags array", edit(t, gql, `"tags": {`, `"tags": [], "t": {`), nil, "entitySnapshot.tags"},

		// Missing required fields.
		{"no known shape", `{"finding":{"id":"x"}}`, nil, "issue"},
		{"empty object", `{}`, nil, "issue"},
		{"issue missing", `{"trigger":{"source":"ISSUES","type":"CREATED"},"resource":{"id":"arn:aws:s3:::b"}}`, nil, "issue"},
		{"issue null", `{"issue":null,"resource":{"id":"arn:aws:s3:::b"}}`, nil, "issue"},
		{"issue.id missing", edit(t, base, `"id": "5b0e6c9a-1f0e-4d6e-9a53-2f1c0d4b7e11",`, ``), nil, "issue.id"},
		{"issue.id empty", edit(t, base, `"5b0e6c9a-1f0e-4d6e-9a53-2f1c0d4b7e11"`, `""`), nil, "issue.id"},
		{"issue.id null", edit(t, base, `"5b0e6c9a-1f0e-4d6e-9a53-2f1c0d4b7e11"`, `null`), nil, "issue.id"},
		{"resource missing", `{"issue":{"id":"x"}}`, nil, "resource"},
		{"resource.id missing", edit(t, base, `"id": "arn:aws:s3:::payments-exports",`, ``), nil, "resource.id"},
		{"resource.id empty", edit(t, base, `"id": "arn:aws:s3:::payments-exports"`, `"id": ""`), nil, "resource.id"},
		{"graphql id missing", edit(t, gql, `"id": "c6d3d3a8-88b0-4a1e-b5f2-0d8f8c9e2a71",`, ``), nil, "id"},
		{"graphql providerId missing", edit(t, gql, `"providerId": "arn:aws:ec2:eu-west-1:222222222222:security-group/sg-0abc1234def567890",`, ``), nil, "entitySnapshot.providerId"},
		{"graphql entitySnapshot missing", `{"id":"x","sourceRule":{"id":"r"}}`, nil, "entitySnapshot"},
		{"mixed shapes", extend(t, base, `"entitySnapshot":{}`), nil, "entitySnapshot"},

		// Malformed identifiers.
		{"issue.id with space", edit(t, base, `"5b0e6c9a-1f0e`, `"5b0e6c9a 1f0e`), nil, "issue.id"},
		{"issue.id too long", edit(t, base, `"5b0e6c9a-1f0e-4d6e-9a53-2f1c0d4b7e11"`, `"`+long+`"`), nil, "issue.id"},
		{"issue.id non-ASCII", edit(t, base, `"5b0e6c9a-1f0e`, `"5b0e6c9а-1f0e`), nil, "issue.id"},
		{"issue.id slash", edit(t, base, `"5b0e6c9a-1f0e`, `"../5b0e6c9a-1f0e`), nil, "issue.id"},
		{"account 11 digits", sample(t, "hostile-account-id.json"), nil, "resource.subscriptionId"},
		{"account 13 digits", edit(t, base, `"111111111111"`, `"1111111111111"`), nil, "resource.subscriptionId"},
		{"account letters", edit(t, base, `"111111111111"`, `"11111111111O"`), nil, "resource.subscriptionId"},
		{"account non-ASCII digits", edit(t, base, `"111111111111"`, `"١١١١١١١١١١١١"`), nil, "resource.subscriptionId"},
		{"account padded", edit(t, base, `"111111111111"`, `" 111111111111"`), nil, "resource.subscriptionId"},
		{"account whitespace only", edit(t, base, `"111111111111"`, `" "`), nil, "resource.subscriptionId"},
		{"graphql account short", edit(t, gql, `"subscriptionExternalId": "222222222222"`, `"subscriptionExternalId": "2222"`), nil, "entitySnapshot.subscriptionExternalId"},
		{"AWS ARN without platform, short account", edit(t, edit(t, base, `"cloudPlatform": "aws",`, ``), `"111111111111"`, `"1111"`), nil, "resource.subscriptionId"},
		{"region upper case", edit(t, base, `"us-east-1"`, `"US-EAST-1"`), nil, "resource.region"},
		{"region padded", edit(t, base, `"us-east-1"`, `"us-east-1 "`), nil, "resource.region"},
		{"region no hyphens", edit(t, base, `"us-east-1"`, `"useast1"`), nil, "resource.region"},
		{"region no number", edit(t, base, `"us-east-1"`, `"us-east"`), nil, "resource.region"},
		{"region long number", edit(t, base, `"us-east-1"`, `"us-east-123"`), nil, "resource.region"},
		{"region underscores", edit(t, base, `"us-east-1"`, `"us_east_1"`), nil, "resource.region"},
		{"region path", edit(t, base, `"us-east-1"`, `"us-east-1/../x"`), nil, "resource.region"},
		{"resource.id space", edit(t, base, `"arn:aws:s3:::payments-exports"`, `"arn:aws:s3:::payments exports"`), nil, "resource.id"},
		{"resource.id tab escape", edit(t, base, `"arn:aws:s3:::payments-exports"`, `"arn:aws:s3:::payments\texports"`), nil, "resource.id"},
		{"resource.id NUL escape", edit(t, base, `"arn:aws:s3:::payments-exports"`, `"arn:aws:s3:::payments\u0000"`), nil, "resource.id"},
		{"resource.id quote", sample(t, "hostile-resource-id-quote.json"), nil, "resource.id"},
		{"resource.id single quote", edit(t, base, `"arn:aws:s3:::payments-exports"`, `"arn:aws:s3:::payments'exports"`), nil, "resource.id"},
		{"resource.id backtick", edit(t, base, `"arn:aws:s3:::payments-exports"`, "\"arn:aws:s3:::payments`exports\""), nil, "resource.id"},
		{"resource.id zero-width space", edit(t, base, `"arn:aws:s3:::payments-exports"`, `"arn:aws:s3:::payments`+"\u200b"+`-exports"`), nil, "resource.id"},
		{"resource.id bidi override", edit(t, base, `"arn:aws:s3:::payments-exports"`, `"arn:aws:s3:::payments-\u202eexports"`), nil, "resource.id"},
		{"resource.id no-break space", edit(t, base, `"arn:aws:s3:::payments-exports"`, `"arn:aws:s3:::payments`+"\u00a0"+`exports"`), nil, "resource.id"},
		{"resource.id line separator", edit(t, base, `"arn:aws:s3:::payments-exports"`, `"arn:aws:s3:::payments\u2028"`), nil, "resource.id"},
		{"resource.id too long", edit(t, base, `"arn:aws:s3:::payments-exports"`, `"arn:aws:s3:::`+strings.Repeat("b", 2048)+`"`), nil, "resource.id"},
		{"resource.id malformed ARN", edit(t, base, `"arn:aws:s3:::payments-exports"`, `"arn:aws:s3"`), nil, "resource.id"},
		{"resource.id ARN without resource", edit(t, base, `"arn:aws:s3:::payments-exports"`, `"arn:aws:s3:::"`), nil, "resource.id"},
		{"resource.type space", edit(t, base, `"type": "bucket"`, `"type": "bucket "`), nil, "resource.type"},
		{"control.id newline", edit(t, base, `"wc-id-1234"`, `"wc-id-1234\n"`), nil, "control.id"},
		{"control rule id quote", edit(t, base, `"S3-019"`, `"S3-019\""`), nil, "control.sourceCloudConfigurationRuleId"},
		{"proposedAction space", extend(t, base, `"proposedAction":"delete everything"`), nil, "proposedAction"},
		{"tag key control char", extend(t, base, `"tags":{"env\u0007":"prod"}`), nil, `tags["env\a"]`},
		{"tag key empty", extend(t, base, `"tags":{"":"prod"}`), nil, "tags"},
		{"tag value newline", extend(t, base, `"tags":{"owner":"alice\nbob"}`), nil, "tags.owner"},

		// Times.
		{"created not RFC 3339", edit(t, base, `"2026-11-02T10:11:12.345Z"`, `"2026-11-02 10:11:12"`), nil, "issue.created"},
		{"created a word", edit(t, base, `"2026-11-02T10:11:12.345Z"`, `"yesterday"`), nil, "issue.created"},
		{"createdAt bad", edit(t, base, `"created": "2026-11-02T10:11:12.345Z"`, `"createdAt": "2026-13-02T10:11:12Z"`), nil, "issue.createdAt"},
		{"created and createdAt", edit(t, base, `"created": "2026-11-02T10:11:12.345Z"`, `"created": "2026-11-02T10:11:12.345Z", "createdAt": "2026-11-02T10:11:12.345Z"`), nil, "issue.createdAt"},
		{"updated and updatedAt", extend(t, edit(t, base, `"created": "2026-11-02T10:11:12.345Z"`, `"created": "2026-11-02T10:11:12.345Z", "updated": "2026-11-03T10:11:12Z", "updatedAt": "2026-11-04T10:11:12Z"`), `"x":1`), nil, "issue.updatedAt"},
		{"graphql updatedAt bad", edit(t, gql, `"2026-11-01T06:15:00.5+01:00"`, `"2026-11-01T06:15:00.5+0100"`), nil, "updatedAt"},

		// Triggers.
		{"trigger source not accepted", sample(t, "hostile-trigger-source.json"), nil, "trigger.source"},
		{"trigger source missing", edit(t, base, `"source": "ISSUES",`, ``), nil, "trigger.source"},
		{"trigger source empty", edit(t, base, `"source": "ISSUES"`, `"source": " "`), nil, "trigger.source"},
		{"trigger source look-alike", edit(t, base, `"source": "ISSUES"`, `"source": "ıssues"`), nil, "trigger.source"},
		{"trigger source not in custom list", base, func(o *Options) { o.AcceptedTriggerSources = []string{"CONTROL"} }, "trigger.source"},
		{"trigger source with empty list", base, func(o *Options) { o.AcceptedTriggerSources = []string{} }, "trigger.source"},

		// SNS.
		{"SNS SubscriptionConfirmation", sample(t, "hostile-subscription-confirmation.json"), nil, "Type"},
		{"SNS UnsubscribeConfirmation", strings.Replace(wrapSNS(t, base), `"Notification"`, `"UnsubscribeConfirmation"`, 1), nil, "Type"},
		{"SNS type lower case", strings.Replace(wrapSNS(t, base), `"Notification"`, `"notification"`, 1), nil, "Type"},
		{"SNS type missing", strings.Replace(wrapSNS(t, base), `"Type":"Notification",`, ``, 1), nil, "Type"},
		{"SNS type number", strings.Replace(wrapSNS(t, base), `"Notification"`, `1`, 1), nil, "Type"},
		{"SNS only TopicArn", extend(t, base, `"TopicArn":"arn:aws:sns:us-east-1:999999999999:t"`), nil, "Type"},
		{"SNS MessageId missing", strings.Replace(wrapSNS(t, base), `"MessageId":"6a1f2b3c-4d5e-5f60-8a9b-0c1d2e3f4a5b",`, ``, 1), nil, "MessageId"},
		{"SNS MessageId malformed", strings.Replace(wrapSNS(t, base), `"6a1f2b3c-4d5e`, `"6a1f2b3c 4d5e`, 1), nil, "MessageId"},
		{"SNS Message missing", `{"Type":"Notification","MessageId":"m-1"}`, nil, "Message"},
		{"SNS Message empty", `{"Type":"Notification","MessageId":"m-1","Message":""}`, nil, "Message"},
		{"SNS Message object", `{"Type":"Notification","MessageId":"m-1","Message":{"issue":{}}}`, nil, "Message"},
		{"SNS Message not JSON", `{"Type":"Notification","MessageId":"m-1","Message":"hello"}`, nil, "Message"},
		{"SNS Message trailing data", `{"Type":"Notification","MessageId":"m-1","Message":"{} {}"}`, nil, "Message"},
		{"SNS Message nested envelope", wrapSNS(t, wrapSNS(t, base)), nil, "Message"},
		{"SNS Message too deep", wrapSNS(t, extend(t, base, deep)), nil, "extra" + strings.Repeat("[0]", 63)},
		{"SNS Message tag over limit", wrapSNS(t, extend(t, base, `"tags":{"env":"`+strings.Repeat("p", 201)+`"}`)), func(o *Options) { o.MaxStringBytes = 200 }, "tags.env"},
		{"SNS body over limit", wrapSNS(t, base), func(o *Options) { o.MaxBodyBytes = len(base) }, ""},
		{"SNS Message rejected field", wrapSNS(t, sample(t, "hostile-account-id.json")), nil, "resource.subscriptionId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New()
			if tt.opts != nil {
				p = New(tt.opts)
			}
			f, err := p.Parse([]byte(tt.body))
			if err == nil {
				t.Fatalf("Parse succeeded, want rejection of %q; finding: %+v", tt.field, f)
			}
			if f != nil {
				t.Errorf("Parse returned a Finding with its error")
			}
			var rej *remediate.RejectError
			if !errors.As(err, &rej) {
				t.Fatalf("error %v (%T) does not wrap *remediate.RejectError", err, err)
			}
			if rej.Field != tt.field {
				t.Errorf("Field = %q, want %q (error: %v)", rej.Field, tt.field, err)
			}
			if rej.Reason == "" || !remediate.IsPermanent(err) {
				t.Errorf("rejection %v: empty reason or not permanent", err)
			}
			if !strings.HasPrefix(err.Error(), "wizpayload: rejected: ") {
				t.Errorf("error %q does not say who rejected", err)
			}
		})
	}
}

func TestParseConcerns(t *testing.T) {
	base := sample(t, "default.json")
	gql := sample(t, "graphql.json")
	tests := []struct {
		name   string
		body   string
		fields []string
		check  func(*remediate.Finding) string // returns what is wrong, if anything
	}{
		{"clean", base, nil, nil},
		{"severity missing", edit(t, base, `"severity": "High",`, ``), []string{"issue.severity"}, severityEmpty},
		{"severity empty", edit(t, base, `"severity": "High"`, `"severity": ""`), []string{"issue.severity"}, severityEmpty},
		{"severity null", edit(t, base, `"severity": "High"`, `"severity": null`), []string{"issue.severity"}, severityEmpty},
		{"severity unknown", edit(t, base, `"severity": "High"`, `"severity": "SEVERE"`), []string{"issue.severity"}, severityEmpty},
		{"severity look-alike", sample(t, "hostile-lookalike-severity.json"), []string{"issue.severity"}, severityEmpty},
		{"severity padded lower case", edit(t, base, `"severity": "High"`, `"severity": "  high\t"`), nil, func(f *remediate.Finding) string {
			return want(f.Severity == remediate.SeverityHigh, "severity "+string(f.Severity))
		}},
		{"status missing", edit(t, base, `"status": "OPEN",`, ``), []string{"issue.status"}, nil},
		{"status unknown", edit(t, base, `"status": "OPEN"`, `"status": "closed"`), []string{"issue.status"}, func(f *remediate.Finding) string {
			return want(f.Status == "", "status "+f.Status)
		}},
		{"status lower case", edit(t, base, `"status": "OPEN"`, `"status": "in_progress"`), nil, func(f *remediate.Finding) string {
			return want(f.Status == "IN_PROGRESS", "status "+f.Status)
		}},
		{"trigger missing", edit(t, base, "\"trigger\": {\n    \"source\": \"ISSUES\",\n    \"type\": \"Created\",\n    \"ruleId\": \"0f5b8a2c-7d41-4e0b-9c61-3a2e5f7d9b10\",\n    \"ruleName\": \"Auto-remediate S3 public access\"\n  },", ``), []string{"trigger"}, func(f *remediate.Finding) string {
			return want(f.TriggerSource == "" && f.TriggerType == "" && f.Revision == ":2026-11-02T10:11:12.345Z", "trigger "+f.TriggerSource+"/"+f.TriggerType+" revision "+f.Revision)
		}},
		{"trigger type missing", edit(t, base, `"type": "Created",`, ``), []string{"trigger.type"}, nil},
		{"trigger type unknown", edit(t, base, `"type": "Created"`, `"type": "DELETED"`), []string{"trigger.type"}, func(f *remediate.Finding) string {
			return want(f.TriggerType == "", "trigger type "+f.TriggerType)
		}},
		{"trigger source case", edit(t, base, `"source": "ISSUES"`, `"source": " issues "`), nil, func(f *remediate.Finding) string {
			return want(f.TriggerSource == "ISSUES", "trigger source "+f.TriggerSource)
		}},
		{"ARN account and region mismatch", sample(t, "hostile-arn-account-mismatch.json"), []string{"resource.subscriptionId", "resource.region"}, nil},
		{"graphql ARN account mismatch", edit(t, gql, `"subscriptionExternalId": "222222222222"`, `"subscriptionExternalId": "333333333333"`), []string{"entitySnapshot.subscriptionExternalId"}, nil},
		{"composite id", sample(t, "composite-object.json"), []string{"resource.id"}, func(f *remediate.Finding) string {
			return want(f.Resource.ID == "payments-exports##3f2a9c##exports/2026/11/report.csv" && f.Resource.ARN == "", "resource "+f.Resource.ID)
		}},
		{"S3 object ARN", edit(t, base, `"arn:aws:s3:::payments-exports"`, `"arn:aws:s3:::payments-exports/2026/report.csv"`), []string{"resource.id"}, nil},
		{"ARN partition not AWS", edit(t, base, `"arn:aws:s3:::payments-exports"`, `"arn:azure:s3:::payments-exports"`), []string{"resource.id"}, nil},
		{"region missing", edit(t, base, `"region": "us-east-1",`, ``), []string{"resource.region"}, nil},
		{"region empty", edit(t, base, `"region": "us-east-1"`, `"region": ""`), []string{"resource.region"}, nil},
		{"region global", edit(t, base, `"region": "us-east-1"`, `"region": "global"`), []string{"resource.region"}, func(f *remediate.Finding) string {
			return want(f.Resource.Region == "", "region "+f.Resource.Region)
		}},
		{"account missing", edit(t, base, `"subscriptionId": "111111111111",`, ``), []string{"resource.subscriptionId"}, nil},
		{"account empty", edit(t, base, `"subscriptionId": "111111111111"`, `"subscriptionId": ""`), []string{"resource.subscriptionId"}, nil},
		{"type missing", edit(t, base, `"type": "bucket",`, ``), []string{"resource.type"}, nil},
		{"cloud missing", edit(t, base, `"cloudPlatform": "aws",`, ``), []string{"resource.cloudPlatform"}, nil},
		{"cloud Azure", edit(t, edit(t, edit(t, base,
			`"cloudPlatform": "aws"`, `"cloudPlatform": "Azure"`),
			`"111111111111"`, `"0b1f6471-1bf0-4dda-aec3-cb9272f09590"`),
			`"arn:aws:s3:::payments-exports"`, `"/subscriptions/0b1f6471-1bf0-4dda-aec3-cb9272f09590/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/pay"`),
			[]string{"resource.cloudPlatform"}, func(f *remediate.Finding) string {
				return want(f.Resource.Cloud == "AZURE" && f.Resource.Account == "0b1f6471-1bf0-4dda-aec3-cb9272f09590", "cloud "+f.Resource.Cloud+" account "+f.Resource.Account)
			}},
		{"cloud look-alike", edit(t, base, `"cloudPlatform": "aws"`, `"cloudPlatform": "аws"`), []string{"resource.cloudPlatform"}, func(f *remediate.Finding) string {
			return want(f.Resource.Cloud == "", "cloud "+f.Resource.Cloud)
		}},
		{"environment empty", extend(t, base, `"environment":"  "`), []string{"environment"}, nil},
		{"environment null", extend(t, base, `"environment":null`), []string{"environment"}, nil},
		{"owner empty", extend(t, base, `"owner":""`), []string{"owner"}, nil},
		{"declared trimmed", extend(t, base, `"environment":" prod ","owner":"alice@example.com"`), nil, func(f *remediate.Finding) string {
			return want(f.Declared == remediate.Declared{Environment: "prod", Owner: "alice@example.com"} && f.Environment == "" && f.Owner == "", "declared")
		}},
		{"tags in two places", extend(t, edit(t, base, `"region": "us-east-1",`, `"region": "us-east-1", "tags": {"env":"a"},`), `"tags":{"env":"b"}`), []string{"tags"}, func(f *remediate.Finding) string {
			return want(f.Resource.Tags == nil, "tags used")
		}},
		{"tags empty string", extend(t, base, `"tags":""`), nil, func(f *remediate.Finding) string {
			return want(f.Resource.Tags == nil, "tags not nil")
		}},
		{"tags empty object string", extend(t, base, `"tags":"{}"`), nil, func(f *remediate.Finding) string {
			return want(f.Resource.Tags != nil && len(f.Resource.Tags) == 0, "tags not empty")
		}},
		{"tag keys exact", extend(t, base, `"tags":{"Owner":"a","owner":"b","ownеr":"c"}`), nil, func(f *remediate.Finding) string {
			return want(len(f.Resource.Tags) == 3 && f.Resource.Tags["owner"] == "b", "tags folded")
		}},
		{"graphql unknown typename", edit(t, gql, `"CloudConfigurationRule"`, `"Mystery"`), []string{"sourceRule.__typename"}, func(f *remediate.Finding) string {
			return want(f.Control.ID == "4e3f7b0c-2d5e-4a8f-9b1c-6e7d8f9a0b1c" && f.Control.SourceRuleID == "", "control "+f.Control.ID)
		}},
		{"graphql Control", edit(t, gql, `"CloudConfigurationRule"`, `"Control"`), nil, func(f *remediate.Finding) string {
			return want(f.Control.ID == "4e3f7b0c-2d5e-4a8f-9b1c-6e7d8f9a0b1c" && f.Control.SourceRuleID == "", "control "+f.Control.ID)
		}},
		{"graphql concerns several", edit(t, edit(t, gql, `"severity": "CRITICAL",`, ``), `"region": "eu-west-1",`, ``), []string{"severity", "entitySnapshot.region"}, nil},
		{"extra fields tolerated", extend(t, base, `"unknown":{"deep":[1,2.5e3,true,null,"x"]},"Subject":"s"`), nil, nil},
		{"createdAt spelling", edit(t, base, `"created": "2026-11-02T10:11:12.345Z"`, `"createdAt": "2026-11-02T11:11:12.345+01:00"`), nil, func(f *remediate.Finding) string {
			return want(f.DetectedAt.Equal(time.Date(2026, 11, 2, 10, 11, 12, 345e6, time.UTC)) && f.DetectedAt.Location() == time.UTC, "time "+f.DetectedAt.String())
		}},
		{"no times", edit(t, base, `"created": "2026-11-02T10:11:12.345Z",`, ``), nil, func(f *remediate.Finding) string {
			return want(f.DetectedAt.IsZero() && f.Revision == "CREATED:", "revision "+f.Revision)
		}},
		{"projects null", edit(t, base, `"Payments, Shared Services, "`, `null`), nil, func(f *remediate.Finding) string {
			return want(f.Projects == nil, "projects")
		}},
		{"projects commas only", edit(t, base, `"Payments, Shared Services, "`, `" , ,"`), nil, func(f *remediate.Finding) string {
			return want(f.Projects == nil, "projects")
		}},
		{"SNS-wrapped concerns", wrapSNS(t, sample(t, "composite-object.json")), []string{"resource.id"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.body))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			var got []string
			for _, c := range f.Concerns {
				got = append(got, c.Field)
				if c.Message == "" || !strings.HasSuffix(c.Message, ".") {
					t.Errorf("concern %q: message %q is not a sentence", c.Field, c.Message)
				}
			}
			if diff := cmp.Diff(tt.fields, got); diff != "" {
				t.Errorf("concern fields mismatch (-want +got):\n%s\nconcerns: %+v", diff, f.Concerns)
			}
			if f.ID == "" || f.Resource.ID == "" {
				t.Errorf("finding lacks ids: %+v", f)
			}
			if tt.check != nil {
				if msg := tt.check(f); msg != "" {
					t.Error(msg)
				}
			}
		})
	}
}

func severityEmpty(f *remediate.Finding) string {
	return want(f.Severity == "", "severity "+string(f.Severity)+" was guessed")
}

// want returns "" when ok, else "unexpected " + what.
func want(ok bool, what string) string {
	if ok {
		return ""
	}
	return "unexpected " + what
}

func TestOptions(t *testing.T) {
	base := sample(t, "default.json")
	control := edit(t, base, `"source": "ISSUES"`, `"source": "Control"`)
	p := New(func(o *Options) { o.AcceptedTriggerSources = []string{" issues", "CONTROL "} })
	for _, body := range []string{base, control} {
		if _, err := p.Parse([]byte(body)); err != nil {
			t.Errorf("custom trigger sources: %v", err)
		}
	}
	if f, err := p.Parse([]byte(sample(t, "graphql.json"))); err != nil || f.TriggerSource != TriggerSourceAPI {
		t.Errorf("GraphQL with custom trigger sources: %v, %v", f, err)
	}
	if _, err := New(func(o *Options) { o.AcceptedTriggerSources = []string{} }).Parse([]byte(sample(t, "graphql.json"))); err != nil {
		t.Errorf("empty trigger list applies to GraphQL: %v", err)
	}
	// Options are copied: changing the caller's slice later changes nothing.
	srcs := []string{"ISSUES"}
	q := New(func(o *Options) { o.AcceptedTriggerSources = srcs })
	srcs[0] = "CONTROL"
	if _, err := q.Parse([]byte(base)); err != nil {
		t.Errorf("parser changed with the options slice: %v", err)
	}
	// Exactly at the limit is accepted.
	if _, err := New(func(o *Options) { o.MaxBodyBytes = len(base) }).Parse([]byte(base)); err != nil {
		t.Errorf("body at the limit: %v", err)
	}
	// Negative limits take defaults.
	if _, err := New(func(o *Options) { o.MaxBodyBytes, o.MaxDepth, o.MaxStringBytes = -1, -1, -1 }).Parse([]byte(base)); err != nil {
		t.Errorf("negative limits: %v", err)
	}
	// A long SNS Message is fine: its limit is the body's.
	if _, err := New(func(o *Options) { o.MaxStringBytes = 1024 }).Parse([]byte(wrapSNS(t, edit(t, base, `"description": "`, `"description": "x`)))); err != nil {
		t.Errorf("SNS Message longer than MaxStringBytes: %v", err)
	}
}

func TestParseConcurrent(t *testing.T) {
	p := New()
	bodies := []string{sample(t, "default.json"), sample(t, "sns.json"), sample(t, "graphql.json"), sample(t, "hostile-duplicate-severity.json")}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				body := bodies[(i+j)%len(bodies)]
				f, err := p.Parse([]byte(body))
				if (err == nil) == (f == nil) {
					t.Errorf("Parse returned %v, %v", f, err)
				}
			}
		})
	}
	wg.Wait()
}

func TestRejectReasonsBounded(t *testing.T) {
	base := sample(t, "default.json")
	hostile := edit(t, base, `"source": "ISSUES"`, `"source": "`+strings.Repeat("X", 5000)+`\u001b[31m"`)
	_, err := Parse([]byte(hostile))
	if err == nil || len(err.Error()) > 400 || strings.ContainsRune(err.Error(), '\x1b') {
		t.Errorf("error echoes hostile input: %.200q (%d bytes)", err, len(err.Error()))
	}
	key := strings.Repeat("k", 1000)
	deep := `"x":` + strings.Repeat(`{"`+key+`":`, 70) + `1` + strings.Repeat(`}`, 70)
	_, err = Parse([]byte(extend(t, base, deep)))
	var rej *remediate.RejectError
	if !errors.As(err, &rej) || len(rej.Field) > maxFieldBytes+len("…") {
		t.Errorf("field path not bounded: %d bytes", len(rej.Field))
	}
}

func TestValidators(t *testing.T) {
	regions := map[string]bool{
		"us-east-1": true, "us-gov-west-1": true, "ap-southeast-2": true, "us-isob-east-1": true, "eu-central-12": true,
		"us-east": false, "us-1": false, "u-east-1": false, "us--east-1": false, "us-east-1-": false, "us-East-1": false,
		"": false, "global": false, "us-east-001": false,
	}
	for r, ok := range regions {
		if got := isRegion(r); got != ok {
			t.Errorf("isRegion(%q) = %v, want %v", r, got, ok)
		}
	}
	arns := map[string]arnParts{
		"arn:aws:s3:::b":                     {partition: "aws", service: "s3", resource: "b"},
		"arn:aws:iam::123456789012:role/x:y": {partition: "aws", service: "iam", account: "123456789012", resource: "role/x:y"},
	}
	for s, want := range arns {
		got, ok := parseARN(s)
		if !ok || got != want {
			t.Errorf("parseARN(%q) = %+v, %v", s, got, ok)
		}
	}
	if got := splitProjects(" a ,, b,"); !cmp.Equal(got, []string{"a", "b"}) {
		t.Errorf("splitProjects = %q", got)
	}
	for _, s := range []string{"HIGH", " high ", "High"} {
		if got, ok := upperASCII(s); !ok || got != "HIGH" {
			t.Errorf("upperASCII(%q) = %q, %v", s, got, ok)
		}
	}
	for _, s := range []string{"hıgh", "ＨＩＧＨ", strings.Repeat("A", 65)} {
		if got, ok := upperASCII(s); ok {
			t.Errorf("upperASCII(%q) = %q, want failure", s, got)
		}
	}
	if got := childField("tags", "a.b"); got != `tags["a.b"]` {
		t.Errorf("childField = %s", got)
	}
}

// TestParseResourceIDShape holds an AWS resource id to the shapes the
// remediators can read: a lower-case ARN in a known partition, or a bare
// identifier. A wildcard or an upper-case "ARN:" is rejected; an object
// key, a URL or another partition is a concern, so review.
func TestParseResourceIDShape(t *testing.T) {
	base := sample(t, "default.json")
	const arnID = `"arn:aws:s3:::payments-exports"`
	withID := func(id string) string { return edit(t, base, arnID, `"`+id+`"`) }
	type result struct {
		Rejected string   // the rejected field, or ""
		Concerns []string // the concern fields
		Cloud    string
	}
	tests := []struct {
		name string
		body string
		want result
	}{
		{"ARN", base, result{Cloud: "AWS"}},
		{"bare bucket name", withID("payments-exports"), result{Cloud: "AWS"}},
		{"bare security group id", withID("sg-0123456789abcdef0"), result{Cloud: "AWS"}},
		{"object key", withID("payments-exports/reports/q3.csv"), result{Concerns: []string{"resource.id"}, Cloud: "AWS"}},
		{"bucket and page", withID("www-example-com/index.html"), result{Concerns: []string{"resource.id"}, Cloud: "AWS"}},
		{"s3 URL", withID("s3://other-bucket"), result{Concerns: []string{"resource.id"}, Cloud: "AWS"}},
		{"alias", withID("alias/my-key"), result{Concerns: []string{"resource.id"}, Cloud: "AWS"}},
		{"upper-case ARN prefix", withID("ARN:aws:s3:::other-bucket"), result{Rejected: "resource.id"}},
		{"mixed-case ARN prefix", withID("Arn:aws:s3:::other-bucket"), result{Rejected: "resource.id"}},
		{"wildcard ARN", withID("arn:aws:s3:::*"), result{Rejected: "resource.id"}},
		{"wildcard in bucket name", withID("payments-*"), result{Rejected: "resource.id"}},
		{"single-character wildcard", withID("arn:aws:s3:::payments-export?"), result{Rejected: "resource.id"}},
		{"China partition", withID("arn:aws-cn:s3:::victim"), result{Concerns: []string{"resource.id"}, Cloud: "AWS"}},
		{"GovCloud partition", withID("arn:aws-us-gov:s3:::victim"), result{Concerns: []string{"resource.id"}, Cloud: "AWS"}},
		{"partition with aws prefix", withID("arn:aws-evil:s3:::victim"), result{Concerns: []string{"resource.id"}, Cloud: "AWS"}},
		{"partition upper case", withID("arn:AWS:s3:::victim"), result{Concerns: []string{"resource.id"}, Cloud: "AWS"}},
		// Without a cloud platform only a known partition makes the
		// resource AWS, so its account is held to 12 digits.
		{"no cloud, aws-prefixed partition", edit(t, edit(t, withID("arn:awsx:s3:::victim"), `"cloudPlatform": "aws",`, ``), `"111111111111"`, `"acct-1"`),
			result{Concerns: []string{"resource.cloudPlatform", "resource.id"}}},
		{"no cloud, China partition", edit(t, edit(t, withID("arn:aws-cn:s3:::victim"), `"cloudPlatform": "aws",`, ``), `"111111111111"`, `"acct-1"`),
			result{Rejected: "resource.subscriptionId"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got result
			f, err := Parse([]byte(tt.body))
			var rej *remediate.RejectError
			switch {
			case errors.As(err, &rej):
				got.Rejected = rej.Field
			case err != nil:
				t.Fatalf("Parse: %v", err)
			default:
				for _, c := range f.Concerns {
					got.Concerns = append(got.Concerns, c.Field)
				}
				got.Cloud = f.Resource.Cloud
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s\nerror: %v", diff, err)
			}
		})
	}
}

// TestParseRevisionSNSTimestamp checks that two REOPENED notifications of
// one issue without an update time get different revisions (and so
// different idempotency keys) from their SNS Timestamps, while the same
// SNS message delivered again keeps its revision.
func TestParseRevisionSNSTimestamp(t *testing.T) {
	reopened := edit(t, sample(t, "default.json"), `"type": "Created"`, `"type": "REOPENED"`)
	updated := edit(t, reopened, `"created": "2026-11-02T10:11:12.345Z",`, `"created": "2026-11-02T10:11:12.345Z", "updated": "2026-11-03T08:00:00Z",`)
	created := sample(t, "default.json")
	// sns wraps payload as SNS delivers it: message id and Timestamp.
	sns := func(payload, id, ts string) string {
		msg, err := json.Marshal(payload)
		if err != nil {
			t.Fatal(err)
		}
		return `{"Type":"Notification","MessageId":"` + id + `","TopicArn":"arn:aws:sns:us-east-1:999999999999:wiz-findings",` +
			`"Message":` + string(msg) + `,"Timestamp":"` + ts + `"}`
	}
	const (
		first  = "2026-11-05T09:00:00.123Z"
		second = "2026-11-09T14:30:00.5Z"
	)
	tests := []struct {
		name string
		body string
		want string
	}{
		{"raw REOPENED", reopened, "REOPENED:2026-11-02T10:11:12.345Z"},
		{"SNS REOPENED", sns(reopened, "m-1", first), "REOPENED:2026-11-02T10:11:12.345Z/sns:2026-11-05T09:00:00.123Z"},
		{"SNS REOPENED again, same message", sns(reopened, "m-1", first), "REOPENED:2026-11-02T10:11:12.345Z/sns:2026-11-05T09:00:00.123Z"},
		{"SNS REOPENED later", sns(reopened, "m-2", second), "REOPENED:2026-11-02T10:11:12.345Z/sns:2026-11-09T14:30:00.5Z"},
		{"SNS Timestamp with offset", sns(reopened, "m-3", "2026-11-05T10:00:00.123+01:00"), "REOPENED:2026-11-02T10:11:12.345Z/sns:2026-11-05T09:00:00.123Z"},
		{"SNS without Timestamp", wrapSNS(t, reopened), "REOPENED:2026-11-02T10:11:12.345Z"},
		{"SNS with update time", sns(updated, "m-4", first), "REOPENED:2026-11-03T08:00:00Z"},
		{"SNS CREATED", sns(created, "m-5", first), "CREATED:2026-11-02T10:11:12.345Z"},
	}
	keys := map[string]string{} // revision -> idempotency key
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.body))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, f.Revision); diff != "" {
				t.Errorf("Revision mismatch (-want +got):\n%s", diff)
			}
			k := remediate.IdempotencyKey(f, "s3-block-public-access")
			for rev, other := range keys {
				if (rev == f.Revision) != (other == k) {
					t.Errorf("revisions %q and %q: keys equal = %t", rev, f.Revision, other == k)
				}
			}
			keys[f.Revision] = k
		})
	}

	for _, bad := range []struct{ name, ts string }{{"not RFC 3339", `"yesterday"`}, {"number", `1762333200`}} {
		t.Run("Timestamp "+bad.name, func(t *testing.T) {
			body := strings.Replace(sns(reopened, "m-6", first), `"`+first+`"`, bad.ts, 1)
			_, err := Parse([]byte(body))
			var rej *remediate.RejectError
			if !errors.As(err, &rej) || rej.Field != "Timestamp" {
				t.Errorf("Parse error = %v, want a rejection of Timestamp", err)
			}
		})
	}
}

// A long string where no decision looks (a description) is no reason to
// reject a finding, and free text the finding keeps (names, the
// automation rule) is cut to maxTextBytes; the body and depth limits
// still hold (see TestParseRejects).
func TestParseLongFreeText(t *testing.T) {
	base := sample(t, "default.json")
	long := strings.Repeat("é", 40<<10) // 80 KiB, over MaxStringBytes; cut must not split a rune
	cut := strings.Repeat("é", maxTextBytes/2) + "…"
	tests := []struct {
		name string
		body string
		opts func(*Options)
		want func(f *remediate.Finding)
	}{
		{"long description", edit(t, base, `"description": "`, `"description": "`+long), nil, func(*remediate.Finding) {}},
		{"long description, small string limit", edit(t, base, `"description": "`, `"description": "`+long), func(o *Options) { o.MaxStringBytes = 200 }, func(*remediate.Finding) {}},
		{"long description in SNS", wrapSNS(t, edit(t, base, `"description": "`, `"description": "`+long)), nil, func(f *remediate.Finding) {
			f.CorrelationID = "6a1f2b3c-4d5e-5f60-8a9b-0c1d2e3f4a5b"
		}},
		{"long unread member and key", extend(t, base, `"`+strings.Repeat("k", 70<<10)+`":"`+long+`"`), nil, func(*remediate.Finding) {}},
		{"long control name", edit(t, base, `"name": "S3 Bucket allows public access"`, `"name": "`+long+`"`), nil, func(f *remediate.Finding) {
			f.Control.Name = cut
		}},
		{"long resource name", edit(t, base, `"name": "payments-exports"`, `"name": "`+long+`"`), nil, func(f *remediate.Finding) {
			f.Resource.Name = cut
		}},
		{"long rule id and name", edit(t, edit(t, base, `"ruleName": "Auto-remediate S3 public access"`, `"ruleName": "`+long+`"`),
			`"ruleId": "0f5b8a2c-7d41-4e0b-9c61-3a2e5f7d9b10"`, `"ruleId": "`+long+`"`), nil, func(f *remediate.Finding) {
			f.Rule = remediate.Rule{ID: cut, Name: cut}
		}},
		{"long source rule name", edit(t, base, `"sourceCloudConfigurationRuleName": "S3 Bucket should block public access"`, `"sourceCloudConfigurationRuleName": "`+long+`"`), nil, func(f *remediate.Finding) {
			f.Control.SourceRuleName = cut
		}},
		{"long project", edit(t, base, `"Payments, Shared Services, "`, `"Payments, `+long+`"`), nil, func(f *remediate.Finding) {
			f.Projects = []string{"Payments", cut}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.body) > DefaultMaxBodyBytes {
				t.Fatalf("test body is %d bytes, over the body limit", len(tt.body))
			}
			p := New()
			if tt.opts != nil {
				p = New(tt.opts)
			}
			got, err := p.Parse([]byte(tt.body))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := wantDefault()
			tt.want(want)
			if diff := cmp.Diff(want, got, ignoreRaw); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// A tag whose value is JSON null is a missing tag, as any null member is:
// a policy reading it sees no such tag, so a missing environment or
// owner goes to review.
func TestParseNullTagIsMissing(t *testing.T) {
	base := sample(t, "default.json")
	tests := []struct {
		name string
		body string
	}{
		{"resource tags", edit(t, base, `"region": "us-east-1",`, `"region": "us-east-1", "tags": {"Environment": null, "Owner": "payments@example.com"},`)},
		{"top-level tags", extend(t, base, `"tags":{"Environment":null,"Owner":"payments@example.com"}`)},
		{"tags string", extend(t, base, `"tags":"{\"Environment\":null,\"Owner\":\"payments@example.com\"}"`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.body))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(map[string]string{"Owner": "payments@example.com"}, f.Resource.Tags); diff != "" {
				t.Errorf("tags (-want +got):\n%s", diff)
			}
			if len(f.Concerns) != 0 {
				t.Errorf("concerns %+v, want none", f.Concerns)
			}
		})
	}
}

// A rejected payload that still names its issue, automation rule and
// resource returns them in the rejection, each only if well formed, so
// that its record says which finding was lost.
func TestParseRejectKeepsIDs(t *testing.T) {
	base := sample(t, "default.json")
	gql := sample(t, "graphql.json")
	const (
		issue    = "5b0e6c9a-1f0e-4d6e-9a53-2f1c0d4b7e11"
		rule     = "0f5b8a2c-7d41-4e0b-9c61-3a2e5f7d9b10"
		resource = "arn:aws:s3:::payments-exports"
	)
	type ids struct{ Field, FindingID, RuleID, ResourceID string }
	tests := []struct {
		name string
		body string
		want ids
	}{
		{"bad account id", sample(t, "hostile-account-id.json"), ids{"resource.subscriptionId", issue, rule, resource}},
		{"bad account id in SNS", wrapSNS(t, sample(t, "hostile-account-id.json")), ids{"resource.subscriptionId", issue, rule, resource}},
		{"trigger source not accepted", sample(t, "hostile-trigger-source.json"), ids{"trigger.source", issue, rule, resource}},
		{"severity of the wrong type", sample(t, "hostile-severity-number.json"), ids{"issue.severity", issue, rule, resource}},
		{"bad time", edit(t, base, `"2026-11-02T10:11:12.345Z"`, `"yesterday"`), ids{"issue.created", issue, rule, resource}},
		{"malformed resource id is left out", sample(t, "hostile-resource-id-quote.json"), ids{Field: "resource.id", FindingID: issue, RuleID: rule}},
		{"wildcard resource id is left out", edit(t, base, `"arn:aws:s3:::payments-exports"`, `"arn:aws:s3:::payments-*"`), ids{Field: "resource.id", FindingID: issue, RuleID: rule}},
		{"malformed issue id is left out", edit(t, base, `"`+issue+`"`, `"`+issue+` x"`), ids{Field: "issue.id", RuleID: rule, ResourceID: resource}},
		{"malformed rule id is left out", edit(t, edit(t, base, `"`+rule+`"`, `"rule\n1"`), `"111111111111"`, `"1"`), ids{Field: "resource.subscriptionId", FindingID: issue, ResourceID: resource}},
		{"rule id of the wrong type", edit(t, base, `"ruleId": "`+rule+`"`, `"ruleId": 7`), ids{Field: "trigger.ruleId", FindingID: issue, ResourceID: resource}},
		{"GraphQL shape", edit(t, gql, `"subscriptionExternalId": "222222222222"`, `"subscriptionExternalId": "2222"`), ids{
			Field: "entitySnapshot.subscriptionExternalId", FindingID: "c6d3d3a8-88b0-4a1e-b5f2-0d8f8c9e2a71",
			ResourceID: "arn:aws:ec2:eu-west-1:222222222222:security-group/sg-0abc1234def567890",
		}},
		// Not well-formed JSON: nothing in it can be read safely.
		{"duplicate key", sample(t, "hostile-duplicate-severity.json"), ids{Field: "issue.severity"}},
		{"SNS envelope rejected", sample(t, "hostile-subscription-confirmation.json"), ids{Field: "Type"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New().Parse([]byte(tt.body))
			var rej *remediate.RejectError
			if !errors.As(err, &rej) {
				t.Fatalf("Parse: %v, want a rejection", err)
			}
			got := ids{rej.Field, rej.FindingID, rej.RuleID, rej.ResourceID}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("rejection (-want +got):\n%s", diff)
			}
		})
	}
}
