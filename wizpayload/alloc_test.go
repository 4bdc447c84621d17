//go:build !race

package wizpayload

import "testing"

// TestParseAllocs guards the hot path's allocation count (the race
// detector changes it, hence the build tag).
func TestParseAllocs(t *testing.T) {
	tests := []struct {
		file string
		max  float64
	}{
		{"tags-object.json", 9},
		{"default.json", 8},
		{"sns.json", 11},
		{"graphql.json", 9},
	}
	for _, tt := range tests {
		body := []byte(sample(t, tt.file))
		p := New()
		if n := testing.AllocsPerRun(50, func() { _, _ = p.Parse(body) }); n > tt.max {
			t.Errorf("%s: Parser.Parse makes %v allocations, want at most %v", tt.file, n, tt.max)
		}
		if n := testing.AllocsPerRun(50, func() { _, _ = Parse(body) }); n > tt.max {
			t.Errorf("%s: Parse makes %v allocations, want at most %v", tt.file, n, tt.max)
		}
	}
}
