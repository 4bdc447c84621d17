//go:build !race

package wizpayload

import "testing"

// TestParseAllocs guards the hot path's allocation count (the race
// detector changes it, hence the build tag). A reused Parser recycles its
// parse trees; the function Parse does not.
func TestParseAllocs(t *testing.T) {
	tests := []struct {
		file          string
		parser, plain float64
	}{
		// The body's text, Raw, the Finding, projects, the revision and
		// correlation id, and the tags map.
		{"default.json", 5, 7},
		{"tags-object.json", 7, 9},
		{"graphql.json", 7, 9},
		// Plus the decoded Message.
		{"sns.json", 7, 11},
		// Plus the decoded tags string.
		{"tags-string.json", 9, 13},
	}
	for _, tt := range tests {
		body := []byte(sample(t, tt.file))
		p := New()
		if n := testing.AllocsPerRun(100, func() { _, _ = p.Parse(body) }); n > tt.parser {
			t.Errorf("%s: Parser.Parse makes %v allocations, want at most %v", tt.file, n, tt.parser)
		}
		if n := testing.AllocsPerRun(100, func() { _, _ = Parse(body) }); n > tt.plain {
			t.Errorf("%s: Parse makes %v allocations, want at most %v", tt.file, n, tt.plain)
		}
	}
}
