package dynamo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/remedy-sec/remedy/remediate"
)

// ApprovalAPI is the part of the DynamoDB client the approval store
// calls; *dynamodb.Client implements it.
type ApprovalAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

var _ ApprovalAPI = (*dynamodb.Client)(nil)

// ApprovalOptions configure an Approvals store.
type ApprovalOptions struct {
	// Retention is how long a request is kept after it expires, through
	// the table's TTL, so that a late approval is rejected as expired
	// rather than unknown. Default 7 days.
	Retention time.Duration
}

// Approvals is the approval store (remediate.ApprovalStore) in a
// DynamoDB table: one item per request, key "id", the request as JSON,
// its plan hash, and who consumed it. Consume is a conditional update,
// so that of two approval messages naming one request only the first
// ever uses it, across every worker. It is safe for concurrent use.
type Approvals struct {
	db        ApprovalAPI
	table     string
	retention time.Duration
}

var _ remediate.ApprovalStore = (*Approvals)(nil)

// NewApprovals returns the approval store in table (created with
// CreateApprovalTable, or by the reference template).
func NewApprovals(db ApprovalAPI, table string, optFns ...func(*ApprovalOptions)) *Approvals {
	o := ApprovalOptions{Retention: 7 * 24 * time.Hour}
	for _, fn := range optFns {
		fn(&o)
	}
	if o.Retention <= 0 {
		o.Retention = 7 * 24 * time.Hour
	}
	return &Approvals{db: db, table: table, retention: o.Retention}
}

// CreateApprovalTable creates the approval store's table as the
// reference template declares it — on demand, a string hash key "id",
// encrypted, TTL on "ttl" — and waits until it is active. `remedy tables
// create --approval-table` calls it.
func CreateApprovalTable(ctx context.Context, c TableAPI, name string) error {
	return createTable(ctx, c, name, tableSpec{key: aprID})
}

// Attribute names of the approval table.
const (
	aprID            = "id"
	aprRequest       = "request"
	aprPlanHash      = "plan_hash"
	aprExpires       = "expires"
	aprConsumedToken = "consumed_token"
	aprConsumedBy    = "consumed_by"
	aprConsumedAt    = "consumed_at"
)

// Put stores r unless a request of its id exists; one that exists with
// the same plan hash (a retried delivery) is left as it is.
func (s *Approvals) Put(ctx context.Context, r *remediate.ApprovalRequest) error {
	if r == nil || r.ID == "" {
		return remediate.Permanentf("dynamo: approvals: a request with an id is required")
	}
	c := *r
	c.Consumed = nil
	doc, err := json.Marshal(&c)
	if err != nil {
		return remediate.Permanentf("dynamo: approvals: encode request %s: %w", r.ID, err)
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{
			aprID: str(r.ID), aprRequest: str(string(doc)), aprPlanHash: str(r.PlanHash),
			aprExpires: str(r.Expires.UTC().Format(time.RFC3339Nano)),
			attrTTL:    &types.AttributeValueMemberN{Value: strconv.FormatInt(r.Expires.Add(s.retention).Unix(), 10)},
		},
		ConditionExpression:                 aws.String("attribute_not_exists(#id)"),
		ExpressionAttributeNames:            map[string]string{"#id": aprID},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var cf *types.ConditionalCheckFailedException
	if errors.As(err, &cf) {
		old, gerr := s.Get(ctx, r.ID)
		if gerr != nil {
			return fmt.Errorf("dynamo: approvals: request %s exists and could not be read: %w", r.ID, gerr)
		}
		if old.PlanHash == r.PlanHash {
			return nil
		}
		return remediate.Permanentf("dynamo: approvals: request %s is stored with another plan hash (%s, not %s)", r.ID, old.PlanHash, r.PlanHash)
	}
	if err != nil {
		return fmt.Errorf("dynamo: approvals: put request %s in %s: %w", r.ID, s.table, err)
	}
	return nil
}

// Get returns the request of id, read consistently, or an error wrapping
// remediate.ErrApprovalNotFound.
func (s *Approvals) Get(ctx context.Context, id string) (*remediate.ApprovalRequest, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            map[string]types.AttributeValue{aprID: str(id)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("dynamo: approvals: get request %s from %s: %w", id, s.table, err)
	}
	if len(out.Item) == 0 {
		return nil, fmt.Errorf("%w: %q in table %s", remediate.ErrApprovalNotFound, id, s.table)
	}
	return decodeApproval(out.Item)
}

// Consume marks the request of id consumed by c with a conditional
// update that succeeds only if no other token consumed it.
func (s *Approvals) Consume(ctx context.Context, id string, c remediate.ApprovalConsumption) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.table),
		Key:                 map[string]types.AttributeValue{aprID: str(id)},
		UpdateExpression:    aws.String("SET #t = :t, #by = :by, #at = :at"),
		ConditionExpression: aws.String("attribute_exists(#id) AND (attribute_not_exists(#t) OR #t = :t)"),
		ExpressionAttributeNames: map[string]string{
			"#id": aprID, "#t": aprConsumedToken, "#by": aprConsumedBy, "#at": aprConsumedAt,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":t": str(c.Token), ":by": str(c.Approver), ":at": str(c.Time.UTC().Format(time.RFC3339Nano)),
		},
	})
	var cf *types.ConditionalCheckFailedException
	if !errors.As(err, &cf) {
		if err != nil {
			return fmt.Errorf("dynamo: approvals: consume request %s in %s: %w", id, s.table, err)
		}
		return nil
	}
	// Tell a missing request from one another approval used.
	old, gerr := s.Get(ctx, id)
	switch {
	case errors.Is(gerr, remediate.ErrApprovalNotFound):
		return gerr
	case gerr != nil:
		return fmt.Errorf("dynamo: approvals: request %s could not be consumed, and could not be read: %w", id, gerr)
	case old.Consumed == nil:
		// The condition failed, yet nothing consumed it: retry.
		return fmt.Errorf("dynamo: approvals: consume request %s: the condition failed on an unconsumed request; try again", id)
	}
	return fmt.Errorf("%w: request %s was approved by %s at %s", remediate.ErrApprovalConsumed, id, old.Consumed.Approver, old.Consumed.Time.UTC().Format(time.RFC3339))
}

// decodeApproval reads one item; a malformed one is a permanent error.
func decodeApproval(it map[string]types.AttributeValue) (*remediate.ApprovalRequest, error) {
	get := func(k string) (string, bool) {
		v, ok := it[k].(*types.AttributeValueMemberS)
		if !ok {
			return "", false
		}
		return v.Value, true
	}
	id, _ := get(aprID)
	doc, ok := get(aprRequest)
	if !ok {
		return nil, remediate.Permanentf("dynamo: approvals: item %q has no string attribute %q", id, aprRequest)
	}
	var r remediate.ApprovalRequest
	if err := json.Unmarshal([]byte(doc), &r); err != nil {
		return nil, remediate.Permanentf("dynamo: approvals: item %q: attribute %q is not a request: %w", id, aprRequest, err)
	}
	if r.ID != id {
		return nil, remediate.Permanentf("dynamo: approvals: item %q holds the request of id %q", id, r.ID)
	}
	if h, _ := get(aprPlanHash); h != r.PlanHash {
		return nil, remediate.Permanentf("dynamo: approvals: item %q: plan_hash %q differs from its request's %q", id, h, r.PlanHash)
	}
	if tok, ok := get(aprConsumedToken); ok {
		by, _ := get(aprConsumedBy)
		at, _ := get(aprConsumedAt)
		t, _ := time.Parse(time.RFC3339Nano, at)
		r.Consumed = &remediate.ApprovalConsumption{Token: tok, Approver: by, Time: t}
	} else {
		r.Consumed = nil
	}
	return &r, nil
}
