package snsreview

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/remedy-sec/remedy/audit"
)

// rejected is the outcome of a record whose message was not accepted.
const rejected = "rejected"

// Rejections counts, in a review notification, the rejected records of
// one reason that the notification stands for.
type Rejections struct {
	// Check is the check that rejected them, such as "payload" or
	// "authenticity".
	Check string `json:"check"`
	// Reason is what the records were grouped by: their rejection reason
	// with its values left out (quoted values as "…", digits as #),
	// escaped (see Escape) and cut to a prefix, so that the text of a
	// payload can neither split one reason into many groups nor add lines
	// to the notification.
	Reason string `json:"reason"`
	// Count is how many rejections of this reason the notification
	// reports: those since the reason's last notification.
	Count int `json:"count"`
	// First and Last are when the first and the last of them were
	// received.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// RecordIDs are the audit record ids of the first of them (at most
	// Options.RejectedIDs); the audit trail holds every one.
	RecordIDs []string `json:"record_ids"`
}

// groupKey identifies a reason of rejection.
type groupKey struct{ check, reason string }

// group is what a sink counts of one reason of rejection.
type group struct {
	pending Rejections    // not yet published; Count 0 when none
	latest  *audit.Record // the latest pending record, shown in the notification
	sent    time.Time     // when the last notification of the reason was published
	sending bool          // a notification is being published
}

// maxReasonBytes is the length of the reason prefix records are grouped by.
const maxReasonBytes = 96

var (
	quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"?…?`)
	digits = regexp.MustCompile(`[0-9]+`)
	spaces = regexp.MustCompile(`\s+`)
)

// reasonOf returns the reason r is grouped by: the check of its first
// reason, and that reason's message (or the failure reason) with values
// left out, escaped and cut.
func reasonOf(r *audit.Record) groupKey {
	check, msg := "", r.FailureReason
	if len(r.Reasons) > 0 {
		check, msg = r.Reasons[0].Check, cmp.Or(r.Reasons[0].Message, msg)
	}
	msg = quoted.ReplaceAllString(msg, `"…"`)
	msg = digits.ReplaceAllString(msg, "#")
	msg = strings.TrimSpace(spaces.ReplaceAllString(msg, " "))
	return groupKey{
		check:  cmp.Or(truncate(Escape(check), 64), "unknown"),
		reason: cmp.Or(truncate(Escape(msg), maxReasonBytes), "no reason given"),
	}
}

// writeRejected publishes a notification for r's reason if none was
// published in the last Options.RejectedInterval, with the rejections of
// that reason counted since; otherwise it counts r for the next one.
func (s *Sink) writeRejected(ctx context.Context, r *audit.Record) error {
	now := s.o.Now()
	key := reasonOf(r)
	s.mu.Lock()
	s.sweep(now)
	g, ok := s.groups[key]
	if !ok && len(s.groups) >= s.o.MaxRejectedReasons {
		key.reason = "(other reasons)"
		g, ok = s.groups[key]
	}
	if !ok {
		g = &group{}
		s.groups[key] = g
	}
	g.add(key, r, now, s.o.RejectedIDs)
	if g.sending || (!g.sent.IsZero() && now.Sub(g.sent) < s.o.RejectedInterval) {
		s.mu.Unlock()
		s.flushDue(ctx)
		return nil
	}
	batch, latest := g.take()
	s.mu.Unlock()

	err := s.publishRejections(ctx, batch, latest)

	s.mu.Lock()
	g.sending = false
	if err != nil {
		// r comes again when its message is retried; the others were
		// accepted and stay counted for the next notification.
		batch.Count--
		batch.RecordIDs = slices.DeleteFunc(batch.RecordIDs, func(id string) bool { return id == r.ID })
		if batch.Count > 0 {
			g.putBack(batch, latest, s.o.RejectedIDs)
		}
	} else {
		g.sent = now
	}
	s.mu.Unlock()
	if err == nil {
		s.flushDue(ctx)
	}
	return err
}

// Flush publishes a notification for every reason with rejections not
// yet reported, whatever the interval. Call it before the process ends
// (a worker draining, a test) so that no count is left unreported; the
// counts of a notification that failed stay for the next Flush or Write.
func (s *Sink) Flush(ctx context.Context) error {
	return s.flush(ctx, func(*group, time.Time) bool { return true })
}

// flushDue publishes the counted rejections of every reason whose
// interval has passed. Its failures leave the counts for a later call.
func (s *Sink) flushDue(ctx context.Context) {
	_ = s.flush(ctx, func(g *group, now time.Time) bool { return now.Sub(g.sent) >= s.o.RejectedInterval })
}

func (s *Sink) flush(ctx context.Context, due func(*group, time.Time) bool) error {
	now := s.o.Now()
	type job struct {
		g      *group
		batch  Rejections
		latest *audit.Record
	}
	var jobs []job
	s.mu.Lock()
	for _, g := range s.groups {
		if g.pending.Count > 0 && !g.sending && due(g, now) {
			batch, latest := g.take()
			jobs = append(jobs, job{g, batch, latest})
		}
	}
	s.mu.Unlock()
	var errs []error
	for _, j := range jobs {
		err := s.publishRejections(ctx, j.batch, j.latest)
		s.mu.Lock()
		j.g.sending = false
		if err != nil {
			j.g.putBack(j.batch, j.latest, s.o.RejectedIDs)
			errs = append(errs, err)
		} else {
			j.g.sent = now
		}
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

// sweep forgets reasons with nothing pending whose interval has passed:
// their next rejection is published at once anyway. s.mu is held.
func (s *Sink) sweep(now time.Time) {
	for k, g := range s.groups {
		if g.pending.Count == 0 && !g.sending && now.Sub(g.sent) >= s.o.RejectedInterval {
			delete(s.groups, k)
		}
	}
}

// add counts r.
func (g *group) add(key groupKey, r *audit.Record, now time.Time, maxIDs int) {
	p := &g.pending
	if p.Count == 0 {
		*p = Rejections{Check: key.check, Reason: key.reason, First: now}
	}
	p.Count++
	p.Last = now
	if len(p.RecordIDs) < maxIDs {
		p.RecordIDs = append(p.RecordIDs, r.ID)
	}
	g.latest = r
}

// take returns what is pending and marks the group as being published.
func (g *group) take() (Rejections, *audit.Record) {
	batch, latest := g.pending, g.latest
	g.pending, g.latest, g.sending = Rejections{}, nil, true
	return batch, latest
}

// putBack counts again a batch whose notification failed, before what
// was counted meanwhile.
func (g *group) putBack(batch Rejections, latest *audit.Record, maxIDs int) {
	p := &g.pending
	if p.Count == 0 {
		*p, g.latest = batch, latest
		return
	}
	p.Count += batch.Count
	p.First = batch.First
	p.RecordIDs = append(batch.RecordIDs, p.RecordIDs...)[:min(maxIDs, len(batch.RecordIDs)+len(p.RecordIDs))]
}

// publishRejections publishes the notification of a batch of rejections,
// showing the latest of them.
func (s *Sink) publishRejections(ctx context.Context, batch Rejections, latest *audit.Record) error {
	m := s.Message(latest)
	m.Rejections = &batch
	m.Subject = Subject(fmt.Sprintf("%s rejected: %d %s, %s: %s",
		s.o.SubjectPrefix, batch.Count, plural(batch.Count, "message", "messages"), batch.Check, batch.Reason))
	// On a FIFO topic, the same batch sent again is a duplicate; a batch
	// with other counts is not.
	b, err := json.Marshal(batch)
	if err != nil {
		return fmt.Errorf("snsreview: encode rejections: %w", err)
	}
	sum := sha256.Sum256(b)
	return s.publish(ctx, m, latest, hex.EncodeToString(sum[:16]))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
