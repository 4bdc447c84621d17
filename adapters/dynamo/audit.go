package dynamo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/remedy-sec/remedy/audit"
)

// AuditAPI is the part of the DynamoDB client the audit sink calls;
// *dynamodb.Client implements it.
type AuditAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

var _ AuditAPI = (*dynamodb.Client)(nil)

// AuditOptions configure an AuditSink.
type AuditOptions struct {
	// Retention, if positive, sets the "ttl" attribute of each item to
	// the record's time plus Retention, for DynamoDB's TTL deletion.
	// Zero keeps records until they are deleted by other means.
	Retention time.Duration
}

// AuditSink is an audit.Sink that stores one DynamoDB item per record. It
// is safe for concurrent use.
type AuditSink struct {
	c     AuditAPI
	table string
	o     AuditOptions
}

var _ audit.Sink = (*AuditSink)(nil)

// ErrNotFound is returned by AuditSink.Get for an id with no record.
var ErrNotFound = errors.New("dynamo: audit record not found")

// maxRecordBytes keeps an item, with its index attributes, under
// DynamoDB's 400 KB item limit.
const maxRecordBytes = 350 << 10

// NewAuditSink returns a sink writing to table, which must have the key
// schema that CreateAuditTable creates.
func NewAuditSink(client AuditAPI, table string, optFns ...func(*AuditOptions)) *AuditSink {
	var o AuditOptions
	for _, fn := range optFns {
		fn(&o)
	}
	return &AuditSink{c: client, table: table, o: o}
}

// Write stores r. It returns nil once the item is stored, including when
// the same record was stored before (a retried write).
func (s *AuditSink) Write(ctx context.Context, r *audit.Record) error {
	if r == nil || r.ID == "" {
		return errors.New("dynamo: audit record without an id")
	}
	doc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("dynamo: encode audit record %s: %w", r.ID, err)
	}
	if len(doc) > maxRecordBytes {
		return fmt.Errorf("dynamo: audit record %s is %d bytes, over the %d-byte limit of a DynamoDB item", r.ID, len(doc), maxRecordBytes)
	}
	item := map[string]types.AttributeValue{
		"id":     &types.AttributeValueMemberS{Value: r.ID},
		"record": &types.AttributeValueMemberS{Value: string(doc)},
		"time":   &types.AttributeValueMemberS{Value: r.Time.UTC().Format(time.RFC3339Nano)},
	}
	for name, v := range map[string]string{
		"outcome": r.Outcome, "decision": r.Decision, "action": r.Action,
		"finding_id": r.Finding.ID, "resource_id": r.Resource.ID, "account": r.Resource.Account,
		"message_id": r.Correlation.MessageID, "correlation_id": r.Correlation.CorrelationID,
	} {
		if v != "" {
			item[name] = &types.AttributeValueMemberS{Value: v}
		}
	}
	if s.o.Retention > 0 {
		item[attrTTL] = epochSeconds(r.Time.Add(s.o.Retention))
	}
	_, err = s.c.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String(s.table),
		Item:                                item,
		ConditionExpression:                 aws.String("attribute_not_exists(#id)"),
		ExpressionAttributeNames:            map[string]string{"#id": "id"},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &ccf):
		return fmt.Errorf("dynamo: write audit record %s to %s: %w", r.ID, s.table, err)
	}
	old := ccf.Item
	if old == nil {
		if old, err = s.getItem(ctx, r.ID); err != nil {
			return err
		}
	}
	if prev, ok := old["record"].(*types.AttributeValueMemberS); ok && bytes.Equal([]byte(prev.Value), doc) {
		return nil // stored by an earlier attempt
	}
	return fmt.Errorf("dynamo: audit record id %s is already stored in %s with different content", r.ID, s.table)
}

// Get returns the record stored under id, or an error wrapping
// ErrNotFound.
func (s *AuditSink) Get(ctx context.Context, id string) (*audit.Record, error) {
	item, err := s.getItem(ctx, id)
	if err != nil {
		return nil, err
	}
	if item == nil {
		return nil, fmt.Errorf("dynamo: audit record %s in %s: %w", id, s.table, ErrNotFound)
	}
	return DecodeAuditItem(item)
}

func (s *AuditSink) getItem(ctx context.Context, id string) (map[string]types.AttributeValue, error) {
	out, err := s.c.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("dynamo: read audit record %s from %s: %w", id, s.table, err)
	}
	return out.Item, nil
}

// DecodeAuditItem returns the record held by an item of the audit table,
// as read by GetItem, Query or Scan.
func DecodeAuditItem(item map[string]types.AttributeValue) (*audit.Record, error) {
	doc, ok := item["record"].(*types.AttributeValueMemberS)
	if !ok {
		return nil, errors.New("dynamo: audit item has no record attribute")
	}
	var r audit.Record
	if err := json.Unmarshal([]byte(doc.Value), &r); err != nil {
		return nil, fmt.Errorf("dynamo: decode audit item: %w", err)
	}
	return &r, nil
}
