package sqsworker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/remedy-sec/remedy/adapters/batch"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/remediate"
)

// API is the part of the SQS client the worker calls; *sqs.Client
// implements it.
type API interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

var _ API = (*sqs.Client)(nil)

// Options configure a Worker. Durations sent to SQS are rounded up to
// whole seconds.
type Options struct {
	// Concurrency bounds how many messages are processed at once.
	// Default 8.
	Concurrency int
	// Prefetch is how many received messages may wait for a free
	// processing slot, so that the next messages are already at hand when
	// one finishes instead of a receive round trip later. Waiting
	// messages are heartbeated like running ones. At most Concurrency +
	// Prefetch messages are in flight (received and not yet deleted or
	// given back). Default MaxMessages; a negative value turns
	// prefetching off.
	Prefetch int
	// MaxReceiveCount is the queue's redrive maxReceiveCount, if known. A
	// message on its last delivery that is still waiting for a processing
	// slot at shutdown is processed (within DrainTimeout) rather than
	// given back, because given back it would move to the dead-letter
	// queue without ever being processed or audited. Zero: unknown.
	MaxReceiveCount int
	// MaxMessages is the most one receive asks for, 1 to 10. Default 10.
	MaxMessages int
	// WaitTime is the long-poll wait of one receive, up to 20 s.
	// Default 20 s.
	WaitTime time.Duration
	// VisibilityTimeout is requested on receive and renewed by each
	// heartbeat. Default 60 s.
	VisibilityTimeout time.Duration
	// HeartbeatInterval is how often in-flight messages have their
	// visibility extended. Default VisibilityTimeout/3.
	HeartbeatInterval time.Duration
	// RetryBase and RetryMax shape the back-off after a transient
	// failure: RetryBase·2^(receive count-1), at most RetryMax.
	// Defaults 10 s and 15 min. A failure that says when to retry
	// (RetryAfter, such as crossaccount.ThrottledError) is given back
	// for that long instead.
	RetryBase, RetryMax time.Duration
	// MaxRequeues bounds how often a throttled message is requeued: a
	// message whose failure says when to retry (RetryAfter: its customer
	// account is throttled, the finding itself is fine) and which has one
	// delivery or none left before the dead-letter queue
	// (MaxReceiveCount) is sent again as a new message, delayed by its
	// back-off (at most SQS's 15 minutes), and the delivery deleted, so
	// that throttling does not use up its deliveries. A requeued message
	// carries the count in its "remedy-requeues" attribute; past
	// MaxRequeues it is given back as any other failure. Default 10;
	// negative turns requeueing off. Requeueing needs MaxReceiveCount, a
	// standard queue (not FIFO), a client with SendMessage (*sqs.Client)
	// and sqs:SendMessage on the queue; without them a throttled message
	// is given back with its back-off and may reach the dead-letter queue.
	MaxRequeues int
	// DrainTimeout is how long in-flight messages may finish after Run's
	// context ends, before they are cancelled and released. Keep it below
	// the orchestrator's grace period (ECS stopTimeout, Kubernetes
	// terminationGracePeriodSeconds, 30 s by default). Default 20 s.
	DrainTimeout time.Duration
	// DeleteDelay is the longest an acknowledged message waits for others
	// to share a DeleteMessageBatch call. Default 200 ms.
	DeleteDelay time.Duration
	// CallTimeout bounds each SQS call other than receive. Default 10 s.
	CallTimeout time.Duration
	// ExitWhenIdle makes Run return, after its drain, once a receive
	// comes back empty while nothing received is in process: for batch
	// and cron runs that work a queue off and exit. Such a receive waits
	// at most a second. Messages waiting out a retry back-off are not
	// visible then, and stay for the next run.
	ExitWhenIdle bool
	// Logger receives failures and shutdown progress. Nil discards.
	Logger *slog.Logger
}

// Stats are counters since the worker was created.
type Stats struct {
	Received   int64 // messages received
	Processed  int64 // messages Process returned for
	Duplicates int64 // of those, duplicates of a finished delivery
	Acked      int64 // messages deleted from the queue
	Retried    int64 // messages given back with a retry back-off
	Released   int64 // messages given back unprocessed (shutdown, FIFO group failure)
	Requeued   int64 // throttled messages sent again as new messages (Options.MaxRequeues); their deliveries count in Acked
	InFlight   int64 // messages received and not yet deleted or given back
	Errors     int64 // failed SQS calls and entries (receive, delete, visibility)
}

// Worker consumes one queue. Create it with New; call Run once.
type Worker struct {
	c    API
	url  string
	p    batch.Processor
	o    Options
	fifo bool

	running atomic.Bool
	stats   struct {
		received, processed, duplicates, acked, retried, released, requeued, inFlight, errors atomic.Int64
	}
}

// New returns a worker that feeds messages of queueURL to p (usually a
// *remediate.Engine).
func New(client API, queueURL string, p batch.Processor, optFns ...func(*Options)) *Worker {
	o := Options{
		Concurrency: 8, MaxMessages: 10, WaitTime: 20 * time.Second, VisibilityTimeout: 60 * time.Second,
		RetryBase: 10 * time.Second, RetryMax: 15 * time.Minute, DrainTimeout: 20 * time.Second,
		DeleteDelay: 200 * time.Millisecond, CallTimeout: 10 * time.Second,
	}
	for _, fn := range optFns {
		fn(&o)
	}
	o.Concurrency = max(o.Concurrency, 1)
	if o.MaxMessages < 1 || o.MaxMessages > 10 {
		o.MaxMessages = 10
	}
	switch {
	case o.Prefetch == 0:
		o.Prefetch = o.MaxMessages
	case o.Prefetch < 0:
		o.Prefetch = 0
	}
	o.WaitTime = min(max(o.WaitTime, 0), 20*time.Second)
	if o.VisibilityTimeout <= 0 {
		o.VisibilityTimeout = 60 * time.Second
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = o.VisibilityTimeout / 3
	}
	if o.RetryBase <= 0 {
		o.RetryBase = 10 * time.Second
	}
	o.RetryMax = max(o.RetryMax, o.RetryBase)
	o.DrainTimeout = max(o.DrainTimeout, 0)
	if o.DeleteDelay <= 0 {
		o.DeleteDelay = 200 * time.Millisecond
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 10 * time.Second
	}
	if o.MaxRequeues == 0 {
		o.MaxRequeues = 10
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Worker{c: client, url: queueURL, p: p, o: o, fifo: strings.HasSuffix(queueURL, ".fifo")}
}

// Stats returns the worker's counters. It is safe to call at any time.
func (w *Worker) Stats() Stats {
	s := &w.stats
	return Stats{
		Received: s.received.Load(), Processed: s.processed.Load(), Duplicates: s.duplicates.Load(),
		Acked: s.acked.Load(), Retried: s.retried.Load(), Released: s.released.Load(), Requeued: s.requeued.Load(),
		InFlight: s.inFlight.Load(), Errors: s.errors.Load(),
	}
}

// RetryDelay returns the visibility a message gets after its
// receiveCount-th delivery failed transiently.
func (w *Worker) RetryDelay(receiveCount int) time.Duration {
	d := w.o.RetryBase
	for i := 1; i < receiveCount && d < w.o.RetryMax; i++ {
		d *= 2
	}
	return min(d, w.o.RetryMax)
}

// ErrRunning is returned by Run when the worker is already running.
var ErrRunning = errors.New("sqsworker: Run called while the worker is running")

// Run receives and processes messages until ctx ends, then shuts down
// gracefully (see the package documentation). It returns nil after a
// shutdown caused by ctx, or the receive error that makes going on
// pointless (the queue does not exist, access is denied), also after
// draining. Other receive errors are logged and retried with a back-off.
func (w *Worker) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer w.running.Store(false)

	// Processing, heartbeats, deletes and releases outlive ctx until the
	// drain ends; they keep its values.
	bg := context.WithoutCancel(ctx)
	procCtx, stopProc := context.WithCancel(bg)
	defer stopProc()

	del := newDeleter(w, bg)
	// slots bounds the messages in flight, g the ones being processed.
	slots := make(chan struct{}, w.o.Concurrency+w.o.Prefetch)
	g := &gate{p: w.p, slots: make(chan struct{}, w.o.Concurrency), stop: ctx.Done(), maxReceive: w.o.MaxReceiveCount}
	var batches sync.WaitGroup
	runErr := w.receiveLoop(ctx, func(msgs []types.Message) {
		batches.Go(func() { w.runBatch(procCtx, bg, g, msgs, slots, del) })
	}, slots)

	w.o.Logger.LogAttrs(bg, slog.LevelInfo, "sqsworker: stopping; draining in-flight messages",
		slog.Int64("in_flight", w.stats.inFlight.Load()), slog.Duration("drain_timeout", w.o.DrainTimeout))
	drained := make(chan struct{})
	go func() { batches.Wait(); close(drained) }()
	timer := time.NewTimer(w.o.DrainTimeout)
	select {
	case <-drained:
		timer.Stop()
	case <-timer.C:
		w.o.Logger.LogAttrs(bg, slog.LevelWarn, "sqsworker: drain timeout; cancelling and releasing in-flight messages",
			slog.Int64("in_flight", w.stats.inFlight.Load()))
		stopProc()
		<-drained
	}
	del.close()
	w.o.Logger.LogAttrs(bg, slog.LevelInfo, "sqsworker: stopped", slog.Any("stats", w.Stats()))
	return runErr
}

// receiveLoop receives while ctx lasts and there are free slots, handing
// each non-empty receive to start. A slot is taken per received message
// and given back by finish.
func (w *Worker) receiveLoop(ctx context.Context, start func([]types.Message), slots chan struct{}) error {
	attrs := []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount}
	if w.fifo {
		attrs = append(attrs, types.MessageSystemAttributeNameMessageGroupId)
	}
	var backoff time.Duration
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		n := 1
	more:
		for n < w.o.MaxMessages {
			select {
			case slots <- struct{}{}:
				n++
			default:
				break more
			}
		}
		wait := w.o.WaitTime
		if w.o.ExitWhenIdle && w.stats.inFlight.Load() == 0 {
			// Finding the queue empty needs no long poll.
			wait = min(wait, time.Second)
		}
		out, err := w.c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(w.url),
			MaxNumberOfMessages:         int32(n),
			WaitTimeSeconds:             seconds(wait),
			VisibilityTimeout:           seconds(w.o.VisibilityTimeout),
			MessageSystemAttributeNames: attrs,
			MessageAttributeNames:       []string{batch.RequeuesAttribute},
		})
		var got int
		if err == nil {
			got = len(out.Messages)
		}
		for range n - got {
			<-slots
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			w.stats.errors.Add(1)
			if fatalReceive(err) {
				w.o.Logger.LogAttrs(ctx, slog.LevelError, "sqsworker: receive failed; stopping", slog.Any("error", err))
				return fmt.Errorf("sqsworker: receive from %s: %w", w.url, err)
			}
			backoff = min(max(2*backoff, time.Second), 30*time.Second)
			w.o.Logger.LogAttrs(ctx, slog.LevelWarn, "sqsworker: receive failed; retrying",
				slog.Any("error", err), slog.Duration("backoff", backoff))
			if !sleep(ctx, backoff) {
				return nil
			}
			continue
		}
		backoff = 0
		if got > 0 {
			w.stats.received.Add(int64(got))
			w.stats.inFlight.Add(int64(got))
			start(out.Messages)
		} else if w.o.ExitWhenIdle && w.stats.inFlight.Load() == 0 {
			w.o.Logger.LogAttrs(ctx, slog.LevelInfo, "sqsworker: the queue is empty and nothing is in process; stopping (ExitWhenIdle)")
			return nil
		}
	}
}

// fatalReceive reports whether a receive error will not go away by
// retrying.
func fatalReceive(err error) bool {
	var qne *types.QueueDoesNotExist
	return errors.As(err, &qne) || remediate.IsPermanent(remediate.ClassifyAWS(err))
}

// errNotStarted is the result of a message that was still waiting for a
// processing slot when Run's context ended.
var errNotStarted = errors.New("sqsworker: not processed before shutdown")

// gate bounds how many messages are processed at once. A message waiting
// for a slot when stop closes is not processed, unless it is on its last
// delivery (maxReceive).
type gate struct {
	p          batch.Processor
	slots      chan struct{}
	stop       <-chan struct{}
	maxReceive int
}

func (g *gate) Process(ctx context.Context, m remediate.Message) (*audit.Record, error) {
	stop := g.stop
	if g.maxReceive > 0 && m.ReceiveCount >= g.maxReceive {
		stop = nil // never given back unprocessed: see Options.MaxReceiveCount
	}
	select {
	case g.slots <- struct{}{}:
	case <-stop:
		return nil, errNotStarted
	case <-ctx.Done(): // the drain timed out
		return nil, errNotStarted
	}
	defer func() { <-g.slots }()
	select {
	case <-stop: // both were ready: shutdown wins
		return nil, errNotStarted
	default:
	}
	return g.p.Process(ctx, m)
}

// inflight is one received message until it is deleted or given back.
type inflight struct {
	msg      types.Message
	count    int
	finished bool
}

// runBatch processes one receive's messages, heartbeating them until
// each is finished.
func (w *Worker) runBatch(procCtx, bg context.Context, p batch.Processor, msgs []types.Message, slots chan struct{}, del *deleter) {
	b := &batchState{w: w, bg: bg, byID: make(map[string]*inflight, len(msgs))}
	ms := make([]remediate.Message, len(msgs))
	now := time.Now()
	for i, m := range msgs {
		count, _ := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
		ms[i] = remediate.Message{ID: aws.ToString(m.MessageId), Body: []byte(aws.ToString(m.Body)), ReceiveCount: count, ReceivedAt: now}
		b.byID[ms[i].ID] = &inflight{msg: m, count: count}
	}
	stopHeartbeat := b.heartbeat()
	finish := func(r batch.Result) {
		b.finish(procCtx, r, del)
		<-slots
	}
	res := batch.Run(procCtx, p, ms, func(o *batch.Options) {
		o.Concurrency = len(ms)
		o.OnResult = func(r batch.Result) {
			if errors.Is(r.Err, errNotStarted) {
				finish(r)
				return
			}
			w.stats.processed.Add(1)
			if r.Err == nil && r.Record == nil {
				w.stats.duplicates.Add(1)
			}
			finish(r)
		}
		if w.fifo {
			o.Group = func(m remediate.Message) string {
				return b.byID[m.ID].msg.Attributes[string(types.MessageSystemAttributeNameMessageGroupId)]
			}
		}
	})
	// Messages that were never processed (shutdown, FIFO group failure).
	for _, r := range res {
		if !b.isFinished(r.Message.ID) {
			finish(r)
		}
	}
	stopHeartbeat()
}

type batchState struct {
	w  *Worker
	bg context.Context
	// mu is held during a heartbeat call, so a message's back-off or
	// release, made after finish took it out under mu, always lands after
	// the last heartbeat that extended it.
	mu   sync.Mutex
	byID map[string]*inflight
}

func (b *batchState) isFinished(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.byID[id].finished
}

// finish deletes, backs off or releases one message.
func (b *batchState) finish(procCtx context.Context, r batch.Result, del *deleter) {
	w := b.w
	b.mu.Lock()
	m := b.byID[r.Message.ID]
	m.finished = true
	b.mu.Unlock()
	defer w.stats.inFlight.Add(-1)

	switch {
	case r.Ack():
		del.add(m.msg)
	case procCtx.Err() != nil || errors.Is(r.Err, errNotStarted) || errors.Is(r.Err, batch.ErrGroupFailed):
		// Unfinished or not started at shutdown, or never started behind
		// a failed FIFO predecessor: give it back at once.
		if w.setVisibility(b.bg, m.msg, 0) {
			w.stats.released.Add(1)
		}
	default:
		delay := w.RetryDelay(m.count)
		// Another worker's claim (perhaps a killed one's) holds the
		// finding: a delivery before it expires would be spent for
		// nothing, and enough of them would dead-letter the message.
		var ipe *remediate.InProgressError
		if errors.As(r.Err, &ipe) {
			delay = min(max(delay, time.Until(ipe.Until)+time.Second), 12*time.Hour)
		}
		// A throttled account's findings come back when its rate limit
		// expects to serve them, not on the exponential schedule.
		if after, ok := batch.RetryAfter(r.Err); ok {
			delay = min(max(after, time.Second), 12*time.Hour)
			if w.requeue(b.bg, m, delay, r.Err, del) {
				return
			}
		}
		w.o.Logger.LogAttrs(b.bg, slog.LevelWarn, "sqsworker: transient failure; message retried after a back-off",
			slog.String("message_id", r.Message.ID), slog.Int("receive_count", m.count),
			slog.Duration("backoff", delay), slog.Any("error", r.Err))
		if w.setVisibility(b.bg, m.msg, delay) {
			w.stats.retried.Add(1)
		}
	}
}

// sender is the SendMessage of *sqs.Client, which requeue needs.
type sender interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// requeue sends a throttled message that is about to use up its
// deliveries again as a new message, delayed by d, and deletes this
// delivery; it reports whether it did (see Options.MaxRequeues). The copy
// is sent before the delivery is deleted: if the delete fails, both are
// delivered and the engine's idempotency store keeps the finding from
// being acted on twice.
func (w *Worker) requeue(bg context.Context, m *inflight, d time.Duration, cause error, del *deleter) bool {
	s, ok := w.c.(sender)
	if !ok || w.fifo {
		return false
	}
	n := 0
	if a, ok := m.msg.MessageAttributes[batch.RequeuesAttribute]; ok {
		n, _ = strconv.Atoi(aws.ToString(a.StringValue))
	}
	if !batch.Requeue(m.count, w.o.MaxReceiveCount, n, w.o.MaxRequeues) {
		return false
	}
	ctx, cancel := context.WithTimeout(bg, w.o.CallTimeout)
	defer cancel()
	out, err := s.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(w.url), MessageBody: m.msg.Body, DelaySeconds: min(seconds(d), 900),
		MessageAttributes: map[string]types.MessageAttributeValue{
			batch.RequeuesAttribute: {DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(n + 1))},
		},
	})
	if err != nil {
		w.stats.errors.Add(1)
		w.o.Logger.LogAttrs(bg, slog.LevelWarn, "sqsworker: requeue failed; the message is given back instead",
			slog.String("message_id", aws.ToString(m.msg.MessageId)), slog.Any("error", err))
		return false
	}
	w.o.Logger.LogAttrs(bg, slog.LevelWarn, "sqsworker: throttled; message requeued so that throttling does not use up its deliveries",
		slog.String("message_id", aws.ToString(m.msg.MessageId)), slog.String("new_message_id", aws.ToString(out.MessageId)),
		slog.Int("receive_count", m.count), slog.Int("requeues", n+1), slog.Duration("delay", min(d, 15*time.Minute)),
		slog.Any("error", cause))
	w.stats.requeued.Add(1)
	del.add(m.msg)
	return true
}

func (w *Worker) setVisibility(bg context.Context, m types.Message, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(bg, w.o.CallTimeout)
	defer cancel()
	_, err := w.c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(w.url), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: seconds(d),
	})
	if err != nil {
		// The message comes back when its current visibility ends.
		w.stats.errors.Add(1)
		w.o.Logger.LogAttrs(bg, slog.LevelWarn, "sqsworker: change visibility failed",
			slog.String("message_id", aws.ToString(m.MessageId)), slog.Any("error", err))
		return false
	}
	return true
}

// heartbeat extends the visibility of the batch's unfinished messages
// every HeartbeatInterval until the returned stop is called.
func (b *batchState) heartbeat() (stop func()) {
	w := b.w
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		t := time.NewTicker(w.o.HeartbeatInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			b.mu.Lock()
			var entries []types.ChangeMessageVisibilityBatchRequestEntry
			for id, m := range b.byID {
				if !m.finished {
					entries = append(entries, types.ChangeMessageVisibilityBatchRequestEntry{
						Id: aws.String(entryID(id)), ReceiptHandle: m.msg.ReceiptHandle,
						VisibilityTimeout: seconds(w.o.VisibilityTimeout),
					})
				}
			}
			if len(entries) > 0 {
				ctx, cancel := context.WithTimeout(b.bg, w.o.CallTimeout)
				out, err := w.c.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{
					QueueUrl: aws.String(w.url), Entries: entries,
				})
				cancel()
				switch {
				case err != nil:
					w.stats.errors.Add(1)
					w.o.Logger.LogAttrs(b.bg, slog.LevelWarn, "sqsworker: heartbeat failed", slog.Any("error", err))
				case len(out.Failed) > 0:
					w.stats.errors.Add(int64(len(out.Failed)))
					w.o.Logger.LogAttrs(b.bg, slog.LevelWarn, "sqsworker: heartbeat failed for some messages",
						slog.Any("failed", out.Failed))
				}
			}
			b.mu.Unlock()
		}
	}()
	return func() { close(done); <-ended }
}

// entryID turns a message id into a batch entry id, which allows only
// letters, digits, hyphens and underscores (SQS message ids are UUIDs).
func entryID(id string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, id)
}

// seconds rounds d up to whole seconds for SQS, within SQS's 12-hour
// visibility limit.
func seconds(d time.Duration) int32 {
	s := math.Ceil(d.Seconds())
	return int32(min(max(s, 0), 43200))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// deleter collects acknowledged messages and deletes them in batches of
// up to 10, each waiting at most DeleteDelay.
type deleter struct {
	w    *Worker
	bg   context.Context
	in   chan types.Message
	done chan struct{}
}

func newDeleter(w *Worker, bg context.Context) *deleter {
	d := &deleter{w: w, bg: bg, in: make(chan types.Message, w.o.Concurrency), done: make(chan struct{})}
	go d.run()
	return d
}

func (d *deleter) add(m types.Message) { d.in <- m }

// close flushes what is pending and waits for the deleter to end.
func (d *deleter) close() {
	close(d.in)
	<-d.done
}

func (d *deleter) run() {
	defer close(d.done)
	var (
		buf   []types.Message
		timer = time.NewTimer(time.Hour)
		due   <-chan time.Time
	)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case m, ok := <-d.in:
			if !ok {
				d.flush(buf)
				return
			}
			buf = append(buf, m)
			if len(buf) == 1 {
				timer.Reset(d.w.o.DeleteDelay)
				due = timer.C
			}
			if len(buf) < 10 {
				continue
			}
		case <-due:
		}
		timer.Stop()
		due = nil
		d.flush(buf)
		buf = buf[:0]
	}
}

func (d *deleter) flush(msgs []types.Message) {
	if len(msgs) == 0 {
		return
	}
	w := d.w
	entries := make([]types.DeleteMessageBatchRequestEntry, len(msgs))
	for i, m := range msgs {
		entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle}
	}
	var (
		out *sqs.DeleteMessageBatchOutput
		err error
	)
	for attempt := range 2 { // one retry: a lost delete only costs a duplicate delivery
		ctx, cancel := context.WithTimeout(d.bg, w.o.CallTimeout)
		out, err = w.c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(w.url), Entries: entries})
		cancel()
		if err == nil || attempt == 1 {
			break
		}
		w.stats.errors.Add(1)
	}
	if err != nil {
		w.stats.errors.Add(1)
		w.o.Logger.LogAttrs(d.bg, slog.LevelWarn, "sqsworker: delete failed; the messages will be redelivered and deduplicated",
			slog.Int("messages", len(msgs)), slog.Any("error", err))
		return
	}
	w.stats.acked.Add(int64(len(out.Successful)))
	if len(out.Failed) > 0 {
		w.stats.errors.Add(int64(len(out.Failed)))
		w.o.Logger.LogAttrs(d.bg, slog.LevelWarn, "sqsworker: some deletes failed; those messages will be redelivered and deduplicated",
			slog.Any("failed", out.Failed))
	}
}
