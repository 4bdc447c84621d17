package strictjson

import (
	"math/bits"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Parse parses data, which must hold exactly one JSON object. The
// returned Document does not refer to data.
func Parse(data []byte, lim Limits) (*Document, error) {
	d := new(Document)
	if err := d.Parse(data, lim); err != nil {
		return nil, err
	}
	return d, nil
}

// ParseString is Parse for a document held in a string. The returned
// Document shares memory with s.
func ParseString(s string, lim Limits) (*Document, error) {
	d := new(Document)
	if err := d.ParseString(s, lim); err != nil {
		return nil, err
	}
	return d, nil
}

// Parse parses data into d, reusing d's storage; see the function Parse.
// Values from d's previous contents must no longer be used (strings they
// returned stay valid). On error d is left empty.
func (d *Document) Parse(data []byte, lim Limits) error {
	lim = lim.withDefaults()
	if len(data) > lim.MaxBytes {
		d.Reset()
		return tooLarge(len(data), lim.MaxBytes)
	}
	return d.parse(string(data), lim)
}

// ParseString parses s into d, reusing d's storage; see Document.Parse.
func (d *Document) ParseString(s string, lim Limits) error {
	lim = lim.withDefaults()
	if len(s) > lim.MaxBytes {
		d.Reset()
		return tooLarge(len(s), lim.MaxBytes)
	}
	return d.parse(s, lim)
}

// Reset empties d, keeping its node storage for reuse and dropping its
// reference to the document's text.
func (d *Document) Reset() {
	d.src, d.keys, d.nodes = "", "", d.nodes[:0]
}

// Cap reports how many values d can hold without growing, for callers
// that pool Documents and want to drop oversized ones.
func (d *Document) Cap() int { return cap(d.nodes) }

func tooLarge(n, max int) *Error {
	return &Error{Offset: max, Err: ErrTooLarge, Detail: strconv.Itoa(n) + " bytes, limit " + strconv.Itoa(max)}
}

func (d *Document) parse(s string, lim Limits) error {
	p := parser{s: s, lim: lim, nodes: d.nodes[:0]}
	d.Reset()
	// Typical payloads, indented or not, hold one value per 30 to 60
	// bytes; a close guess avoids regrowing the slice.
	if want := len(s)/32 + 8; cap(p.nodes) < want {
		p.nodes = make([]node, 0, want)
	}
	p.skipSpace()
	if p.pos >= len(s) || s[p.pos] != '{' {
		detail := "document is empty"
		if p.pos < len(s) {
			detail = "starts with " + quoteByteAt(s, p.pos)
		}
		return (&Error{Offset: p.pos, Err: ErrNotObject, Detail: detail}).finish("")
	}
	err := p.value(keyRef{}, 1)
	if err == nil {
		p.skipSpace()
		if p.pos != len(s) {
			err = &Error{Offset: p.pos, Err: ErrTrailingData, Detail: "found " + quoteByteAt(s, p.pos)}
		}
	}
	if err != nil {
		d.nodes = p.nodes[:0]
		return err.finish("")
	}
	d.src, d.nodes = s, p.nodes
	if len(p.keyBuf) > 0 {
		d.keys = string(p.keyBuf)
	}
	return nil
}

type parser struct {
	s      string
	pos    int
	lim    Limits
	nodes  []node
	keyBuf []byte // decoded member names that had escapes
}

// keyRef locates a member name, as node.keyOff/keyLen/flags do.
type keyRef struct {
	off, len int32
	escaped  bool
}

// keyString returns the member name k refers to. It allocates only for
// an escaped name.
func (p *parser) keyString(k keyRef) string {
	if k.escaped {
		return string(p.keyBuf[k.off : k.off+k.len])
	}
	return p.s[k.off : k.off+k.len]
}

// sameKey reports whether node c's member name equals k.
func (p *parser) sameKey(c *node, k keyRef, ks string) bool {
	if c.keyLen != k.len {
		return false
	}
	if c.flags&flagKeyEscaped != 0 {
		return string(p.keyBuf[c.keyOff:c.keyOff+c.keyLen]) == ks
	}
	return p.s[c.keyOff:c.keyOff+c.keyLen] == ks
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

func (p *parser) push(k keyRef, kind Kind, off, length int, flags uint8) int32 {
	idx := int32(len(p.nodes))
	if k.escaped {
		flags |= flagKeyEscaped
	}
	p.nodes = append(p.nodes, node{
		keyOff: k.off, keyLen: k.len,
		off: int32(off), len: int32(length), end: idx + 1,
		kind: kind, flags: flags,
	})
	return idx
}

// value parses the value at p.pos (whitespace already skipped) and
// appends its node(s). k is its member name; depth is the depth a
// container here would have.
func (p *parser) value(k keyRef, depth int) *Error {
	if p.pos >= len(p.s) {
		return p.unexpected("a value")
	}
	start := p.pos
	switch c := p.s[p.pos]; {
	case c == '"':
		end, escaped, err := p.str()
		if err != nil {
			return err
		}
		var flags uint8
		if escaped {
			flags = flagEscaped
		}
		p.push(k, String, start, end-start-1, flags)
	case c == '{' || c == '[':
		if depth > p.lim.MaxDepth {
			return p.errAt(start, ErrTooDeep, "limit "+strconv.Itoa(p.lim.MaxDepth))
		}
		if c == '{' {
			return p.object(p.push(k, Object, start, 0, 0), depth)
		}
		return p.array(p.push(k, Array, start, 0, 0), depth)
	case c == '-' || c >= '0' && c <= '9':
		if err := p.number(); err != nil {
			return err
		}
		p.push(k, Number, start, p.pos-start, 0)
	case c == 't':
		return p.literal(k, "true", Bool)
	case c == 'f':
		return p.literal(k, "false", Bool)
	case c == 'n':
		return p.literal(k, "null", Null)
	default:
		return p.unexpected("a value")
	}
	return nil
}

func (p *parser) literal(k keyRef, lit string, kind Kind) *Error {
	if !strings.HasPrefix(p.s[p.pos:], lit) {
		return p.unexpected("a value")
	}
	p.push(k, kind, p.pos, len(lit), 0)
	p.pos += len(lit)
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
		k, err := p.key()
		if err != nil {
			return err
		}
		ks := p.keyString(k)
		dup := false
		if n < smallObject {
			nd := p.nodes
			for c := idx + 1; c < int32(len(nd)); c = nd[c].end {
				if p.sameKey(&nd[c], k, ks) {
					dup = true
					break
				}
			}
		} else {
			if seen == nil {
				seen = make(map[string]struct{}, 2*smallObject)
				nd := p.nodes
				for c := idx + 1; c < int32(len(nd)); c = nd[c].end {
					seen[p.keyString(keyRef{nd[c].keyOff, nd[c].keyLen, nd[c].flags&flagKeyEscaped != 0})] = struct{}{}
				}
			}
			_, dup = seen[ks]
			seen[ks] = struct{}{}
		}
		if dup {
			e := p.errAt(keyOff, ErrDuplicateKey, strconv.Quote(ks))
			e.addKey(ks)
			return e
		}
		p.skipSpace()
		if p.pos >= len(p.s) || p.s[p.pos] != ':' {
			e := p.unexpected("':'")
			e.addKey(ks)
			return e
		}
		p.pos++
		p.skipSpace()
		if err := p.value(k, depth+1); err != nil {
			err.addKey(ks)
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
			p.nodes[idx].len = n
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
		if err := p.value(keyRef{}, depth+1); err != nil {
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
			p.nodes[idx].len = n
			return nil
		default:
			return p.unexpected("',' or ']'")
		}
	}
}

// key scans a member name at p.pos. A name with escapes is decoded into
// keyBuf, so that names compare by their decoded text.
func (p *parser) key() (keyRef, *Error) {
	start := p.pos
	end, escaped, err := p.str()
	if err != nil {
		return keyRef{}, err
	}
	if !escaped {
		return keyRef{off: int32(start + 1), len: int32(end - start - 1)}, nil
	}
	off := len(p.keyBuf)
	p.keyBuf = unescape(p.keyBuf, p.s[start+1:end])
	return keyRef{off: int32(off), len: int32(len(p.keyBuf) - off), escaped: true}, nil
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

// SWAR constants: a byte repeated across a uint64.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// str validates the string whose opening quote is at p.pos and moves
// past its closing quote. It returns the offset of the closing quote and
// whether the string has escapes.
func (p *parser) str() (end int, escaped bool, err *Error) {
	s := p.s
	start := p.pos
	i := start + 1
	shrink := 0 // bytes saved by decoding escapes
	for {
		// Skip 8 bytes at a time while none is '"', '\\', a control
		// character or non-ASCII. The mask's lowest set bit marks the
		// first such byte (false positives occur only above it).
		for i+8 <= len(s) {
			c := s[i : i+8]
			w := uint64(c[0]) | uint64(c[1])<<8 | uint64(c[2])<<16 | uint64(c[3])<<24 |
				uint64(c[4])<<32 | uint64(c[5])<<40 | uint64(c[6])<<48 | uint64(c[7])<<56
			q := w ^ (ones * '"')
			b := w ^ (ones * '\\')
			if m := ((q-ones)&^q | (b-ones)&^b | (w-ones*0x20)&^w | w) & highs; m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(s) {
			return 0, false, p.errAt(start, ErrSyntax, "unterminated string")
		}
		switch c := s[i]; {
		case c == '"':
			if n := i - start - 1 - shrink; n > p.lim.MaxStringBytes {
				return 0, false, p.errAt(start, ErrStringTooLong, strconv.Itoa(n)+" bytes, limit "+strconv.Itoa(p.lim.MaxStringBytes))
			}
			p.pos = i + 1
			return i, escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(s) {
				return 0, false, p.errAt(start, ErrSyntax, "unterminated string")
			}
			switch e := s[i+1]; e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
				shrink++
			case 'u':
				r, n, err := p.unicodeEscape(i)
				if err != nil {
					return 0, false, err
				}
				i += n
				shrink += n - utf8.RuneLen(r)
			default:
				return 0, false, p.errAt(i, ErrSyntax, "invalid escape "+quoteByteAt(s, i+1))
			}
		case c < 0x20:
			return 0, false, p.errAt(i, ErrSyntax, "control character "+quoteByteAt(s, i)+" in string")
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				return 0, false, p.errAt(i, ErrInvalidUTF8, "byte 0x"+strconv.FormatUint(uint64(c), 16)+" in string")
			}
			i += size
		}
	}
}

// unicodeEscape checks \uXXXX at s[i] (and a following low surrogate
// escape when XXXX is a high surrogate). It returns the rune and how many
// bytes it spans. Unpaired surrogates cannot be encoded as UTF-8, so they
// are rejected as invalid UTF-8.
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
