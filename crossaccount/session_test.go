package crossaccount

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/remediate"
)

// stsNameRE is STS's rule for RoleSessionName and SourceIdentity.
var stsNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

func TestSessionName(t *testing.T) {
	long := strings.Repeat("x", 500)
	tests := []struct {
		name, action, finding string
		want                  string // "" means: only check validity
	}{
		{"plain", "s3-block-public-access", "wiz-123", "s3-block-public-access@wiz-123"},
		{"shared", "s3-block-public-access", "", "s3-block-public-access@shared"},
		{"uuid", "sg-ingress", "c5b3d3f4-7a7e-4f7e-9f5e-1d2c3b4a5f60", "sg-ingress@c5b3d3f4-7a7e-4f7e-9f5e-1d2c3b4a5f60"},
		{"spaces", "s3 fix", "id with  spaces", "s3-fix@id-with-spaces"},
		{"slashes", "a/b", "arn:aws:s3:::bucket/key", "a-b@arn-aws-s3-bucket-key"},
		{"unicode", "kms-rotation", "находка-λ-🔥", "kms-rotation@-"},
		{"allowed punctuation kept", "x", "a+b=c,d.e@f_g-h", "x@a+b=c,d.e@f_g-h"},
		{"empty action", "", "", "@shared"},
		{"500 chars", "s3-block-public-access", long, ""},
		{"500 chars unicode", "ä", strings.Repeat("ü", 500), ""},
		{"control and NUL", "a\x00b", "\n\t\r", "a-b@-"},
		{"invalid utf8", "a", "\xff\xfe", "a@-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SessionName(tt.action, tt.finding)
			if !stsNameRE.MatchString(got) {
				t.Fatalf("SessionName(%q, %q) = %q, which STS rejects", tt.action, tt.finding, got)
			}
			if tt.want != "" {
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("SessionName(%q, %q) mismatch (-want +got):\n%s", tt.action, tt.finding, diff)
				}
			}
			src := SourceIdentity(tt.action, tt.finding)
			if !stsNameRE.MatchString(src) {
				t.Errorf("SourceIdentity(%q, %q) = %q, which STS rejects", tt.action, tt.finding, src)
			}
		})
	}
}

func TestSessionNameLongInputsStayDistinct(t *testing.T) {
	a := SessionName("s3-block-public-access", strings.Repeat("x", 500)+"1")
	b := SessionName("s3-block-public-access", strings.Repeat("x", 500)+"2")
	if a == b {
		t.Fatalf("two long finding ids share the session name %q", a)
	}
	if len(a) != 64 || !strings.HasPrefix(a, "s3-block-public-access@xxx") {
		t.Errorf("SessionName = %q (%d chars), want the 64-char truncation keeping the action", a, len(a))
	}
}

func TestSourceIdentity(t *testing.T) {
	if got, want := SourceIdentity("s3-block-public-access", "wiz-1"), "remedy@wiz-1"; got != want {
		t.Errorf("strict SourceIdentity = %q, want %q", got, want)
	}
	if got, want := SourceIdentity("s3-block-public-access", ""), "remedy@s3-block-public-access"; got != want {
		t.Errorf("shared SourceIdentity = %q, want %q", got, want)
	}
}

// tagValueRE is STS's rule for session tag values; keys follow the same
// alphabet with at least one character.
var tagValueRE = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)

func TestSessionTags(t *testing.T) {
	f := &remediate.Finding{ID: "wiz-1", Control: remediate.Control{ID: "wc-id-123"}, CorrelationID: "corr-9"}
	tag := func(k, v string) types.Tag { return types.Tag{Key: aws.String(k), Value: aws.String(v)} }
	tests := []struct {
		name string
		f    *remediate.Finding
		mode Mode
		want []types.Tag
	}{
		{"strict", f, Strict, []types.Tag{
			tag(TagAction, "s3-fix"), tag(TagMode, "strict"), tag(TagFindingID, "wiz-1"),
			tag(TagControlID, "wc-id-123"), tag(TagCorrelationID, "corr-9"),
		}},
		{"shared carries no finding", f, Shared, []types.Tag{tag(TagAction, "s3-fix"), tag(TagMode, "shared")}},
		{"missing ids are left out", &remediate.Finding{ID: "wiz-2"}, Strict, []types.Tag{
			tag(TagAction, "s3-fix"), tag(TagMode, "strict"), tag(TagFindingID, "wiz-2"),
		}},
		{"hostile values are sanitized", &remediate.Finding{ID: "a#b$c\x00d<e>", Control: remediate.Control{ID: "Ünïcödé ok"}, CorrelationID: "   "}, Strict, []types.Tag{
			tag(TagAction, "s3-fix"), tag(TagMode, "strict"), tag(TagFindingID, "a-b-c-d-e-"), tag(TagControlID, "Ünïcödé ok"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SessionTags(tt.f, "s3-fix", tt.mode)
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b types.Tag) bool {
				return aws.ToString(a.Key) == aws.ToString(b.Key) && aws.ToString(a.Value) == aws.ToString(b.Value)
			})); diff != "" {
				t.Errorf("SessionTags mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSessionTagsWithinLimits(t *testing.T) {
	f := &remediate.Finding{ID: strings.Repeat("é", 1000), Control: remediate.Control{ID: strings.Repeat("/", 300)}, CorrelationID: strings.Repeat("🔥", 300)}
	for _, tg := range SessionTags(f, strings.Repeat("a", 300), Strict) {
		k, v := aws.ToString(tg.Key), aws.ToString(tg.Value)
		if n := utf8.RuneCountInString(k); n == 0 || n > 128 || !tagValueRE.MatchString(k) || strings.HasPrefix(k, "aws:") {
			t.Errorf("tag key %q is invalid", k)
		}
		if n := utf8.RuneCountInString(v); n > 256 || !tagValueRE.MatchString(v) {
			t.Errorf("tag %s value of %d chars is invalid: %q", k, n, v)
		}
	}
}
