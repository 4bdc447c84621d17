package crossaccount

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/remedy-sec/remedy/remediate"
)

// STS limits on what a session carries.
const (
	maxSessionName = 64  // RoleSessionName and SourceIdentity
	minSessionName = 2   // RoleSessionName and SourceIdentity
	maxTagValue    = 256 // session tag value, in characters (keys are ours and short)
)

// sharedSuffix stands for the finding in names of sessions that serve
// many findings.
const sharedSuffix = "shared"

// Session tag keys. The aws: prefix is reserved, so Remedy uses its own.
const (
	TagAction        = "remedy:action"
	TagMode          = "remedy:mode"
	TagFindingID     = "remedy:finding-id"
	TagControlID     = "remedy:control-id"
	TagCorrelationID = "remedy:correlation-id"
)

// SessionName returns the RoleSessionName for a session that runs action
// for the finding findingID: "<action>@<finding id>", reduced to the
// characters STS accepts ([\w+=,.@-]) and to 2–64 characters. Any other
// character becomes "-", and a run of dashes becomes one. A name that
// would be longer keeps its first 55 characters and ends in "-" and 8 hex
// digits of a hash of the whole input, so two long ids still get
// different names.
//
// An empty findingID names a shared session, which serves every finding
// of that action in one account: "<action>@shared".
func SessionName(action, findingID string) string {
	if findingID == "" {
		findingID = sharedSuffix
	}
	return stsName(action, findingID)
}

// SourceIdentity returns the SourceIdentity for a session: "remedy@<finding
// id>" for a session of one finding, "remedy@<action>" for a shared one,
// under the same character and length rules as SessionName. Unlike the
// session name it survives role chaining, so whatever the customer role
// does next still names Remedy and the finding.
func SourceIdentity(action, findingID string) string {
	if findingID == "" {
		return stsName("remedy", action)
	}
	return stsName("remedy", findingID)
}

// stsName joins a and b with "@" and makes the result valid for both
// RoleSessionName and SourceIdentity.
func stsName(a, b string) string {
	buf := make([]byte, 0, len(a)+1+len(b))
	for _, r := range a + "@" + b {
		if !isSessionRune(r) {
			r = '-'
		}
		if r == '-' && len(buf) > 0 && buf[len(buf)-1] == '-' {
			continue // one dash stands for a run of them
		}
		buf = append(buf, byte(r)) // isSessionRune admits ASCII only
	}
	s := string(buf)
	if len(s) > maxSessionName {
		sum := sha256.Sum256([]byte(a + "\x00" + b))
		s = s[:maxSessionName-9] + "-" + hex.EncodeToString(sum[:4])
	}
	for len(s) < minSessionName {
		s += "-"
	}
	return s
}

// isSessionRune reports whether r is in STS's [\w+=,.@-] (ASCII \w).
func isSessionRune(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return strings.ContainsRune("_+=,.@-", r)
}

// SessionTags returns the session tags for a session of mode m. A session
// of one finding (Strict) carries the action, the mode, and the finding,
// control and correlation ids the finding has. A shared session serves
// many findings, so it carries only the action and the mode; calls made
// with it are joined back to each finding by the user-agent entry and the
// request ids in the audit record instead.
//
// Values are sanitized to STS's tag alphabet (letters, digits, spaces and
// _.:/=+-@; anything else becomes "-") and cut to 256 characters; empty
// values are left out.
func SessionTags(f *remediate.Finding, action string, m Mode) []types.Tag {
	tags := make([]types.Tag, 0, 5)
	add := func(k, v string) {
		if v = tagValue(v); v != "" {
			tags = append(tags, types.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
	}
	add(TagAction, action)
	add(TagMode, m.String())
	if m == Strict && f != nil {
		add(TagFindingID, f.ID)
		add(TagControlID, f.Control.ID)
		add(TagCorrelationID, f.CorrelationID)
	}
	return tags
}

// tagValue maps s to the session-tag alphabet
// [\p{L}\p{Z}\p{N}_.:/=+\-@] and cuts it to maxTagValue characters.
func tagValue(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	var sb strings.Builder
	n := 0
	for _, r := range s {
		if n == maxTagValue {
			break
		}
		if !isTagRune(r) {
			r = '-'
		}
		sb.WriteRune(r)
		n++
	}
	return sb.String()
}

func isTagRune(r rune) bool {
	if r == utf8.RuneError {
		return false
	}
	return unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Z, r) ||
		strings.ContainsRune("_.:/=+-@", r)
}
