package eligibility

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: no policy file, however broken, panics the loader, and a
// policy that loads can decide.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(defaultPolicy))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, "fuzz.yaml")
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("error %T is not a *LoadError: %v", err, err)
			}
			return
		}
		fd := eligible()
		if err := p.Enrich(context.Background(), fd); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Decide(context.Background(), fd); err != nil {
			t.Fatal(err)
		}
	})
}
