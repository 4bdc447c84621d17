// Package ascii folds case the way identifiers and enumerations in
// security payloads must be folded: ASCII letters only. Unicode case
// mapping turns look-alikes into real values ("hıgh" with a dotless i
// upper-cases to "HIGH", "productİon" lower-cases to "production"), and a
// payload that decides whether to change a customer's account must not
// get that benefit of the doubt.
package ascii

// EqualFold reports whether a and b are equal under ASCII case folding.
// Any non-ASCII byte must match exactly.
func EqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Lower returns s with ASCII letters lower-cased; other bytes are kept,
// so a non-ASCII look-alike never lower-cases into an ASCII word.
func Lower(s string) string {
	for i := range len(s) {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// Visible reports whether s has at least one letter or digit and no
// control or format character (such as a zero-width space or a bidi
// override). An owner or environment that is not visible is missing.
func Visible(s string) bool {
	seen := false
	for _, r := range s {
		switch {
		case r < 0x20, r == 0x7f, 0x80 <= r && r < 0xa0:
			return false
		case r == 0xad, r == 0x061c, r == 0x180e, 0x200b <= r && r <= 0x200f,
			0x202a <= r && r <= 0x202e, 0x2060 <= r && r <= 0x206f, r == 0xfeff,
			0xfff9 <= r && r <= 0xfffb, r == 0xfffd:
			return false
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r >= 0xc0:
			seen = true
		}
	}
	return seen
}
