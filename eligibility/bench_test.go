package eligibility

import (
	"context"
	"testing"
)

// BenchmarkDecide measures one decision on an enriched finding. The
// target for the default policy is 300,000 decisions/s on one core:
//
//	go test -run='^$' -bench=Decide -benchmem -cpu=1 ./eligibility
func BenchmarkDecide(b *testing.B) {
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		p    *Policy
	}{
		{"default", Default()},
		{"example", examplePolicy(b)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := eligible()
			if err := bc.p.Enrich(ctx, f); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.p.Decide(ctx, f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEnrich(b *testing.B) {
	ctx := context.Background()
	p := examplePolicy(b)
	f := eligible()
	b.ReportAllocs()
	for b.Loop() {
		f.Concerns = f.Concerns[:0]
		if err := p.Enrich(ctx, f); err != nil {
			b.Fatal(err)
		}
	}
}
