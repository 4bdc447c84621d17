package dynamo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/remedy-sec/remedy/eligibility"
	"github.com/remedy-sec/remedy/remediate"
)

// ExceptionAPI is the part of the DynamoDB client the exception store
// calls; *dynamodb.Client implements it.
type ExceptionAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

var _ ExceptionAPI = (*dynamodb.Client)(nil)

// ExceptionOptions configure an Exceptions store.
type ExceptionOptions struct {
	// Now returns the current time, recorded when an exception is added
	// or revoked. Nil means time.Now.
	Now func() time.Time
}

// Exceptions is the exception store in a DynamoDB table: the exceptions
// `remedy exception add` writes, which eligibility.Policy consults
// through eligibility.Options.Exceptions. It is safe for concurrent use.
type Exceptions struct {
	db    ExceptionAPI
	table string
	now   func() time.Time
}

var _ eligibility.ExceptionSource = (*Exceptions)(nil)

// NewExceptions returns the exception store in table.
func NewExceptions(db ExceptionAPI, table string, optFns ...func(*ExceptionOptions)) *Exceptions {
	var o ExceptionOptions
	for _, fn := range optFns {
		fn(&o)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Exceptions{db: db, table: table, now: o.Now}
}

// ExceptionRecord is an exception as the store keeps it.
type ExceptionRecord struct {
	eligibility.Exception
	// Created is when it was added.
	Created time.Time `json:"created"`
	// Revoked is when it was revoked; zero while it is not.
	Revoked time.Time `json:"revoked,omitzero"`
}

// Status is "revoked", "expired" or "active" at now.
func (r ExceptionRecord) Status(now time.Time) string {
	switch {
	case !r.Revoked.IsZero():
		return "revoked"
	case !r.Active(now):
		return "expired"
	}
	return "active"
}

// ErrExceptionNotFound is returned by Revoke for an id the store does not
// hold, or holds already revoked.
var ErrExceptionNotFound = errors.New("dynamo: no such unrevoked exception")

// Item attributes of the exception table.
const (
	excID       = "id"
	excOwner    = "owner"
	excReason   = "reason"
	excResource = "resource"
	excControl  = "control"
	excAccount  = "account"
	excTagKey   = "tag_key"
	excTagValue = "tag_value"
	excExpires  = "expires" // RFC 3339, the first instant it no longer applies
	excCreated  = "created_at"
	excRevoked  = "revoked_at"
)

// Add stores e, which must be valid (eligibility.Exception.Validate); an
// empty ID is given a random one ("exc-" and 16 hex digits). It returns
// the exception as stored. An id already in the table is an error: an
// exception is never overwritten.
func (s *Exceptions) Add(ctx context.Context, e eligibility.Exception) (eligibility.Exception, error) {
	if e.ID == "" {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return e, fmt.Errorf("dynamo: exception id: %w", err)
		}
		e.ID = "exc-" + hex.EncodeToString(b[:])
	}
	if err := e.Validate(); err != nil {
		return e, err
	}
	item := map[string]types.AttributeValue{
		excID:      str(e.ID),
		excOwner:   str(e.Owner),
		excReason:  str(e.Reason),
		excExpires: str(e.Expires.UTC().Format(time.RFC3339Nano)),
		excCreated: str(s.now().UTC().Format(time.RFC3339Nano)),
	}
	for k, v := range map[string]string{excResource: e.Resource, excControl: e.Control, excAccount: e.Account, excTagKey: e.TagKey, excTagValue: e.TagValue} {
		if v != "" {
			item[k] = str(v)
		}
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(s.table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#id)"),
		ExpressionAttributeNames: map[string]string{"#id": excID},
	})
	var cf *types.ConditionalCheckFailedException
	if errors.As(err, &cf) {
		return e, fmt.Errorf("dynamo: exception %q already exists in table %s: choose another id", e.ID, s.table)
	}
	if err != nil {
		return e, fmt.Errorf("dynamo: add exception %q to table %s: %w", e.ID, s.table, err)
	}
	return e, nil
}

// Revoke marks exception id revoked, so it no longer applies; the item
// stays for the record. It returns ErrExceptionNotFound when the table
// holds no unrevoked exception of that id.
func (s *Exceptions) Revoke(ctx context.Context, id string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       map[string]types.AttributeValue{excID: str(id)},
		UpdateExpression:          aws.String("SET #rev = :now"),
		ConditionExpression:       aws.String("attribute_exists(#id) AND attribute_not_exists(#rev)"),
		ExpressionAttributeNames:  map[string]string{"#id": excID, "#rev": excRevoked},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": str(s.now().UTC().Format(time.RFC3339Nano))},
	})
	var cf *types.ConditionalCheckFailedException
	if errors.As(err, &cf) {
		return fmt.Errorf("%w: %q in table %s", ErrExceptionNotFound, id, s.table)
	}
	if err != nil {
		return fmt.Errorf("dynamo: revoke exception %q in table %s: %w", id, s.table, err)
	}
	return nil
}

// List returns every exception of the table — active, expired and
// revoked — sorted by id. It reads consistently.
func (s *Exceptions) List(ctx context.Context) ([]ExceptionRecord, error) {
	var out []ExceptionRecord
	var start map[string]types.AttributeValue
	for {
		page, err := s.db.Scan(ctx, &dynamodb.ScanInput{
			TableName:         aws.String(s.table),
			ConsistentRead:    aws.Bool(true),
			ExclusiveStartKey: start,
		})
		if err != nil {
			return nil, fmt.Errorf("dynamo: read the exception table %s: %w", s.table, err)
		}
		for _, it := range page.Items {
			r, err := decodeException(it)
			if err != nil {
				return nil, remediate.Permanent(fmt.Errorf("dynamo: exception table %s: %w", s.table, err))
			}
			out = append(out, r)
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		start = page.LastEvaluatedKey
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Exceptions implements eligibility.ExceptionSource: it returns every
// unrevoked exception of the table (the policy matches scope and
// expiry). It reads the whole table consistently on every call, so an
// exception applies, and a revocation takes effect, at once; the table
// is meant to hold tens or hundreds of exceptions, not millions. An
// error reading the table is returned as it is (transient); an item that
// cannot be read as an exception is a permanent error, so findings go to
// review until it is fixed or revoked.
func (s *Exceptions) Exceptions(ctx context.Context, _ *remediate.Finding) ([]eligibility.Exception, error) {
	all, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]eligibility.Exception, 0, len(all))
	for _, r := range all {
		if r.Revoked.IsZero() {
			out = append(out, r.Exception)
		}
	}
	return out, nil
}

// CreateExceptionTable creates the exception store's table — on demand,
// a string hash key "id", encrypted, point-in-time recovery — and waits
// until it is active. A table of that name with that key is left as it
// is. `remedy tables create --exception-table` calls it.
func CreateExceptionTable(ctx context.Context, c TableAPI, name string) error {
	return createTable(ctx, c, name, tableSpec{key: excID, pitr: true})
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

// decodeException reads one item; every field the store writes must be
// there and of the right type.
func decodeException(it map[string]types.AttributeValue) (ExceptionRecord, error) {
	get := func(k string) (string, error) {
		v, ok := it[k]
		if !ok {
			return "", nil
		}
		s, ok := v.(*types.AttributeValueMemberS)
		if !ok {
			return "", fmt.Errorf("attribute %s is not a string", k)
		}
		return s.Value, nil
	}
	var (
		r    ExceptionRecord
		errs []error
	)
	text := func(k string, dst *string) {
		v, err := get(k)
		errs = append(errs, err)
		*dst = v
	}
	instant := func(k string, dst *time.Time) {
		var v string
		text(k, &v)
		if v == "" {
			return
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			errs = append(errs, fmt.Errorf("attribute %s %q is not an RFC 3339 time", k, v))
		}
		*dst = t
	}
	text(excID, &r.ID)
	text(excOwner, &r.Owner)
	text(excReason, &r.Reason)
	text(excResource, &r.Resource)
	text(excControl, &r.Control)
	text(excAccount, &r.Account)
	text(excTagKey, &r.TagKey)
	text(excTagValue, &r.TagValue)
	instant(excExpires, &r.Expires)
	instant(excCreated, &r.Created)
	instant(excRevoked, &r.Revoked)
	if err := errors.Join(errs...); err != nil {
		return r, fmt.Errorf("exception %q: %w", r.ID, err)
	}
	if err := r.Validate(); err != nil {
		return r, err
	}
	return r, nil
}
