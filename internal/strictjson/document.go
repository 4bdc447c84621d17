package strictjson

import (
	"iter"
	"strconv"
	"unicode/utf8"
)

// node is one value. Nodes are stored in document order, so the children
// of a container follow it, each subtree contiguous. A node holds no
// pointers: text is located by offsets into Document.src (or, for keys
// with escapes, Document.keys), which keeps the slice cheap to allocate
// and invisible to the garbage collector's scan.
type node struct {
	keyOff int32 // member name: offset in src, or in keys when keyEscaped
	keyLen int32
	off    int32 // offset of the value in src (a string's opening quote)
	len    int32 // string: raw bytes between the quotes; number, bool, null: literal length; object, array: number of children
	end    int32 // index one past the node's last descendant
	kind   Kind
	flags  uint8
}

const (
	flagEscaped    = 1 << iota // the string value has escapes
	flagKeyEscaped             // the member name has escapes; it is decoded in keys
)

// Document is a parsed JSON document. It is immutable and safe for
// concurrent use.
type Document struct {
	src   string
	keys  string // decoded member names that had escapes
	nodes []node
}

// Root returns the top-level object.
func (d *Document) Root() Value {
	if d == nil || len(d.nodes) == 0 {
		return Value{}
	}
	return Value{d: d, i: 0}
}

func (d *Document) key(n *node) string {
	if n.flags&flagKeyEscaped != 0 {
		return d.keys[n.keyOff : n.keyOff+n.keyLen]
	}
	return d.src[n.keyOff : n.keyOff+n.keyLen]
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
//
// A string without escapes shares memory with the document. A string
// with escapes is decoded on each call, so callers read it once.
func (v Value) Text() string {
	if v.d == nil {
		return ""
	}
	n := v.node()
	switch n.kind {
	case String:
		raw := v.d.src[n.off+1 : n.off+1+n.len]
		if n.flags&flagEscaped == 0 {
			return raw
		}
		return string(unescape(make([]byte, 0, len(raw)), raw))
	case Number, Bool, Null:
		return v.d.src[n.off : n.off+n.len]
	}
	return ""
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
	if n := v.node(); n.kind == Object || n.kind == Array {
		return int(n.len)
	}
	return 0
}

// Get returns the member of an object named key (compared exactly). It
// returns the zero Value and false when v is not an object or has no such
// member.
func (v Value) Get(key string) (Value, bool) {
	for k, c := range v.Members() {
		if k == key {
			return c, true
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
		d := v.d
		nd := d.nodes
		if nd[v.i].kind != Object {
			return
		}
		for c, end := v.i+1, nd[v.i].end; c < end; c = nd[c].end {
			if !yield(d.key(&nd[c]), Value{d: d, i: c}) {
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
		if nd[v.i].kind != Array {
			return
		}
		for c, end := v.i+1, nd[v.i].end; c < end; c = nd[c].end {
			if !yield(Value{d: v.d, i: c}) {
				return
			}
		}
	}
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
		// Decoding never lengthens text: only a long raw text can be
		// too long.
		if int(n.keyLen) > max || int(n.len) > max && d.textLen(n) > max {
			return d.stringTooLong(0, int32(i), max).finish("")
		}
	}
	return nil
}

// textLen is the decoded length of a scalar's text.
func (d *Document) textLen(n *node) int {
	if n.kind == String && n.flags&flagEscaped != 0 {
		return decodedLen(d.src[n.off+1 : n.off+1+n.len])
	}
	return int(n.len)
}

// stringTooLong builds the error for node target, found under the
// container at index c, recording the path on the way back up.
func (d *Document) stringTooLong(c, target int32, max int) *Error {
	nd := d.nodes
	if c == target {
		n := &nd[c]
		l, off := d.textLen(n), int(n.off)
		if int(n.keyLen) > max {
			l = int(n.keyLen)
			if n.flags&flagKeyEscaped == 0 {
				off = int(n.keyOff) - 1 // the key's opening quote
			}
		}
		return &Error{Offset: off, Err: ErrStringTooLong, Detail: strconv.Itoa(l) + " bytes, limit " + strconv.Itoa(max)}
	}
	p := &nd[c]
	idx := 0
	for k := c + 1; k < p.end; k = nd[k].end {
		if target >= k && target < nd[k].end {
			e := d.stringTooLong(k, target, max)
			switch {
			case p.kind == Array:
				e.addIndex(idx)
			case k == target && int(nd[k].keyLen) > max:
				// A key that is too long is reported at its object.
			default:
				e.addKey(d.key(&nd[k]))
			}
			return e
		}
		idx++
	}
	return &Error{Offset: int(p.off), Err: ErrStringTooLong}
}

// unescape appends the decoded form of raw, the content of a string the
// parser has already validated, to dst.
func unescape(dst []byte, raw string) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			j := i + 1
			for j < len(raw) && raw[j] != '\\' {
				j++
			}
			dst = append(dst, raw[i:j]...)
			i = j
			continue
		}
		switch e := raw[i+1]; e {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, _ := hex4(raw, i+2)
			if r >= 0xD800 && r <= 0xDBFF {
				lo, _ := hex4(raw, i+8)
				r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
				i += 6
			}
			dst = utf8.AppendRune(dst, r)
			i += 6
			continue
		default: // '"', '\\', '/'
			dst = append(dst, e)
		}
		i += 2
	}
	return dst
}

// decodedLen is len(unescape(nil, raw)) without building it.
func decodedLen(raw string) int {
	n := 0
	for i := 0; i < len(raw); {
		if raw[i] != '\\' {
			n++
			i++
			continue
		}
		if raw[i+1] != 'u' {
			n++
			i += 2
			continue
		}
		r, _ := hex4(raw, i+2)
		if r >= 0xD800 && r <= 0xDBFF {
			n += 4
			i += 12
			continue
		}
		n += utf8.RuneLen(r)
		i += 6
	}
	return n
}
