package clip

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"topic", `"topic"`},
		{strings.Repeat("a", 64), `"` + strings.Repeat("a", 64) + `"`},
		{strings.Repeat("a", 65), `"` + strings.Repeat("a", 64) + `"…`},
		{strings.Repeat("a", 63) + "é", `"` + strings.Repeat("a", 63) + `"…`}, // é does not fit whole
	}
	for _, tt := range tests {
		if got := Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%d bytes) = %s, want %s", len(tt.in), got, tt.want)
		}
	}
	if got := UTF8(strings.Repeat("é", 100), 7); !utf8.ValidString(got) || len(got) != 6 {
		t.Errorf("UTF8 cut = %q, want 3 whole runes", got)
	}
}
