// Package strictjson is a small, strict JSON parser for untrusted input
// whose content decides whether to change a customer's account.
//
// It parses a whole document into an immutable tree in one pass and
// rejects, rather than repairs, anything a lenient decoder would quietly
// accept:
//
//   - invalid UTF-8 anywhere, including escapes that do not form a valid
//     code point: a lone or unpaired UTF-16 surrogate (\ud800, \udc00,
//     \ud800\u0041) is an error, never replaced with U+FFFD;
//   - an object that names the same key twice, at any depth, comparing
//     the decoded keys byte for byte ("a" and "\u0061" are the same key);
//   - nesting deeper than [Limits.MaxDepth], a document longer than
//     [Limits.MaxBytes], or a string (or number literal) longer than
//     [Limits.MaxStringBytes] once decoded;
//   - a top level that is not an object, and anything after it other
//     than whitespace;
//   - everything RFC 8259 forbids: a byte order mark, raw control
//     characters in strings, leading zeros, "+1", "NaN", trailing commas,
//     comments, single quotes.
//
// The escape \u0000 is accepted: it is a valid code point. Callers that
// treat NUL or other control characters as malformed check for them on
// the values they read.
//
// Every error is an [*Error] carrying the byte offset, the JSON path of
// the value being read (such as "issue.severity" or "projects[2].name")
// and one of the sentinel errors, for use with [errors.Is].
//
// Numbers are kept as their literal text; the caller converts the ones it
// needs. The tree holds no pointers, only offsets into the document's
// text: strings without escapes share memory with it, and strings with
// escapes are validated while parsing but decoded only when read. A
// typical payload parses with three allocations (the document's copy,
// the tree, the Document). Strings are scanned eight bytes at a time.
//
//	doc, err := strictjson.Parse(body, strictjson.Limits{})
//	if err != nil { ... }
//	sev, _ := doc.Root().Get("issue")
//	for key, v := range sev.Members() { ... }
package strictjson
