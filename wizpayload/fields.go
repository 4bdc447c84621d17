package wizpayload

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/remedy-sec/remedy/internal/clip"
	"github.com/remedy-sec/remedy/internal/strictjson"
	"github.com/remedy-sec/remedy/remediate"
)

// Bounds on identifiers, below the general string limit.
const (
	maxIDBytes         = 128  // issue ids, SNS message ids
	maxResourceIDBytes = 2048 // the longest ARN AWS documents
	maxTokenBytes      = 512  // types, control ids, account ids of other clouds
	maxEnumBytes       = 64
)

// maxTextBytes bounds free text the parser keeps without deciding on it:
// names, the automation rule's id and name, project names. Longer text is
// cut and marked with "…", so that it cannot bloat a finding or its
// audit record; it is never a reason to reject.
const maxTextBytes = 1 << 10

// matchEnum returns the member of known (upper-case ASCII constants)
// that s equals, ignoring ASCII case, and false if none does. A byte
// outside ASCII never matches, so a look-alike such as "hıgh" (dotless
// i) is unknown rather than HIGH, as Unicode case mapping would make it.
func matchEnum(s string, known ...string) (string, bool) {
	for _, k := range known {
		if equalFoldASCII(s, k) {
			return k, true
		}
	}
	return "", false
}

// equalFoldASCII reports whether s equals upper, an upper-case ASCII
// string, ignoring the case of ASCII letters in s.
func equalFoldASCII(s, upper string) bool {
	if len(s) != len(upper) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != upper[i] {
			return false
		}
	}
	return true
}

// kindName names a JSON kind for a message.
func kindName(k strictjson.Kind) string { return k.String() }

// str returns v's text when v is a string, and "" when v is missing or
// null. Any other kind is rejected naming field.
func str(v strictjson.Value, field string) (string, error) {
	switch v.Kind() {
	case strictjson.String:
		return v.Text(), nil
	case strictjson.Invalid, strictjson.Null:
		return "", nil
	}
	return "", reject(field, "want a string, got "+kindName(v.Kind()))
}

// text reads free text (see maxTextBytes): a string cut to maxTextBytes,
// or "" when v is missing or null. Any other kind is rejected naming
// field.
func text(v strictjson.Value, field string) (string, error) {
	s, err := str(v, field)
	return clipText(s), err
}

// object returns v when v is an object, and the zero Value when it is
// missing or null. Any other kind is rejected naming field.
func object(v strictjson.Value, field string) (strictjson.Value, error) {
	switch v.Kind() {
	case strictjson.Object:
		return v, nil
	case strictjson.Invalid, strictjson.Null:
		return strictjson.Value{}, nil
	}
	return strictjson.Value{}, reject(field, "want an object, got "+kindName(v.Kind()))
}

// upperASCII trims s and upper-cases it. Anything outside ASCII fails:
// Unicode case mapping turns look-alikes such as "hıgh" (dotless i) into
// "HIGH", and an enumeration must not match by accident.
func upperASCII(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) > maxEnumBytes {
		return "", false
	}
	lower := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return "", false
		}
		if c >= 'a' && c <= 'z' {
			lower = true
		}
	}
	if !lower {
		return s, true
	}
	return strings.ToUpper(s), true
}

// enumText reads an enumeration's text, trimmed: "" when it is missing,
// null or blank.
func enumText(v strictjson.Value, field string) (string, error) {
	s, err := str(v, field)
	return strings.TrimSpace(s), err
}

// timeField reads an RFC 3339 time. Missing or empty is the zero time; a
// value that does not parse is rejected.
func timeField(v strictjson.Value, field string) (time.Time, error) {
	s, err := str(v, field)
	if err != nil || s == "" {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, reject(field, "time "+clip.Quote(s)+" is not RFC 3339")
	}
	return t.UTC(), nil
}

// checkToken returns why s is not a well-formed opaque id (letters,
// digits and . _ : - only, at most max bytes), or "".
func checkToken(s string, max int) string {
	if len(s) > max {
		return "is " + strconv.Itoa(len(s)) + " bytes, over the limit of " + strconv.Itoa(max)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return clip.Quote(s) + " has a character outside letters, digits and . _ : -"
		}
	}
	return ""
}

// checkIdent returns why s is not a well-formed identifier, or "". An
// identifier is kept exactly as sent, so anything that could make two
// different values look alike, or break out of a log line, is refused:
// whitespace (any Unicode space), quotes, control and format characters
// (zero-width and bidirectional marks).
func checkIdent(s string, max int) string {
	if len(s) > max {
		return "is " + strconv.Itoa(len(s)) + " bytes, over the limit of " + strconv.Itoa(max)
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c <= ' ' || c == 0x7f || c == '"' || c == '\'' || c == '`' {
				return clip.Quote(s) + " contains " + strconv.QuoteRune(rune(c))
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) ||
			unicode.In(r, unicode.Zl, unicode.Zp, unicode.Co, unicode.Cs) || r == '\u2018' || r == '\u2019' || r == '\u201c' || r == '\u201d' {
			return clip.Quote(s) + " contains " + strconv.QuoteRuneToASCII(r)
		}
		i += size
	}
	return ""
}

// isAccountID reports whether s is exactly 12 ASCII digits.
func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isRegion reports whether s is shaped like an AWS region: two lower-case
// letters, one or more lower-case words, and a number of one or two
// digits, joined by hyphens ("us-east-1", "us-gov-west-1").
func isRegion(s string) bool {
	if len(s) > 32 {
		return false
	}
	parts := 0
	for rest := s; ; parts++ {
		part, tail, more := strings.Cut(rest, "-")
		switch {
		case parts == 0:
			if len(part) != 2 || !allLower(part) {
				return false
			}
		case !more:
			return parts >= 2 && len(part) >= 1 && len(part) <= 2 && allDigits(part)
		default:
			if part == "" || !allLower(part) {
				return false
			}
		}
		if !more {
			return false
		}
		rest = tail
	}
}

func allLower(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// severity reads the finding's severity. Missing or unknown is a concern,
// never a guess.
func severity(f *remediate.Finding, v strictjson.Value, field string) error {
	s, err := enumText(v, field)
	if err != nil {
		return err
	}
	if s == "" {
		f.AddConcern(field, "The issue has no severity, so its urgency is unknown.")
		return nil
	}
	sev, ok := matchSeverity(s)
	if !ok {
		f.AddConcern(field, "The issue severity "+clip.Quote(s)+" is not one Remedy knows.")
		return nil
	}
	f.Severity = sev
	return nil
}

func matchSeverity(s string) (remediate.Severity, bool) {
	v, ok := matchEnum(s,
		string(remediate.SeverityInformational), string(remediate.SeverityLow),
		string(remediate.SeverityMedium), string(remediate.SeverityHigh),
		string(remediate.SeverityCritical))
	return remediate.Severity(v), ok
}

// status reads the issue status; missing or unknown is a concern.
func status(f *remediate.Finding, v strictjson.Value, field string) error {
	s, err := enumText(v, field)
	if err != nil {
		return err
	}
	if s == "" {
		f.AddConcern(field, "The issue has no status, so it may already be resolved.")
		return nil
	}
	st, ok := matchEnum(s, "OPEN", "IN_PROGRESS", "RESOLVED", "REJECTED")
	if !ok {
		f.AddConcern(field, "The issue status "+clip.Quote(s)+" is not one Remedy knows.")
		return nil
	}
	f.Status = st
	return nil
}

// controlSeverity reads a control's severity, which is informational: an
// unknown value is dropped without a concern.
func controlSeverity(v strictjson.Value, field string) (remediate.Severity, error) {
	s, err := enumText(v, field)
	if err != nil {
		return "", err
	}
	sev, _ := matchSeverity(s)
	return sev, nil
}

// ident reads an optional identifier: a string kept exactly as sent, or
// rejected when malformed.
func ident(v strictjson.Value, field string, max int) (string, error) {
	s, err := str(v, field)
	if err != nil || s == "" {
		return "", err
	}
	if why := checkIdent(s, max); why != "" {
		return "", reject(field, why)
	}
	return s, nil
}

// declared reads a top-level environment or owner claim, which a policy
// may trust and decide on, so it is bounded by max like a tag. A field
// that is present but empty (or null) is a concern: the template meant to
// carry it and did not.
func declared(f *remediate.Finding, v strictjson.Value, field string, max int) (string, error) {
	if !v.Exists() {
		return "", nil
	}
	s, err := str(v, field)
	if err != nil {
		return "", err
	}
	if len(s) > max {
		return "", reject(field, "is "+strconv.Itoa(len(s))+" bytes, over the limit of "+strconv.Itoa(max))
	}
	s = strings.TrimSpace(s)
	if s == "" {
		f.AddConcern(field, "The payload's "+field+" field is present but empty.")
	}
	return s, nil
}

// splitProjects splits a comma-joined project list, trimming names,
// dropping empty ones and cutting long ones to maxTextBytes.
func splitProjects(s string) []string {
	var out []string
	for s != "" {
		var name string
		name, s, _ = strings.Cut(s, ",")
		if name = strings.TrimSpace(name); name != "" {
			if out == nil {
				out = make([]string, 0, strings.Count(s, ",")+1)
			}
			out = append(out, clipText(name))
		}
	}
	return out
}

// clipText cuts free text to maxTextBytes, marking the cut with "…".
func clipText(s string) string {
	if len(s) <= maxTextBytes {
		return s
	}
	return clip.UTF8(s, maxTextBytes) + "…"
}
