package audit_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/audit/audittest"
)

func TestJSONLinesConformance(t *testing.T) {
	bufs := map[audit.Sink]*bytes.Buffer{}
	audittest.Run(t, audittest.Harness{
		New: func(t *testing.T) audit.Sink {
			b := &bytes.Buffer{}
			s := audit.NewJSONLines(b)
			bufs[s] = b
			return s
		},
		Read: func(t *testing.T, s audit.Sink) []audit.Record {
			recs, err := audit.ReadJSONLines(bytes.NewReader(bufs[s].Bytes()))
			if err != nil {
				t.Fatalf("ReadJSONLines: %v", err)
			}
			return recs
		},
	})
}

func TestJSONLinesOneLinePerRecord(t *testing.T) {
	var b bytes.Buffer
	s := audit.NewJSONLines(&b)
	for _, id := range []string{"a", "b", "c"} {
		if err := s.Write(context.Background(), audittest.Record(id)); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3", len(lines))
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, `{"schema":"remedy.audit/v1"`) {
			t.Errorf("line %d does not start with the schema version: %.60s", i+1, l)
		}
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestMultiJoinsErrors(t *testing.T) {
	var got []string
	ok := audit.SinkFunc(func(_ context.Context, r *audit.Record) error { got = append(got, r.ID); return nil })
	bad := audit.NewJSONLines(failWriter{})
	bad2 := audit.SinkFunc(func(context.Context, *audit.Record) error { return errors.New("table gone") })
	err := audit.Multi(bad, nil, ok, bad2).Write(context.Background(), audittest.Record("m1"))
	if err == nil {
		t.Fatal("Multi.Write returned nil with two failing sinks")
	}
	for _, want := range []string{"disk full", "table gone"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if len(got) != 1 || got[0] != "m1" {
		t.Errorf("healthy sink got %v, want [m1]: one failing sink must not stop the others", got)
	}
}

// syncCounter is a writer with a Sync method, as *os.File has.
type syncCounter struct {
	bytes.Buffer
	syncs int
}

func (s *syncCounter) Sync() error { s.syncs++; return nil }

func TestJSONLinesSyncEach(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts []func(*audit.JSONLinesOptions)
		want int
	}{
		{"default", nil, 0},
		{"SyncEach", []func(*audit.JSONLinesOptions){func(o *audit.JSONLinesOptions) { o.SyncEach = true }}, 2},
	} {
		w := &syncCounter{}
		s := audit.NewJSONLines(w, tt.opts...)
		for _, id := range []string{"r1", "r2"} {
			if err := s.Write(context.Background(), &audit.Record{ID: id}); err != nil {
				t.Fatal(err)
			}
		}
		if w.syncs != tt.want {
			t.Errorf("%s: %d syncs for 2 records, want %d", tt.name, w.syncs, tt.want)
		}
	}
}
