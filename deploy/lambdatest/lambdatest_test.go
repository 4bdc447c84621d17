package lambdatest_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/deploy/lambdatest"
)

// TestEcho runs a real Lambda binary under the emulator: the first
// invocation reports an init duration, the second does not, and the
// handler sees its event and environment.
func TestEcho(t *testing.T) {
	fn := lambdatest.Start(t, lambdatest.Build(t, "./testdata/echo"), []string{"GREETING=hello"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i, wantCold := range []bool{true, false} {
		inv, err := fn.Invoke(ctx, []byte(`{"n":1}`))
		if err != nil {
			t.Fatalf("invoke %d: %v", i, err)
		}
		var got map[string]any
		if err := json.Unmarshal(inv.Response, &got); err != nil {
			t.Fatalf("invoke %d: response %q: %v", i, inv.Response, err)
		}
		want := map[string]any{"event": map[string]any{"n": 1.0}, "greeting": "hello"}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("invoke %d: response (-want +got):\n%s", i, d)
		}
		if cold := inv.Init > 0; cold != wantCold {
			t.Errorf("invoke %d: init duration %v, want cold start %v", i, inv.Init, wantCold)
		}
		if inv.Duration <= 0 || inv.Wall < inv.Duration {
			t.Errorf("invoke %d: duration %v, wall %v", i, inv.Duration, inv.Wall)
		}
	}
}
