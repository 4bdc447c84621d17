package remediate

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/remedy-sec/remedy/audit"
)

// MemoryIdempotencyOptions configure a MemoryIdempotency.
type MemoryIdempotencyOptions struct {
	// ClaimTTL is how long a claim lasts before another worker may take
	// it over (a crashed worker's claim expires). Default 5 minutes.
	ClaimTTL time.Duration
	// DoneTTL is how long a completed key is remembered. Default 24 hours,
	// longer than SQS's retention of a redelivered message.
	DoneTTL time.Duration
	// MaxEntries bounds memory. When full, expired entries are dropped
	// first, then the completed entries closest to expiry. Default 100,000.
	MaxEntries int
	// Now is for tests. Nil means time.Now.
	Now func() time.Time
}

// MemoryIdempotency is an in-process IdempotencyStore. It protects one
// process only; use a shared store (such as the DynamoDB one in package
// adapters) when several workers read one queue.
type MemoryIdempotency struct {
	o       MemoryIdempotencyOptions
	mu      sync.Mutex
	entries map[string]idemEntry
}

type idemEntry struct {
	done    bool
	expires time.Time
	kept    *audit.Record // see RecordKeeper
	// keptUntil is when a kept record is dropped if no retry came: as
	// long as a done marker lasts.
	keptUntil time.Time
}

var (
	_ IdempotencyStore = (*MemoryIdempotency)(nil)
	_ RecordKeeper     = (*MemoryIdempotency)(nil)
)

// NewMemoryIdempotency returns an empty store.
func NewMemoryIdempotency(optFns ...func(*MemoryIdempotencyOptions)) *MemoryIdempotency {
	o := MemoryIdempotencyOptions{ClaimTTL: 5 * time.Minute, DoneTTL: 24 * time.Hour, MaxEntries: 100_000}
	for _, fn := range optFns {
		fn(&o)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = 100_000
	}
	if o.ClaimTTL <= 0 {
		o.ClaimTTL = 5 * time.Minute
	}
	if o.DoneTTL <= 0 {
		o.DoneTTL = 24 * time.Hour
	}
	return &MemoryIdempotency{o: o, entries: make(map[string]idemEntry)}
}

// Begin claims key.
func (s *MemoryIdempotency) Begin(_ context.Context, key string) error {
	now := s.o.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[key]; ok && now.Before(e.expires) {
		if e.done {
			return ErrAlreadyDone
		}
		return &InProgressError{Until: e.expires}
	}
	if len(s.entries) >= s.o.MaxEntries {
		s.evict(now)
	}
	old := s.entries[key]
	s.entries[key] = idemEntry{expires: now.Add(s.o.ClaimTTL), kept: old.kept, keptUntil: old.keptUntil}
	return nil
}

// Complete marks key done.
func (s *MemoryIdempotency) Complete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.entries[key]; !ok {
		return fmt.Errorf("remediate: idempotency: complete of unclaimed key %q", key)
	}
	s.entries[key] = idemEntry{done: true, expires: s.o.Now().Add(s.o.DoneTTL)}
	return nil
}

// Release drops a claim so that a retry can take it.
func (s *MemoryIdempotency) Release(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	switch {
	case !ok || e.done:
	case e.kept != nil:
		// Keep the record for the retry; only the claim ends.
		e.expires = s.o.Now()
		s.entries[key] = e
	default:
		delete(s.entries, key)
	}
	return nil
}

// Keep stores r for the retry of key.
func (s *MemoryIdempotency) Keep(_ context.Context, key string, r *audit.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	if !ok || e.done {
		return fmt.Errorf("remediate: idempotency: keep for unclaimed key %q", key)
	}
	e.kept, e.keptUntil = r, s.o.Now().Add(s.o.DoneTTL)
	s.entries[key] = e
	return nil
}

// Kept returns the record kept for key, or nil.
func (s *MemoryIdempotency) Kept(_ context.Context, key string) (*audit.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.entries[key].kept, nil
}

// Len reports how many keys are remembered.
func (s *MemoryIdempotency) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

// evict frees at least a tenth of the store: expired entries first (an
// expired claim's kept record once DoneTTL has passed without a retry),
// then the completed ones that expire soonest. Claims in progress are
// kept.
func (s *MemoryIdempotency) evict(now time.Time) {
	for k, e := range s.entries {
		if !now.Before(e.expires) && (e.kept == nil || !now.Before(e.keptUntil)) {
			delete(s.entries, k)
		}
	}
	target := s.o.MaxEntries - s.o.MaxEntries/10
	if len(s.entries) < target {
		return
	}
	cutoff := now.Add(s.o.DoneTTL / 10)
	for len(s.entries) >= target {
		before := len(s.entries)
		for k, e := range s.entries {
			if e.done && e.expires.Before(cutoff) {
				delete(s.entries, k)
			}
		}
		if len(s.entries) == before {
			if cutoff.After(now.Add(s.o.DoneTTL)) {
				return // only claims left: keep them
			}
		}
		cutoff = cutoff.Add(s.o.DoneTTL / 10)
	}
}
