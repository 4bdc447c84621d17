// Package clip shortens untrusted text before it goes into an error or an
// audit record, so that a hostile input cannot make either unbounded.
package clip

import "strconv"

// MaxQuoted is how many bytes of a value Quote keeps.
const MaxQuoted = 64

// Quote returns s as a Go-quoted string, cut to MaxQuoted bytes (then
// followed by "…").
func Quote(s string) string {
	if len(s) > MaxQuoted {
		return strconv.Quote(UTF8(s, MaxQuoted)) + "…"
	}
	return strconv.Quote(s)
}

// UTF8 returns at most the first n bytes of s, not splitting a rune.
func UTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
