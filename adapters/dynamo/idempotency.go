package dynamo

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/remediate"
)

// IdempotencyAPI is the part of the DynamoDB client the idempotency store
// calls; *dynamodb.Client implements it.
type IdempotencyAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

var _ IdempotencyAPI = (*dynamodb.Client)(nil)

// IdempotencyOptions configure an Idempotency store.
type IdempotencyOptions struct {
	// ClaimTTL is how long a claim lasts before another worker may take
	// it over. Keep it above the engine's Timeout. Default 5 minutes.
	ClaimTTL time.Duration
	// DoneTTL is how long a completed key is remembered. Default 24
	// hours, longer than a redelivered message lives in SQS by default.
	DoneTTL time.Duration
	// Now is for tests. Nil means time.Now.
	Now func() time.Time
}

// Idempotency is a remediate.IdempotencyStore in a DynamoDB table, shared
// by every process that uses the table. It is safe for concurrent use.
type Idempotency struct {
	c     IdempotencyAPI
	table string
	o     IdempotencyOptions

	// claims holds each claim this store holds, from Begin to Complete
	// or Release; the engine always ends a claim, so it holds no more
	// than the messages in flight.
	mu     sync.Mutex
	claims map[string]*claim
}

// claim is one claim this store holds.
type claim struct {
	token string
	// kept is the kept record the claim's update returned (nil: none),
	// until Kept reads it; keptKnown is false when it did not return the
	// item or Kept already read it.
	kept      *string
	keptKnown bool
}

var (
	_ remediate.IdempotencyStore = (*Idempotency)(nil)
	_ remediate.RecordKeeper     = (*Idempotency)(nil)
)

// Attribute names and values of the idempotency table.
const (
	attrKey       = "pk"
	attrStatus    = "status"
	attrExpiresAt = "expires_at"
	attrOwner     = "owner"
	attrTTL       = "ttl"
	attrKept      = "kept_record" // JSON of a record whose audit write failed

	statusInProgress = "in_progress"
	statusDone       = "done"
)

// NewIdempotency returns a store in table, which must have the key schema
// that CreateIdempotencyTable creates.
func NewIdempotency(client IdempotencyAPI, table string, optFns ...func(*IdempotencyOptions)) *Idempotency {
	o := IdempotencyOptions{ClaimTTL: 5 * time.Minute, DoneTTL: 24 * time.Hour}
	for _, fn := range optFns {
		fn(&o)
	}
	if o.ClaimTTL <= 0 {
		o.ClaimTTL = 5 * time.Minute
	}
	if o.DoneTTL <= 0 {
		o.DoneTTL = 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Idempotency{c: client, table: table, o: o, claims: make(map[string]*claim)}
}

// Begin claims key. It returns nil when the caller now owns it,
// remediate.ErrAlreadyDone when it was completed and has not expired, and
// remediate.ErrInProgress when another claim holds it; any other error is
// transient.
func (s *Idempotency) Begin(ctx context.Context, key string) error {
	now := s.o.Now()
	exp := now.Add(s.o.ClaimTTL)
	token := rand.Text()
	// An update, not a put, so that a record kept by an earlier claim
	// (see Keep) survives into this one. The claim ends at #exp; the item
	// itself (with any kept record) lives until #ttl, as long as a done
	// marker, so that a retry after back-offs or a replay finds it.
	out, err := s.c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(s.table),
		Key:              map[string]types.AttributeValue{attrKey: &types.AttributeValueMemberS{Value: key}},
		UpdateExpression: aws.String("SET #st = :inprogress, #owner = :owner, #exp = :exp, #ttl = :ttl"),
		// The item as claimed, kept record included: Kept needs no read.
		ReturnValues:        types.ReturnValueAllNew,
		ConditionExpression: aws.String("attribute_not_exists(#pk) OR #exp <= :now"),
		ExpressionAttributeNames: map[string]string{
			"#pk": attrKey, "#st": attrStatus, "#owner": attrOwner, "#exp": attrExpiresAt, "#ttl": attrTTL,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":inprogress": &types.AttributeValueMemberS{Value: statusInProgress},
			":owner":      &types.AttributeValueMemberS{Value: token},
			":exp":        millis(exp),
			":ttl":        epochSeconds(now.Add(s.o.DoneTTL)),
			":now":        millis(now),
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		c := &claim{token: token, keptKnown: out.Attributes != nil} // some DynamoDB-compatible endpoints return nothing
		if v, ok := out.Attributes[attrKept].(*types.AttributeValueMemberS); ok {
			c.kept = &v.Value
		}
		s.mu.Lock()
		s.claims[key] = c
		s.mu.Unlock()
		return nil
	case !errors.As(err, &ccf):
		return fmt.Errorf("dynamo: claim idempotency key in %s: %w", s.table, err)
	}
	item := ccf.Item
	if item == nil {
		// Not every DynamoDB-compatible endpoint returns the old item.
		out, err := s.c.GetItem(ctx, &dynamodb.GetItemInput{
			TableName:      aws.String(s.table),
			Key:            map[string]types.AttributeValue{attrKey: &types.AttributeValueMemberS{Value: key}},
			ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return fmt.Errorf("dynamo: read idempotency key in %s: %w", s.table, err)
		}
		item = out.Item
	}
	if st, ok := item[attrStatus].(*types.AttributeValueMemberS); ok && st.Value == statusDone {
		return remediate.ErrAlreadyDone
	}
	if o, ok := item[attrOwner].(*types.AttributeValueMemberS); ok && o.Value == token {
		// Our own claim: the first attempt landed and its answer was
		// lost, so the SDK's retry met the condition it had just met.
		c := &claim{token: token, keptKnown: true}
		if v, ok := item[attrKept].(*types.AttributeValueMemberS); ok {
			c.kept = &v.Value
		}
		s.mu.Lock()
		s.claims[key] = c
		s.mu.Unlock()
		return nil
	}
	// In progress, or released between the put and the read: either way
	// someone else was first, and a retry will see the outcome — after
	// the claim expires, if its holder died.
	if n, ok := item[attrExpiresAt].(*types.AttributeValueMemberN); ok {
		if ms, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
			return &remediate.InProgressError{Until: time.UnixMilli(ms)}
		}
	}
	return remediate.ErrInProgress
}

// Complete marks key done for DoneTTL. It does not check the claim: the
// caller's audit record is durable, and a done marker is what every other
// claimant must see.
func (s *Idempotency) Complete(ctx context.Context, key string) error {
	s.forget(key)
	exp := s.o.Now().Add(s.o.DoneTTL)
	_, err := s.c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(s.table),
		Key:              map[string]types.AttributeValue{attrKey: &types.AttributeValueMemberS{Value: key}},
		UpdateExpression: aws.String("SET #st = :done, #exp = :exp, #ttl = :ttl REMOVE #owner, #kept"),
		ExpressionAttributeNames: map[string]string{
			"#st": attrStatus, "#exp": attrExpiresAt, "#ttl": attrTTL, "#owner": attrOwner, "#kept": attrKept,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":done": &types.AttributeValueMemberS{Value: statusDone},
			":exp":  millis(exp),
			":ttl":  epochSeconds(exp),
		},
	})
	if err != nil {
		return fmt.Errorf("dynamo: complete idempotency key in %s: %w", s.table, err)
	}
	return nil
}

// Release drops this store's claim on key so that a retry can take it.
// It does nothing when the key is done, or claimed by someone else after
// this store's claim expired. A kept record stays for the retry: the
// claim then only expires.
func (s *Idempotency) Release(ctx context.Context, key string) error {
	token := s.forget(key)
	if token == "" {
		// Not claimed through this store: releasing it could end another
		// worker's claim.
		return nil
	}
	cond := "#st = :inprogress AND #owner = :owner"
	names := map[string]string{"#st": attrStatus, "#owner": attrOwner, "#kept": attrKept}
	values := map[string]types.AttributeValue{
		":inprogress": &types.AttributeValueMemberS{Value: statusInProgress},
		":owner":      &types.AttributeValueMemberS{Value: token},
	}
	_, err := s.c.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(s.table),
		Key:                       map[string]types.AttributeValue{attrKey: &types.AttributeValueMemberS{Value: key}},
		ConditionExpression:       aws.String(cond + " AND attribute_not_exists(#kept)"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		// Either not ours to release, or a record is kept: expire the
		// claim and leave the record.
		names["#exp"], names["#own"] = attrExpiresAt, attrOwner
		values[":now"] = millis(s.o.Now())
		_, err = s.c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(s.table),
			Key:                       map[string]types.AttributeValue{attrKey: &types.AttributeValueMemberS{Value: key}},
			UpdateExpression:          aws.String("SET #exp = :now REMOVE #own"),
			ConditionExpression:       aws.String(cond + " AND attribute_exists(#kept)"),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		})
	}
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("dynamo: release idempotency key in %s: %w", s.table, err)
	}
	return nil
}

// Keep stores r with this store's claim on key, for the retry (see
// remediate.RecordKeeper). The record must fit in a DynamoDB item.
func (s *Idempotency) Keep(ctx context.Context, key string, r *audit.Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("dynamo: encode kept record: %w", err)
	}
	s.mu.Lock()
	var token string
	if c := s.claims[key]; c != nil {
		token = c.token
	}
	s.mu.Unlock()
	if token == "" {
		return fmt.Errorf("dynamo: keep record: this store holds no claim on %q", key)
	}
	// The kept record must outlive the claim until the retry, which may
	// come after back-offs or from the dead-letter queue: it lives as
	// long as a done marker.
	_, err = s.c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      map[string]types.AttributeValue{attrKey: &types.AttributeValueMemberS{Value: key}},
		UpdateExpression:         aws.String("SET #kept = :rec, #ttl = :ttl"),
		ConditionExpression:      aws.String("#st = :inprogress AND #owner = :owner"),
		ExpressionAttributeNames: map[string]string{"#kept": attrKept, "#st": attrStatus, "#owner": attrOwner, "#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":rec":        &types.AttributeValueMemberS{Value: string(b)},
			":inprogress": &types.AttributeValueMemberS{Value: statusInProgress},
			":owner":      &types.AttributeValueMemberS{Value: token},
			":ttl":        epochSeconds(s.o.Now().Add(s.o.DoneTTL)),
		},
	})
	if err != nil {
		return fmt.Errorf("dynamo: keep record in %s: %w", s.table, err)
	}
	return nil
}

// Kept returns the record kept for key, or nil. Right after this store's
// Begin it answers from what the claim returned, without a call.
func (s *Idempotency) Kept(ctx context.Context, key string) (*audit.Record, error) {
	s.mu.Lock()
	var raw *string
	var known bool
	if c := s.claims[key]; c != nil && c.keptKnown {
		raw, known = c.kept, true
		c.kept, c.keptKnown = nil, false
	}
	s.mu.Unlock()
	if !known {
		out, err := s.c.GetItem(ctx, &dynamodb.GetItemInput{
			TableName:      aws.String(s.table),
			Key:            map[string]types.AttributeValue{attrKey: &types.AttributeValueMemberS{Value: key}},
			ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return nil, fmt.Errorf("dynamo: read kept record in %s: %w", s.table, err)
		}
		if v, ok := out.Item[attrKept].(*types.AttributeValueMemberS); ok {
			raw = &v.Value
		}
	}
	if raw == nil {
		return nil, nil
	}
	var r audit.Record
	if err := json.Unmarshal([]byte(*raw), &r); err != nil {
		return nil, fmt.Errorf("dynamo: decode kept record for %q: %w", key, err)
	}
	return &r, nil
}

// forget removes and returns the token of this store's claim on key.
func (s *Idempotency) forget(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.claims[key]
	delete(s.claims, key)
	if c == nil {
		return ""
	}
	return c.token
}

func millis(t time.Time) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.UnixMilli(), 10)}
}

// epochSeconds rounds t up to whole seconds, the unit of DynamoDB TTL.
func epochSeconds(t time.Time) types.AttributeValue {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(s, 10)}
}
