package wizpayload

import "testing"

// BenchmarkParse parses typical ~2 KB payloads: the automation template
// with custom tags (raw delivery and SNS-wrapped) and the GraphQL shape.
func BenchmarkParse(b *testing.B) {
	for _, name := range []string{"tags-object.json", "sns.json", "graphql.json"} {
		body := []byte(sample(b, name))
		p := New()
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := p.Parse(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
