package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/remedy-sec/remedy/adapters/dynamo"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/wizpayload"
)

// replayAttribute is the message attribute a replayed message carries:
// the id it had in the dead-letter queue.
const replayAttribute = "remedy-replay-of"

// replayFilter is one --filter: KEY=VALUE matches exactly, KEY~TEXT
// matches a case-insensitive substring.
type replayFilter struct {
	key, value string
	contains   bool
}

var replayKeys = []string{"id", "finding", "account", "resource", "control", "reason"}

func parseReplayFilter(s string) (replayFilter, error) {
	i := strings.IndexAny(s, "=~")
	if i <= 0 {
		return replayFilter{}, usageErr("--filter %q: want KEY=VALUE or KEY~TEXT with KEY one of %s", s, strings.Join(replayKeys, ", "))
	}
	f := replayFilter{key: s[:i], value: s[i+1:], contains: s[i] == '~'}
	if !slices.Contains(replayKeys, f.key) {
		return replayFilter{}, usageErr("--filter %q: unknown key %q; want one of %s", s, f.key, strings.Join(replayKeys, ", "))
	}
	return f, nil
}

func (f replayFilter) match(m *dlqMessage) bool {
	var v string
	switch f.key {
	case "id":
		v = m.id
	case "finding":
		v = m.finding
	case "account":
		v = m.account
	case "resource":
		v = m.resource
	case "control":
		v = m.control
	case "reason":
		v = m.reason
	}
	if f.contains {
		return strings.Contains(strings.ToLower(v), strings.ToLower(f.value))
	}
	return v == f.value
}

// filterList collects repeated --filter flags.
type filterList []replayFilter

func (l *filterList) String() string { return "" }

func (l *filterList) Set(s string) error {
	f, err := parseReplayFilter(s)
	if err != nil {
		return err
	}
	*l = append(*l, f)
	return nil
}

// dlqMessage is one dead-lettered message as replay shows it.
type dlqMessage struct {
	msg                                   sqstypes.Message
	id                                    string
	sent                                  time.Time
	receives                              int
	finding, account, resource, control   string
	reason                                string // the last failure, from the audit trail
	reasonAt                              time.Time
	selected, replayed, deleted, sendFail bool
}

// replaySQS is the part of the SQS client replay calls.
type replaySQS interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dlq := fs.String("dlq", "", "`URL` of the dead-letter queue to read; required")
	to := fs.String("to", "", "`URL` of the queue to send the selected messages to (usually the source queue); required")
	var filters filterList
	fs.Var(&filters, "filter", "select messages by `KEY=VALUE` (exact) or KEY~TEXT (substring); KEY is id, finding, account, resource, control or reason; repeat to require several")
	dryRun := fs.Bool("dry-run", false, "list the messages and what would be replayed; send and delete nothing")
	limit := fs.Int("max", 0, "replay at most `N` of the selected messages (0: all)")
	auditTable := fs.String("audit-table", "", "DynamoDB audit `TABLE` to read each message's last failure reason from (the engine's dead-lettered records)")
	auditIndex := fs.String("audit-index", dynamo.AuditMessageIndex, "global secondary `INDEX` of the audit table on message_id; if it does not exist the table is scanned")
	endpoint := fs.String("endpoint", "", "send every AWS call to `URL` (moto, LocalStack); default: AWS")
	region := fs.String("region", "", "AWS `REGION` (default: from the environment, else us-east-1)")
	hold := fs.Duration("hold", 5*time.Minute, "how long read messages stay invisible to other consumers while replay runs")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: remedy replay --dlq URL --to URL [--filter KEY=VALUE]... [--dry-run] [--audit-table TABLE]

Lists the messages of a dead-letter queue with their last failure reason
(from the audit trail: the engine writes a dead-lettered record on a
message's last delivery) and re-sends the selected ones to --to. A
message is deleted from the dead-letter queue only after its send
succeeded; a message that is not replayed is made visible again when
replay ends. Without --filter every message is selected. Progress goes
to stderr, the listing to stdout.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageErr("%v", err)
	}
	switch {
	case fs.NArg() != 0:
		return usageErr("unexpected arguments %q", fs.Args())
	case *dlq == "" || *to == "":
		return usageErr("--dlq URL and --to URL are required")
	case *dlq == *to:
		return usageErr("--dlq and --to name the same queue")
	case *limit < 0:
		return usageErr("--max %d is negative", *limit)
	case *hold < time.Second || *hold > 12*time.Hour:
		return usageErr("--hold %s: want 1s to 12h", *hold)
	}
	cfg, err := loadAWS(ctx, *region, *endpoint)
	if err != nil {
		return err
	}
	r := &replayer{
		sqs: sqs.NewFromConfig(cfg), dlq: *dlq, to: *to, hold: *hold, progress: stderr,
	}
	if *auditTable != "" {
		r.audit = &auditLookup{db: dynamodb.NewFromConfig(cfg), table: *auditTable, index: *auditIndex, warn: stderr}
	}
	return r.run(ctx, filters, *limit, *dryRun, stdout)
}

type replayer struct {
	sqs      replaySQS
	dlq, to  string
	hold     time.Duration
	audit    *auditLookup
	progress io.Writer
}

func (r *replayer) run(ctx context.Context, filters filterList, limit int, dryRun bool, stdout io.Writer) (err error) {
	msgs, err := r.receiveAll(ctx)
	// Whatever happens next, messages not deleted become visible again.
	defer func() {
		if rerr := r.release(context.WithoutCancel(ctx), msgs); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	if err != nil {
		return err
	}
	parser := wizpayload.New()
	for _, m := range msgs {
		m.describe(parser)
		if r.audit != nil {
			if err := r.audit.lastFailure(ctx, m); err != nil {
				return err
			}
		}
		m.selected = true
		for _, f := range filters {
			m.selected = m.selected && f.match(m)
		}
	}
	selected := 0
	for _, m := range msgs {
		if m.selected {
			if limit > 0 && selected == limit {
				m.selected = false
				continue
			}
			selected++
		}
	}
	if !dryRun && selected > 0 {
		err = r.replay(ctx, msgs, selected)
	}
	printReplay(stdout, msgs, dryRun)
	switch {
	case dryRun:
		fmt.Fprintf(r.progress, "dry run: %d of %d messages would be replayed to %s; nothing was sent or deleted\n", selected, len(msgs), r.to)
	case err == nil:
		fmt.Fprintf(r.progress, "replayed %d of %d messages to %s and deleted them from the dead-letter queue\n", selected, len(msgs), r.to)
	}
	return err
}

// receiveAll reads every message of the dead-letter queue, holding each
// invisible for r.hold so that it is read once.
func (r *replayer) receiveAll(ctx context.Context) ([]*dlqMessage, error) {
	var out []*dlqMessage
	seen := map[string]bool{}
	fmt.Fprintf(r.progress, "reading %s\n", r.dlq)
	for {
		res, err := r.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(r.dlq), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			VisibilityTimeout:           int32(r.hold / time.Second),
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		})
		if err != nil {
			return out, fmt.Errorf("read dead-letter queue %s: %w", r.dlq, err)
		}
		if len(res.Messages) == 0 {
			fmt.Fprintf(r.progress, "read %d messages\n", len(out))
			return out, nil
		}
		for _, m := range res.Messages {
			id := aws.ToString(m.MessageId)
			if seen[id] {
				continue
			}
			seen[id] = true
			out = append(out, &dlqMessage{msg: m, id: id})
		}
		fmt.Fprintf(r.progress, "read %d messages...\n", len(out))
	}
}

// describe fills in what the message says about its finding.
func (m *dlqMessage) describe(p *wizpayload.Parser) {
	a := m.msg.Attributes
	if ms, err := strconv.ParseInt(a[string(sqstypes.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
		m.sent = time.UnixMilli(ms).UTC()
	}
	m.receives, _ = strconv.Atoi(a[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)])
	f, err := p.Parse([]byte(aws.ToString(m.msg.Body)))
	if err != nil {
		m.reason = "payload does not parse: " + err.Error()
		return
	}
	m.finding, m.account, m.resource, m.control = f.ID, f.Resource.Account, f.Resource.ID, f.Control.ID
}

// auditLookup finds a message's last failure in the audit table.
type auditLookup struct {
	db           *dynamodb.Client
	table, index string
	warn         io.Writer
	scan         bool // the index does not exist
}

func (a *auditLookup) lastFailure(ctx context.Context, m *dlqMessage) error {
	key := map[string]dbtypes.AttributeValue{":m": &dbtypes.AttributeValueMemberS{Value: m.id}}
	var items []map[string]dbtypes.AttributeValue
	if !a.scan {
		p := dynamodb.NewQueryPaginator(a.db, &dynamodb.QueryInput{
			TableName: aws.String(a.table), IndexName: aws.String(a.index),
			KeyConditionExpression: aws.String("message_id = :m"), ExpressionAttributeValues: key,
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			var ae smithy.APIError
			if errors.As(err, &ae) && (ae.ErrorCode() == "ValidationException" || ae.ErrorCode() == "ResourceNotFoundException") && len(items) == 0 {
				fmt.Fprintf(a.warn, "audit table %s has no index %s (%s); scanning the table instead, which is slow on a large table\n", a.table, a.index, ae.ErrorMessage())
				a.scan = true
				return a.lastFailure(ctx, m)
			}
			if err != nil {
				return fmt.Errorf("read audit records of message %s: %w", m.id, err)
			}
			items = append(items, page.Items...)
		}
	} else {
		p := dynamodb.NewScanPaginator(a.db, &dynamodb.ScanInput{
			TableName: aws.String(a.table), FilterExpression: aws.String("message_id = :m"), ExpressionAttributeValues: key,
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("scan audit table %s: %w", a.table, err)
			}
			items = append(items, page.Items...)
		}
	}
	var last *audit.Record
	for _, it := range items {
		rec, err := dynamo.DecodeAuditItem(it)
		if err != nil {
			return err
		}
		if rec.FailureReason == "" || (last != nil && !rec.Timings.Completed.After(last.Timings.Completed)) {
			continue
		}
		last = rec
	}
	if last == nil {
		if m.reason == "" {
			m.reason = "(no failure recorded in the audit table)"
		}
		return nil
	}
	m.reason, m.reasonAt = last.FailureReason, last.Timings.Completed
	if last.Outcome != string(remediate.OutcomeDeadLettered) {
		m.reason = last.Outcome + ": " + m.reason
	}
	return nil
}

// replay sends the selected messages, ten at a time, and deletes from the
// dead-letter queue those whose send succeeded.
func (r *replayer) replay(ctx context.Context, msgs []*dlqMessage, selected int) error {
	fifo := strings.HasSuffix(r.to, ".fifo")
	var batch []*dlqMessage
	var errs []error
	done := 0
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if err := r.sendBatch(ctx, batch, fifo); err != nil {
			errs = append(errs, err)
		}
		var sent []*dlqMessage
		for _, m := range batch {
			if m.replayed {
				sent = append(sent, m)
			}
		}
		if err := r.deleteBatch(ctx, sent); err != nil {
			errs = append(errs, err)
		}
		done += len(batch)
		fmt.Fprintf(r.progress, "replayed %d/%d\n", done, selected)
		batch = batch[:0]
	}
	for _, m := range msgs {
		if !m.selected {
			continue
		}
		batch = append(batch, m)
		if len(batch) == 10 {
			flush()
		}
	}
	flush()
	return errors.Join(errs...)
}

func (r *replayer) sendBatch(ctx context.Context, batch []*dlqMessage, fifo bool) error {
	in := &sqs.SendMessageBatchInput{QueueUrl: aws.String(r.to)}
	for i, m := range batch {
		e := sqstypes.SendMessageBatchRequestEntry{
			Id: aws.String(strconv.Itoa(i)), MessageBody: m.msg.Body, MessageAttributes: m.msg.MessageAttributes,
		}
		if len(e.MessageAttributes) < 10 {
			e.MessageAttributes = make(map[string]sqstypes.MessageAttributeValue, len(m.msg.MessageAttributes)+1)
			for k, v := range m.msg.MessageAttributes {
				e.MessageAttributes[k] = v
			}
			e.MessageAttributes[replayAttribute] = sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(m.id)}
		}
		if fifo {
			g := m.msg.Attributes[string(sqstypes.MessageSystemAttributeNameMessageGroupId)]
			if g == "" {
				g = "remedy-replay"
			}
			e.MessageGroupId, e.MessageDeduplicationId = aws.String(g), aws.String(m.id)
		}
		in.Entries = append(in.Entries, e)
	}
	out, err := r.sqs.SendMessageBatch(ctx, in)
	if err != nil {
		for _, m := range batch {
			m.sendFail = true
		}
		return fmt.Errorf("send %d messages to %s (they stay in the dead-letter queue): %w", len(batch), r.to, err)
	}
	for _, s := range out.Successful {
		if i, err := strconv.Atoi(aws.ToString(s.Id)); err == nil && i < len(batch) {
			batch[i].replayed = true
		}
	}
	var errs []error
	for _, f := range out.Failed {
		if i, err := strconv.Atoi(aws.ToString(f.Id)); err == nil && i < len(batch) {
			batch[i].sendFail = true
			errs = append(errs, fmt.Errorf("send message %s to %s (it stays in the dead-letter queue): %s: %s", batch[i].id, r.to, aws.ToString(f.Code), aws.ToString(f.Message)))
		}
	}
	return errors.Join(errs...)
}

func (r *replayer) deleteBatch(ctx context.Context, sent []*dlqMessage) error {
	if len(sent) == 0 {
		return nil
	}
	in := &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(r.dlq)}
	for i, m := range sent {
		in.Entries = append(in.Entries, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.msg.ReceiptHandle})
	}
	out, err := r.sqs.DeleteMessageBatch(ctx, in)
	if err != nil {
		return fmt.Errorf("delete %d replayed messages from the dead-letter queue (they were sent, so they will be delivered twice; the engine deduplicates them): %w", len(sent), err)
	}
	for _, s := range out.Successful {
		if i, err := strconv.Atoi(aws.ToString(s.Id)); err == nil && i < len(sent) {
			sent[i].deleted = true
		}
	}
	var errs []error
	for _, f := range out.Failed {
		if i, err := strconv.Atoi(aws.ToString(f.Id)); err == nil && i < len(sent) {
			errs = append(errs, fmt.Errorf("delete replayed message %s from the dead-letter queue (it was sent, so it will be delivered twice): %s: %s", sent[i].id, aws.ToString(f.Code), aws.ToString(f.Message)))
		}
	}
	return errors.Join(errs...)
}

// release makes every message that was read and not deleted visible
// again at once.
func (r *replayer) release(ctx context.Context, msgs []*dlqMessage) error {
	var keep []*dlqMessage
	for _, m := range msgs {
		if !m.deleted {
			keep = append(keep, m)
		}
	}
	var errs []error
	for chunk := range slices.Chunk(keep, 10) {
		in := &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(r.dlq)}
		for i, m := range chunk {
			in.Entries = append(in.Entries, sqstypes.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.msg.ReceiptHandle, VisibilityTimeout: 0})
		}
		out, err := r.sqs.ChangeMessageVisibilityBatch(ctx, in)
		if err != nil {
			errs = append(errs, fmt.Errorf("make %d messages visible again in the dead-letter queue (they reappear after --hold): %w", len(chunk), err))
			continue
		}
		for _, f := range out.Failed {
			errs = append(errs, fmt.Errorf("make a message visible again: %s: %s", aws.ToString(f.Code), aws.ToString(f.Message)))
		}
	}
	return errors.Join(errs...)
}

func printReplay(w io.Writer, msgs []*dlqMessage, dryRun bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tMESSAGE\tSENT\tRECEIVES\tFINDING\tACCOUNT\tLAST FAILURE")
	for _, m := range msgs {
		status := "kept"
		switch {
		case m.selected && dryRun:
			status = "would-replay"
		case m.deleted:
			status = "replayed"
		case m.replayed:
			status = "sent-not-deleted"
		case m.sendFail:
			status = "send-failed"
		}
		sent := "-"
		if !m.sent.IsZero() {
			sent = m.sent.Format(time.RFC3339)
		}
		// The reason is the last column and shown whole: the cause is
		// usually at the end of a wrapped error.
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", status, m.id, sent, m.receives, orDash(m.finding), orDash(m.account), orDash(m.reason))
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
