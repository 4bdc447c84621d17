package strictjson

import (
	"errors"
	"iter"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Default limits, used where a [Limits] field is zero or negative.
const (
	DefaultMaxBytes       = 256 << 10
	DefaultMaxDepth       = 64
	DefaultMaxStringBytes = 64 << 10
)

// maxBytesCap keeps offsets and indexes within int32.
const maxBytesCap = 1 << 30

// Limits bound what Parse accepts. A zero or negative field takes its
// default; there is no way to turn a limit off.
type Limits struct {
	// MaxBytes is the longest document accepted, in bytes. At most 1 GiB.
	MaxBytes int
	// MaxDepth is the deepest nesting of objects and arrays accepted. The
	// top-level object is depth 1.
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

// node is one value. Nodes are stored in document order, so the children
// of a container follow it, each subtree contiguous.
type node struct {
	key  string // member name when the parent is an object
	text string // decoded string, or literal text of a number, bool or null
	off  int32  // byte offset of the value
	end  int32  // index one past the node's last descendant
	n    int32  // number of children
	kind Kind
}

// Document is a parsed JSON document. It is immutable and safe for
// concurrent use.
type Document struct {
	nodes []node
}

// Root returns the top-level object.
func (d *Document) Root() Value {
	if d == nil || len(d.nodes) == 0 {
		return Value{}
	}
	return Value{d: d, i: 0}
}

// Value is a handle on one value in a Document. The zero Value is a
// missing value: its Kind is Invalid.
type Value struct {
	d *Document
	i int32
}

func (v Value) node() *node { return &v.d.nodes[v.i] }

// Kind returns the value's type, or Invalid for the zero Value.
func (v Value) Kind() Kind {
	if v.d == nil {
		return Invalid
	}
	return v.node().kind
}

// Exists reports whether v is a value (possibly null), not a missing one.
func (v Value) Exists() bool { return v.d != nil }

// Text returns a string's decoded text, or the literal text of a number,
// bool or null ("12.50", "true", "null"). It is "" for containers and the
// zero Value.
func (v Value) Text() string {
	if v.d == nil {
		return ""
	}
	return v.node().text
}

// Offset returns the byte offset of the value in the document, or -1 for
// the zero Value.
func (v Value) Offset() int {
	if v.d == nil {
		return -1
	}
	return int(v.node().off)
}

// Len returns the number of members of an object or elements of an
// array, and 0 for anything else.
func (v Value) Len() int {
	if v.d == nil {
		return 0
	}
	return int(v.node().n)
}

// Get returns the member of an object named key (compared exactly). It
// returns the zero Value and false when v is not an object or has no such
// member.
func (v Value) Get(key string) (Value, bool) {
	if v.d == nil {
		return Value{}, false
	}
	nd := v.d.nodes
	n := &nd[v.i]
	if n.kind != Object {
		return Value{}, false
	}
	for c := v.i + 1; c < n.end; c = nd[c].end {
		if nd[c].key == key {
			return Value{d: v.d, i: c}, true
		}
	}
	return Value{}, false
}

// Members iterates over an object's members in document order. It yields
// nothing when v is not an object.
func (v Value) Members() iter.Seq2[string, Value] {
	return func(yield func(string, Value) bool) {
		if v.d == nil {
			return
		}
		nd := v.d.nodes
		n := &nd[v.i]
		if n.kind != Object {
			return
		}
		for c := v.i + 1; c < n.end; c = nd[c].end {
			if !yield(nd[c].key, Value{d: v.d, i: c}) {
				return
			}
		}
	}
}

// Elements iterates over an array's elements in order. It yields nothing
// when v is not an array.
func (v Value) Elements() iter.Seq[Value] {
	return func(yield func(Value) bool) {
		if v.d == nil {
			return
		}
		nd := v.d.nodes
		n := &nd[v.i]
		if n.kind != Array {
			return
		}
		for c := v.i + 1; c < n.end; c = nd[c].end {
			if !yield(Value{d: v.d, i: c}) {
				return
			}
		}
	}
}

// Parse parses data, which must hold exactly one JSON object. The
// returned Document does not refer to data.
func Parse(data []byte, lim Limits) (*Document, error) {
	lim = lim.withDefaults()
	if len(data) > lim.MaxBytes {
		return nil, tooLarge(len(data), lim.MaxBytes)
	}
	return parse(string(data), lim)
}

// ParseString is Parse for a document held in a string. Strings without
// escapes in the returned Document share memory with s.
func ParseString(s string, lim Limits) (*Document, error) {
	lim = lim.withDefaults()
	if len(s) > lim.MaxBytes {
		return nil, tooLarge(len(s), lim.MaxBytes)
	}
	return parse(s, lim)
}

func tooLarge(n, max int) *Error {
	return &Error{Offset: max, Err: ErrTooLarge, Detail: strconv.Itoa(n) + " bytes, limit " + strconv.Itoa(max)}
}

func parse(s string, lim Limits) (*Document, error) {
	p := parser{s: s, lim: lim}
	// A typical payload has about one value per 24 bytes; guessing close
	// avoids regrowing the slice.
	p.nodes = make([]node, 0, len(s)/24+8)
	p.skipSpace()
	if p.pos >= len(s) || s[p.pos] != '{' {
		detail := "document is empty"
		if p.pos < len(s) {
			detail = "starts with " + quoteByteAt(s, p.pos)
		}
		return nil, (&Error{Offset: p.pos, Err: ErrNotObject, Detail: detail}).finish("")
	}
	if err := p.value("", 1); err != nil {
		return nil, err.finish("")
	}
	p.skipSpace()
	if p.pos != len(s) {
		return nil, (&Error{Offset: p.pos, Err: ErrTrailingData, Detail: "found " + quoteByteAt(s, p.pos)}).finish("")
	}
	return &Document{nodes: p.nodes}, nil
}

type parser struct {
	s       string
	pos     int
	lim     Limits
	nodes   []node
	scratch []byte
}

func (p *parser) skipSpace() {
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) errAt(off int, sentinel error, detail string) *Error {
	return &Error{Offset: off, Err: sentinel, Detail: detail}
}

func (p *parser) unexpected(want string) *Error {
	if p.pos >= len(p.s) {
		return p.errAt(p.pos, ErrSyntax, "unexpected end of input, want "+want)
	}
	return p.errAt(p.pos, ErrSyntax, "unexpected "+quoteByteAt(p.s, p.pos)+", want "+want)
}

// quoteByteAt describes the character at s[i] for an error message
// without echoing invalid UTF-8.
func quoteByteAt(s string, i int) string {
	r, size := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && size <= 1 {
		return "byte 0x" + strconv.FormatUint(uint64(s[i]), 16)
	}
	return strconv.QuoteRune(r)
}

// value parses the value at p.pos (whitespace already skipped) and
// appends its node(s). key is its member name; depth is the depth a
// container here would have.
func (p *parser) value(key string, depth int) *Error {
	if p.pos >= len(p.s) {
		return p.unexpected("a value")
	}
	start := p.pos
	idx := int32(len(p.nodes))
	switch c := p.s[p.pos]; {
	case c == '{':
		if depth > p.lim.MaxDepth {
			return p.errAt(start, ErrTooDeep, "limit "+strconv.Itoa(p.lim.MaxDepth))
		}
		p.nodes = append(p.nodes, node{key: key, off: int32(start), kind: Object})
		return p.object(idx, depth)
	case c == '[':
		if depth > p.lim.MaxDepth {
			return p.errAt(start, ErrTooDeep, "limit "+strconv.Itoa(p.lim.MaxDepth))
		}
		p.nodes = append(p.nodes, node{key: key, off: int32(start), kind: Array})
		return p.array(idx, depth)
	case c == '"':
		s, err := p.str()
		if err != nil {
			return err
		}
		p.nodes = append(p.nodes, node{key: key, text: s, off: int32(start), end: idx + 1, kind: String})
	case c == '-' || c >= '0' && c <= '9':
		if err := p.number(); err != nil {
			return err
		}
		p.nodes = append(p.nodes, node{key: key, text: p.s[start:p.pos], off: int32(start), end: idx + 1, kind: Number})
	case c == 't':
		return p.literal(key, "true", Bool)
	case c == 'f':
		return p.literal(key, "false", Bool)
	case c == 'n':
		return p.literal(key, "null", Null)
	default:
		return p.unexpected("a value")
	}
	return nil
}

func (p *parser) literal(key, lit string, k Kind) *Error {
	start := p.pos
	if !strings.HasPrefix(p.s[p.pos:], lit) {
		return p.unexpected("a value")
	}
	p.pos += len(lit)
	idx := int32(len(p.nodes))
	p.nodes = append(p.nodes, node{key: key, text: lit, off: int32(start), end: idx + 1, kind: k})
	return nil
}

// smallObject is how many members an object may have before duplicate
// detection switches from a linear scan to a map.
const smallObject = 16

func (p *parser) object(idx int32, depth int) *Error {
	p.pos++ // '{'
	p.skipSpace()
	var n int32
	var seen map[string]struct{}
	if p.pos < len(p.s) && p.s[p.pos] == '}' {
		p.pos++
		p.nodes[idx].end = int32(len(p.nodes))
		return nil
	}
	for {
		if p.pos >= len(p.s) || p.s[p.pos] != '"' {
			return p.unexpected("a string key")
		}
		keyOff := p.pos
		key, err := p.str()
		if err != nil {
			return err
		}
		// Duplicate check against the members parsed so far.
		if n < smallObject {
			nd := p.nodes
			for c := idx + 1; c < int32(len(nd)); c = nd[c].end {
				if nd[c].key == key {
					e := p.errAt(keyOff, ErrDuplicateKey, strconv.Quote(key))
					e.addKey(key)
					return e
				}
			}
		} else {
			if seen == nil {
				seen = make(map[string]struct{}, 2*smallObject)
				nd := p.nodes
				for c := idx + 1; c < int32(len(nd)); c = nd[c].end {
					seen[nd[c].key] = struct{}{}
				}
			}
			if _, dup := seen[key]; dup {
				e := p.errAt(keyOff, ErrDuplicateKey, strconv.Quote(key))
				e.addKey(key)
				return e
			}
			seen[key] = struct{}{}
		}
		p.skipSpace()
		if p.pos >= len(p.s) || p.s[p.pos] != ':' {
			e := p.unexpected("':'")
			e.addKey(key)
			return e
		}
		p.pos++
		p.skipSpace()
		if err := p.value(key, depth+1); err != nil {
			err.addKey(key)
			return err
		}
		n++
		p.skipSpace()
		if p.pos >= len(p.s) {
			return p.unexpected("',' or '}'")
		}
		switch p.s[p.pos] {
		case ',':
			p.pos++
			p.skipSpace()
		case '}':
			p.pos++
			p.nodes[idx].end = int32(len(p.nodes))
			p.nodes[idx].n = n
			return nil
		default:
			return p.unexpected("',' or '}'")
		}
	}
}

func (p *parser) array(idx int32, depth int) *Error {
	p.pos++ // '['
	p.skipSpace()
	var n int32
	if p.pos < len(p.s) && p.s[p.pos] == ']' {
		p.pos++
		p.nodes[idx].end = int32(len(p.nodes))
		return nil
	}
	for {
		if err := p.value("", depth+1); err != nil {
			err.addIndex(int(n))
			return err
		}
		n++
		p.skipSpace()
		if p.pos >= len(p.s) {
			return p.unexpected("',' or ']'")
		}
		switch p.s[p.pos] {
		case ',':
			p.pos++
			p.skipSpace()
		case ']':
			p.pos++
			p.nodes[idx].end = int32(len(p.nodes))
			p.nodes[idx].n = n
			return nil
		default:
			return p.unexpected("',' or ']'")
		}
	}
}

// number scans a number literal per RFC 8259 section 6.
func (p *parser) number() *Error {
	s, start := p.s, p.pos
	i := start
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		p.pos = i
		return p.unexpected("a digit")
	}
	if i < len(s) && s[i] == '.' {
		i++
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == d {
			p.pos = i
			return p.unexpected("a digit after '.'")
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == d {
			p.pos = i
			return p.unexpected("a digit in the exponent")
		}
	}
	if i-start > p.lim.MaxStringBytes {
		return p.errAt(start, ErrStringTooLong, "number literal of "+strconv.Itoa(i-start)+" bytes, limit "+strconv.Itoa(p.lim.MaxStringBytes))
	}
	p.pos = i
	return nil
}

// str scans the string at p.pos (on the opening quote) and returns its
// decoded text. Text without escapes is a substring of the document.
func (p *parser) str() (string, *Error) {
	s := p.s
	start := p.pos
	i := start + 1
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			if i-start-1 > p.lim.MaxStringBytes {
				return "", p.stringTooLong(start, i-start-1)
			}
			p.pos = i + 1
			return s[start+1 : i], nil
		case c == '\\':
			return p.strEscaped(start, i)
		case c < 0x20:
			return "", p.errAt(i, ErrSyntax, "control character "+quoteByteAt(s, i)+" in string")
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				return "", p.errAt(i, ErrInvalidUTF8, "byte 0x"+strconv.FormatUint(uint64(c), 16)+" in string")
			}
			i += size
		}
	}
	return "", p.errAt(start, ErrSyntax, "unterminated string")
}

func (p *parser) stringTooLong(start, n int) *Error {
	return p.errAt(start, ErrStringTooLong, strconv.Itoa(n)+" bytes, limit "+strconv.Itoa(p.lim.MaxStringBytes))
}

// strEscaped continues str from the first backslash at i, decoding into
// the parser's scratch buffer.
func (p *parser) strEscaped(start, i int) (string, *Error) {
	s := p.s
	if p.scratch == nil {
		p.scratch = make([]byte, 0, 256)
	}
	buf := append(p.scratch[:0], s[start+1:i]...)
	max := p.lim.MaxStringBytes
	for i < len(s) {
		if len(buf) > max {
			return "", p.stringTooLong(start, len(buf))
		}
		c := s[i]
		switch {
		case c == '"':
			p.pos = i + 1
			p.scratch = buf
			return string(buf), nil
		case c == '\\':
			if i+1 >= len(s) {
				return "", p.errAt(i, ErrSyntax, "unterminated escape")
			}
			switch e := s[i+1]; e {
			case '"', '\\', '/':
				buf = append(buf, e)
				i += 2
			case 'b':
				buf = append(buf, '\b')
				i += 2
			case 'f':
				buf = append(buf, '\f')
				i += 2
			case 'n':
				buf = append(buf, '\n')
				i += 2
			case 'r':
				buf = append(buf, '\r')
				i += 2
			case 't':
				buf = append(buf, '\t')
				i += 2
			case 'u':
				r, n, err := p.unicodeEscape(i)
				if err != nil {
					return "", err
				}
				buf = utf8.AppendRune(buf, r)
				i += n
			default:
				return "", p.errAt(i, ErrSyntax, "invalid escape "+quoteByteAt(s, i+1))
			}
		case c < 0x20:
			return "", p.errAt(i, ErrSyntax, "control character "+quoteByteAt(s, i)+" in string")
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				return "", p.errAt(i, ErrInvalidUTF8, "byte 0x"+strconv.FormatUint(uint64(c), 16)+" in string")
			}
			buf = append(buf, s[i:i+size]...)
			i += size
		}
	}
	return "", p.errAt(start, ErrSyntax, "unterminated string")
}

// unicodeEscape decodes \uXXXX at s[i] (and a following low surrogate
// escape when XXXX is a high surrogate). It returns the rune and how many
// bytes it consumed. Unpaired surrogates are invalid UTF-8 once decoded,
// so they are rejected.
func (p *parser) unicodeEscape(i int) (rune, int, *Error) {
	r, ok := hex4(p.s, i+2)
	if !ok {
		return 0, 0, p.errAt(i, ErrSyntax, `invalid \u escape`)
	}
	switch {
	case r >= 0xDC00 && r <= 0xDFFF:
		return 0, 0, p.errAt(i, ErrInvalidUTF8, `unpaired low surrogate \u`+p.s[i+2:i+6])
	case r >= 0xD800 && r <= 0xDBFF:
		if i+12 > len(p.s) || p.s[i+6] != '\\' || p.s[i+7] != 'u' {
			return 0, 0, p.errAt(i, ErrInvalidUTF8, `unpaired high surrogate \u`+p.s[i+2:i+6])
		}
		lo, ok := hex4(p.s, i+8)
		if !ok {
			return 0, 0, p.errAt(i+6, ErrSyntax, `invalid \u escape`)
		}
		if lo < 0xDC00 || lo > 0xDFFF {
			return 0, 0, p.errAt(i, ErrInvalidUTF8, `unpaired high surrogate \u`+p.s[i+2:i+6])
		}
		return 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00), 12, nil
	}
	return r, 6, nil
}

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}

// CheckStrings returns an error wrapping ErrStringTooLong for the first
// string, key or number literal in d longer than max bytes (decoded), and
// nil if there is none. It lets a caller parse with a generous string
// limit and apply a tighter one once it knows what the document is.
func (d *Document) CheckStrings(max int) error {
	if d == nil {
		return nil
	}
	for i := range d.nodes {
		n := &d.nodes[i]
		if len(n.key) > max || len(n.text) > max {
			return d.stringTooLong(0, int32(i), max).finish("")
		}
	}
	return nil
}

// stringTooLong builds the error for node target, found under the
// container at index c, recording the path on the way back up.
func (d *Document) stringTooLong(c, target int32, max int) *Error {
	nd := d.nodes
	if c == target {
		n := &nd[c]
		l, off := len(n.text), int(n.off)
		if len(n.key) > max {
			// The key precedes the value; its offset is not kept, so
			// point at the value and name the key's parent.
			l = len(n.key)
		}
		return &Error{Offset: off, Err: ErrStringTooLong, Detail: strconv.Itoa(l) + " bytes, limit " + strconv.Itoa(max)}
	}
	p := &nd[c]
	var idx int
	for k := c + 1; k < p.end; k = nd[k].end {
		if target >= k && target < nd[k].end {
			e := d.stringTooLong(k, target, max)
			if p.kind == Object {
				if k == target && len(nd[k].key) > max {
					return e // a long key belongs to its parent's path
				}
				e.addKey(nd[k].key)
			} else {
				e.addIndex(idx)
			}
			return e
		}
		idx++
	}
	return &Error{Offset: int(p.off), Err: ErrStringTooLong}
}
