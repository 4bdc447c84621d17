package remediate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ApprovalStore keeps approval requests (see ApprovalRequest) between
// the delivery that plans a change and the approval that lets it run.
// MemoryApprovals keeps them in one process (for tests); the DynamoDB
// store of adapters/dynamo shares them between workers and the CLI.
//
// Consume is the replay guard: it must be a conditional write, so that of
// two approval messages naming one request only one ever consumes it.
type ApprovalStore interface {
	// Put stores a new request. A request of the same id that is stored
	// with the same PlanHash is left as it is (a retried delivery);
	// another of that id is an error.
	Put(ctx context.Context, r *ApprovalRequest) error
	// Get returns the request of id, or an error wrapping
	// ErrApprovalNotFound.
	Get(ctx context.Context, id string) (*ApprovalRequest, error)
	// Consume marks the request of id consumed by c, once: it returns nil
	// if it was not consumed or was consumed with c.Token before (the
	// same delivery, retried), an error wrapping ErrApprovalConsumed if
	// another token consumed it, and one wrapping ErrApprovalNotFound if
	// there is no such request.
	Consume(ctx context.Context, id string, c ApprovalConsumption) error
}

var (
	// ErrApprovalNotFound: no approval request of that id is stored.
	ErrApprovalNotFound = errors.New("remediate: approval request not found")
	// ErrApprovalConsumed: the approval request was already used by
	// another approval message.
	ErrApprovalConsumed = errors.New("remediate: approval request already consumed")
)

// MemoryApprovals is an ApprovalStore in one process's memory. Requests
// are dropped once expired for a day.
type MemoryApprovals struct {
	mu sync.Mutex
	m  map[string]ApprovalRequest
	// Now is for tests. Nil means time.Now.
	Now func() time.Time
}

var _ ApprovalStore = (*MemoryApprovals)(nil)

// NewMemoryApprovals returns an empty store.
func NewMemoryApprovals() *MemoryApprovals {
	return &MemoryApprovals{m: map[string]ApprovalRequest{}}
}

// Put stores r.
func (s *MemoryApprovals) Put(_ context.Context, r *ApprovalRequest) error {
	if r == nil || r.ID == "" {
		return errors.New("remediate: MemoryApprovals.Put: a request with an id is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]ApprovalRequest{}
	}
	s.gc()
	if old, ok := s.m[r.ID]; ok {
		if old.PlanHash == r.PlanHash {
			return nil
		}
		return fmt.Errorf("remediate: approval request %s is stored with another plan hash (%s, not %s)", r.ID, old.PlanHash, r.PlanHash)
	}
	c := *r
	c.Consumed = nil
	s.m[r.ID] = c
	return nil
}

// Get returns the request of id.
func (s *MemoryApprovals) Get(_ context.Context, id string) (*ApprovalRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrApprovalNotFound, id)
	}
	if r.Consumed != nil {
		c := *r.Consumed
		r.Consumed = &c
	}
	return &r, nil
}

// Consume marks the request of id consumed by c, once.
func (s *MemoryApprovals) Consume(_ context.Context, id string, c ApprovalConsumption) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[id]
	switch {
	case !ok:
		return fmt.Errorf("%w: %q", ErrApprovalNotFound, id)
	case r.Consumed != nil && r.Consumed.Token == c.Token:
		return nil
	case r.Consumed != nil:
		return fmt.Errorf("%w: request %s was approved by %s at %s", ErrApprovalConsumed, id, r.Consumed.Approver, r.Consumed.Time.UTC().Format(time.RFC3339))
	}
	r.Consumed = &c
	s.m[id] = r
	return nil
}

// gc drops requests expired for more than a day. s.mu is held.
func (s *MemoryApprovals) gc() {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	cutoff := now().Add(-24 * time.Hour)
	for id, r := range s.m {
		if r.Expires.Before(cutoff) {
			delete(s.m, id)
		}
	}
}
