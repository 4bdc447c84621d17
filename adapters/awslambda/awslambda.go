package awslambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/remedy-sec/remedy/adapters/batch"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/remediate"
)

// ErrDeadline is wrapped by the error of a record that was not started
// because the invocation was too close to its deadline.
var ErrDeadline = errors.New("awslambda: too close to the invocation deadline to start")

// Options configure the handlers.
type Options struct {
	// Concurrency bounds how many records (FIFO: message groups) are
	// processed at once. Default 8.
	Concurrency int
	// DeadlineMargin: no record starts when less than this is left before
	// the invocation deadline; such records are reported as failures and
	// redelivered. Default 10 seconds, a little more than one finding
	// takes end to end (assume role, read, change, verify, audit). Set it
	// to at least the engine's typical duration for one finding. It is
	// capped at half the time left when the batch starts, so a function
	// whose timeout is shorter than the margin still makes progress.
	// Negative means no margin.
	DeadlineMargin time.Duration
	// ResponseReserve: records still running this long before the
	// deadline are cancelled (they fail transiently and are redelivered),
	// so the handler can return its response before Lambda stops it.
	// Default 500 milliseconds, capped at a tenth of the time left when
	// the batch starts. Negative means none.
	ResponseReserve time.Duration
	// Logger receives one line per failed record and one per batch. Nil
	// discards.
	Logger *slog.Logger
	// Queue, if set, lets the SQS handler back off a record whose failure
	// says when to retry (batch.RetryAfter; a throttled customer account):
	// it sets the record's visibility timeout to that back-off, so the
	// record comes back when the account's rate limit can serve it rather
	// than after the queue's visibility timeout, and before the delivery
	// that would dead-letter it (MaxReceiveCount) it requeues it instead:
	// sends it again as a new, delayed message (batch.RequeuesAttribute
	// counts the requeues, at most MaxRequeues) and acknowledges the
	// record. The function's role then needs sqs:ChangeMessageVisibility
	// and sqs:SendMessage on the queue. *sqs.Client implements it. The
	// queue's URL is derived from the record's event source ARN.
	Queue QueueAPI
	// MaxReceiveCount is the queue's redrive maxReceiveCount, if known;
	// zero: unknown, and records are never requeued.
	MaxReceiveCount int
	// MaxRequeues bounds how often a record is requeued (see Queue).
	// Default 10; negative never requeues.
	MaxRequeues int
}

func newOptions(optFns []func(*Options)) Options {
	o := Options{Concurrency: 8, DeadlineMargin: 10 * time.Second, ResponseReserve: 500 * time.Millisecond}
	for _, fn := range optFns {
		fn(&o)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	o.DeadlineMargin = max(o.DeadlineMargin, 0)
	o.ResponseReserve = max(o.ResponseReserve, 0)
	if o.MaxRequeues == 0 {
		o.MaxRequeues = 10
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// SQSHandler handles Lambda invocations from an SQS event source mapping.
// It is safe for concurrent use.
type SQSHandler struct {
	p batch.Processor
	o Options
}

// NewSQSHandler returns a handler that runs every record through p
// (usually a *remediate.Engine).
func NewSQSHandler(p batch.Processor, optFns ...func(*Options)) *SQSHandler {
	return &SQSHandler{p: p, o: newOptions(optFns)}
}

// Handle processes ev and reports the records to retry. It always
// returns a nil error: a failed record is reported in BatchItemFailures,
// and every record not listed there is acknowledged.
func (h *SQSHandler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	now := time.Now()
	msgs := make([]remediate.Message, len(ev.Records))
	groups := map[string]string(nil)
	for i, r := range ev.Records {
		msgs[i] = remediate.Message{
			ID:           r.MessageId,
			Body:         []byte(r.Body),
			ReceiveCount: receiveCount(r.Attributes["ApproximateReceiveCount"]),
			ReceivedAt:   now,
		}
		if g := r.Attributes["MessageGroupId"]; g != "" && strings.HasSuffix(r.EventSourceARN, ".fifo") {
			if groups == nil {
				groups = make(map[string]string, len(ev.Records))
			}
			groups[r.MessageId] = g
		}
	}
	var group func(remediate.Message) string
	if groups != nil {
		group = func(m remediate.Message) string { return groups[m.ID] }
	}
	res := run(ctx, h.p, msgs, h.o, group)
	requeued := h.backOff(ctx, ev, res, groups != nil)

	var resp events.SQSEventResponse
	for _, r := range res {
		if !r.Ack() && !requeued[r.Message.ID] {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.Message.ID})
		}
	}
	logBatch(ctx, h.o.Logger, "sqs", res, len(resp.BatchItemFailures))
	return resp, nil
}

// SNSHandler handles Lambda invocations by an SNS subscription. It is
// safe for concurrent use.
type SNSHandler struct {
	p batch.Processor
	o Options
}

// NewSNSHandler returns a handler that runs every record through p
// (usually a *remediate.Engine).
func NewSNSHandler(p batch.Processor, optFns ...func(*Options)) *SNSHandler {
	return &SNSHandler{p: p, o: newOptions(optFns)}
}

// snsEnvelope is the part of an SNS notification the engine's parser
// reads, spelled as SNS delivers it to SQS.
type snsEnvelope struct {
	Type      string `json:"Type"`
	MessageID string `json:"MessageId"`
	TopicArn  string `json:"TopicArn,omitempty"`
	Subject   string `json:"Subject,omitempty"`
	Message   string `json:"Message"`
	Timestamp string `json:"Timestamp,omitempty"`
	// The signature, so that an engine with an snsverify authenticator
	// can check it.
	SignatureVersion string `json:"SignatureVersion,omitempty"`
	Signature        string `json:"Signature,omitempty"`
	SigningCertURL   string `json:"SigningCertURL,omitempty"`
}

// snsTimestamp is how SNS writes Timestamp (and signs it): UTC with
// exactly three fractional digits.
const snsTimestamp = "2006-01-02T15:04:05.000Z"

// Handle processes ev. It returns an error if any record failed
// transiently, so that Lambda retries the event; records that were
// acknowledged are not acted on twice on that retry because the engine
// deduplicates them.
func (h *SNSHandler) Handle(ctx context.Context, ev events.SNSEvent) error {
	now := time.Now()
	msgs := make([]remediate.Message, len(ev.Records))
	for i, r := range ev.Records {
		env := snsEnvelope{
			Type: r.SNS.Type, MessageID: r.SNS.MessageID, TopicArn: r.SNS.TopicArn,
			Subject: r.SNS.Subject, Message: r.SNS.Message,
			SignatureVersion: r.SNS.SignatureVersion, Signature: r.SNS.Signature, SigningCertURL: r.SNS.SigningCertURL,
		}
		if env.Type == "" {
			env.Type = "Notification" // Lambda is invoked for notifications only
		}
		if !r.SNS.Timestamp.IsZero() {
			env.Timestamp = r.SNS.Timestamp.UTC().Format(snsTimestamp)
		}
		body, err := json.Marshal(env)
		if err != nil {
			return fmt.Errorf("awslambda: encode SNS record %s: %w", r.SNS.MessageID, err)
		}
		msgs[i] = remediate.Message{ID: r.SNS.MessageID, Body: body, ReceivedAt: now}
	}
	res := run(ctx, h.p, msgs, h.o, nil)
	var errs []error
	for _, r := range res {
		if !r.Ack() {
			errs = append(errs, fmt.Errorf("SNS message %s: %w", r.Message.ID, r.Err))
		}
	}
	logBatch(ctx, h.o.Logger, "sns", res, len(errs))
	if len(errs) > 0 {
		return fmt.Errorf("awslambda: %d of %d records failed transiently; Lambda retries the event: %w", len(errs), len(res), errors.Join(errs...))
	}
	return nil
}

// run processes msgs with the deadline rules of Options.
func run(ctx context.Context, p batch.Processor, msgs []remediate.Message, o Options, group func(remediate.Message) string) []batch.Result {
	if deadline, ok := ctx.Deadline(); ok {
		// Margins longer than a share of the invocation would stop a
		// function with a short timeout from ever making progress.
		left := time.Until(deadline)
		margin := min(o.DeadlineMargin, left/2)
		reserve := min(o.ResponseReserve, left/10)
		p = gate{p: p, startBy: deadline.Add(-margin)}
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-reserve))
		defer cancel()
	}
	return batch.Run(ctx, p, msgs, func(bo *batch.Options) {
		bo.Concurrency = o.Concurrency
		bo.Group = group
	})
}

var _ batch.Processor = gate{}

// gate refuses to start a message after startBy. batch.Run calls Process
// only once a concurrency slot is free, so this is checked at the moment
// the record would start.
type gate struct {
	p       batch.Processor
	startBy time.Time
}

func (g gate) Process(ctx context.Context, m remediate.Message) (*audit.Record, error) {
	if !time.Now().Before(g.startBy) {
		return nil, fmt.Errorf("awslambda: message %s not started: %w", m.ID, ErrDeadline)
	}
	return g.p.Process(ctx, m)
}

func receiveCount(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

func logBatch(ctx context.Context, l *slog.Logger, source string, res []batch.Result, failed int) {
	reqID := ""
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		reqID = lc.AwsRequestID
	}
	for _, r := range res {
		if !r.Ack() {
			l.LogAttrs(ctx, slog.LevelWarn, "record not acknowledged; it will be retried",
				slog.String("source", source), slog.String("message_id", r.Message.ID),
				slog.String("aws_request_id", reqID), slog.Any("error", r.Err))
		}
	}
	l.LogAttrs(ctx, slog.LevelInfo, "batch done",
		slog.String("source", source), slog.String("aws_request_id", reqID),
		slog.Int("records", len(res)), slog.Int("failed", failed))
}
