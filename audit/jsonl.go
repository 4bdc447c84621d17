package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// JSONLines is a Sink that writes each record as one line of JSON. On
// AWS Lambda, a JSONLines sink on os.Stdout is what lands in CloudWatch
// Logs. It is safe for concurrent use; lines are never interleaved.
type JSONLines struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
	// sync is w's Sync method when it has one and syncing was asked for.
	sync func() error
}

var _ Sink = (*JSONLines)(nil)

// JSONLinesOptions configure a JSONLines sink.
type JSONLinesOptions struct {
	// SyncEach syncs each record to stable storage before Write returns,
	// when the writer has a Sync method (an *os.File).
	SyncEach bool
}

// NewJSONLines returns a sink writing one JSON record per line to w.
func NewJSONLines(w io.Writer, optFns ...func(*JSONLinesOptions)) *JSONLines {
	var o JSONLinesOptions
	for _, fn := range optFns {
		fn(&o)
	}
	s := &JSONLines{w: w}
	if f, ok := w.(interface{ Sync() error }); ok && o.SyncEach {
		s.sync = f.Sync
	}
	return s
}

// Write encodes r and writes it with a trailing newline.
func (s *JSONLines) Write(ctx context.Context, r *Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("audit: jsonl: %w", err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("audit: jsonl: encode record %s: %w", r.ID, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(append(s.buf[:0], b...), '\n')
	if _, err := s.w.Write(s.buf); err != nil {
		return fmt.Errorf("audit: jsonl: write record %s: %w", r.ID, err)
	}
	if s.sync != nil {
		if err := s.sync(); err != nil {
			return fmt.Errorf("audit: jsonl: sync record %s: %w", r.ID, err)
		}
	}
	return nil
}

// ReadJSONLines decodes every record from r, as written by JSONLines.
func ReadJSONLines(r io.Reader) ([]Record, error) {
	dec := json.NewDecoder(r)
	var out []Record
	for {
		var rec Record
		err := dec.Decode(&rec)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("audit: read record %d: %w", len(out)+1, err)
		}
		out = append(out, rec)
	}
}
