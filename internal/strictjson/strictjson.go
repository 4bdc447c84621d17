package strictjson

import (
	"errors"
	"strconv"
	"strings"
)

// Default limits, used where a [Limits] field is zero or negative.
const (
	DefaultMaxBytes       = 256 << 10
	DefaultMaxDepth       = 64
	DefaultMaxStringBytes = 64 << 10
)

// maxBytesCap keeps offsets and indexes within int32; maxDepthCap keeps
// the parser's recursion shallow.
const (
	maxBytesCap = 1 << 30
	maxDepthCap = 10000
)

// Limits bound what Parse accepts. A zero or negative field takes its
// default; there is no way to turn a limit off.
type Limits struct {
	// MaxBytes is the longest document accepted, in bytes. At most 1 GiB.
	MaxBytes int
	// MaxDepth is the deepest nesting of objects and arrays accepted. The
	// top-level object is depth 1. At most 10,000.
	MaxDepth int
	// MaxStringBytes is the longest string (decoded, in bytes), object key
	// or number literal accepted.
	MaxStringBytes int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxBytes > maxBytesCap {
		l.MaxBytes = maxBytesCap
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxDepth > maxDepthCap {
		l.MaxDepth = maxDepthCap
	}
	if l.MaxStringBytes <= 0 {
		l.MaxStringBytes = DefaultMaxStringBytes
	}
	return l
}

// Sentinel errors: every [*Error] unwraps to exactly one of them.
var (
	ErrSyntax        = errors.New("syntax error")
	ErrInvalidUTF8   = errors.New("invalid UTF-8")
	ErrDuplicateKey  = errors.New("duplicate key")
	ErrTooDeep       = errors.New("nesting too deep")
	ErrTooLarge      = errors.New("document too large")
	ErrStringTooLong = errors.New("string too long")
	ErrNotObject     = errors.New("top level is not an object")
	ErrTrailingData  = errors.New("data after the top-level object")
)

// Error is a parse failure: where it happened and why.
type Error struct {
	// Offset is the byte offset in the document where the problem starts.
	Offset int
	// Path is the JSON path of the value being read, such as
	// "issue.severity" or "projects[0].name"; empty at the top level.
	// A key that is not a plain name is quoted: `tags["a.b"]`.
	Path string
	// Err is one of the package's sentinel errors.
	Err error
	// Detail says more, such as which character was unexpected.
	Detail string

	segs []string // path segments, innermost first, while unwinding
}

// Error describes the failure: what, where in bytes, and at which path.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("strictjson: ")
	b.WriteString(e.Err.Error())
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	b.WriteString(" at byte ")
	b.WriteString(strconv.Itoa(e.Offset))
	if e.Path != "" {
		b.WriteString(" (")
		b.WriteString(e.Path)
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap returns the sentinel error.
func (e *Error) Unwrap() error { return e.Err }

func (e *Error) addKey(k string) {
	if isPlainName(k) {
		e.segs = append(e.segs, "."+k)
	} else {
		e.segs = append(e.segs, "["+strconv.Quote(k)+"]")
	}
}

func (e *Error) addIndex(i int) { e.segs = append(e.segs, "["+strconv.Itoa(i)+"]") }

func (e *Error) finish(prefix string) *Error {
	var b strings.Builder
	b.WriteString(prefix)
	for i := len(e.segs) - 1; i >= 0; i-- {
		b.WriteString(e.segs[i])
	}
	p := b.String()
	if prefix == "" {
		p = strings.TrimPrefix(p, ".")
	}
	e.Path = p
	e.segs = nil
	return e
}

// isPlainName reports whether k can be written after a dot in a path.
func isPlainName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '$') {
			return false
		}
	}
	return true
}

// Kind is the type of a JSON value.
type Kind uint8

// Kinds of value. The zero Kind is Invalid: the kind of a missing value.
const (
	Invalid Kind = iota
	Null
	Bool
	Number
	String
	Object
	Array
)

// String returns the kind's name as JSON spells it ("object", "null").
func (k Kind) String() string {
	switch k {
	case Invalid:
		return "invalid"
	case Null:
		return "null"
	case Bool:
		return "bool"
	case Number:
		return "number"
	case String:
		return "string"
	case Object:
		return "object"
	case Array:
		return "array"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}
