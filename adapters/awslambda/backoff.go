package awslambda

import (
	"context"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/remedy-sec/remedy/adapters/batch"
)

// QueueAPI is the part of the SQS client the SQS handler calls to back
// off throttled records (Options.Queue); *sqs.Client implements it.
type QueueAPI interface {
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

var _ QueueAPI = (*sqs.Client)(nil)

// backOff gives each failed record whose error says when to retry that
// back-off, or requeues it (see Options.Queue), and returns the ids of
// the records it requeued: those are acknowledged. The calls run at
// once, each within the time left before the invocation's deadline.
func (h *SQSHandler) backOff(ctx context.Context, ev events.SQSEvent, res []batch.Result, fifo bool) map[string]bool {
	if h.o.Queue == nil {
		return nil
	}
	byID := make(map[string]*events.SQSMessage, len(ev.Records))
	for i := range ev.Records {
		byID[ev.Records[i].MessageId] = &ev.Records[i]
	}
	var (
		mu       sync.Mutex
		requeued map[string]bool
		wg       sync.WaitGroup
	)
	cctx := context.WithoutCancel(ctx)
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		cctx, cancel = context.WithDeadline(cctx, deadline.Add(-100*time.Millisecond))
		defer cancel()
	}
	for _, r := range res {
		delay, ok := batch.RetryAfter(r.Err)
		rec := byID[r.Message.ID]
		if r.Ack() || !ok || rec == nil {
			continue
		}
		url, ok := queueURL(rec.EventSourceARN)
		if !ok {
			continue
		}
		wg.Go(func() {
			if !fifo && h.requeue(cctx, rec, url, delay, r.Message.ReceiveCount) {
				mu.Lock()
				if requeued == nil {
					requeued = make(map[string]bool)
				}
				requeued[rec.MessageId] = true
				mu.Unlock()
				return
			}
			_, err := h.o.Queue.ChangeMessageVisibility(cctx, &sqs.ChangeMessageVisibilityInput{
				QueueUrl: aws.String(url), ReceiptHandle: aws.String(rec.ReceiptHandle), VisibilityTimeout: seconds(delay),
			})
			if err != nil {
				// It comes back after the queue's visibility timeout.
				h.o.Logger.LogAttrs(ctx, slog.LevelWarn, "awslambda: could not set a throttled record's back-off",
					slog.String("message_id", rec.MessageId), slog.Any("error", err))
			}
		})
	}
	wg.Wait()
	return requeued
}

// requeue sends rec again as a new message delayed by d, if it should be
// (batch.Requeue), and reports whether it did.
func (h *SQSHandler) requeue(ctx context.Context, rec *events.SQSMessage, url string, d time.Duration, receiveCount int) bool {
	n := 0
	if a, ok := rec.MessageAttributes[batch.RequeuesAttribute]; ok && a.StringValue != nil {
		n, _ = strconv.Atoi(*a.StringValue)
	}
	if !batch.Requeue(receiveCount, h.o.MaxReceiveCount, n, h.o.MaxRequeues) {
		return false
	}
	out, err := h.o.Queue.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(url), MessageBody: aws.String(rec.Body), DelaySeconds: min(seconds(d), 900),
		MessageAttributes: map[string]types.MessageAttributeValue{
			batch.RequeuesAttribute: {DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(n + 1))},
		},
	})
	if err != nil {
		h.o.Logger.LogAttrs(ctx, slog.LevelWarn, "awslambda: requeue failed; the record is retried instead",
			slog.String("message_id", rec.MessageId), slog.Any("error", err))
		return false
	}
	h.o.Logger.LogAttrs(ctx, slog.LevelWarn, "awslambda: throttled; record requeued so that throttling does not use up its deliveries",
		slog.String("message_id", rec.MessageId), slog.String("new_message_id", aws.ToString(out.MessageId)),
		slog.Int("receive_count", receiveCount), slog.Int("requeues", n+1), slog.Duration("delay", min(d, 15*time.Minute)))
	return true
}

// queueURL derives a queue's URL from its ARN,
// arn:PARTITION:sqs:REGION:ACCOUNT:NAME.
func queueURL(arn string) (string, bool) {
	p := strings.Split(arn, ":")
	if len(p) != 6 || p[0] != "arn" || p[2] != "sqs" || p[3] == "" || p[4] == "" || p[5] == "" {
		return "", false
	}
	domain := "amazonaws.com"
	if p[1] == "aws-cn" {
		domain = "amazonaws.com.cn"
	}
	return "https://sqs." + p[3] + "." + domain + "/" + p[4] + "/" + p[5], true
}

// seconds rounds d up to whole seconds for SQS, within SQS's 12-hour
// visibility limit.
func seconds(d time.Duration) int32 {
	return int32(min(max(math.Ceil(d.Seconds()), 0), 43200))
}
