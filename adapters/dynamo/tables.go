package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TableAPI is the part of the DynamoDB client the table helpers call;
// *dynamodb.Client implements it.
type TableAPI interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

var _ TableAPI = (*dynamodb.Client)(nil)

// CreateIdempotencyTable creates an on-demand table with the key schema
// of the idempotency store and TTL on "ttl", and waits until it is
// active. It is meant for tests and demos; deployments declare the table
// in their template.
func CreateIdempotencyTable(ctx context.Context, c TableAPI, name string) error {
	return createTable(ctx, c, name, attrKey)
}

// CreateAuditTable creates an on-demand table with the key schema of the
// audit sink and TTL on "ttl" (used when AuditOptions.Retention is set),
// and waits until it is active. It is meant for tests and demos.
func CreateAuditTable(ctx context.Context, c TableAPI, name string) error {
	return createTable(ctx, c, name, "id")
}

func createTable(ctx context.Context, c TableAPI, name, key string) error {
	_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(key), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(key), KeyType: types.KeyTypeHash}},
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("dynamo: create table %s: %w", name, err)
	}
	w := dynamodb.NewTableExistsWaiter(c, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = time.Second, 5*time.Second
	})
	desc, err := w.WaitForOutput(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 5*time.Minute)
	if err != nil {
		return fmt.Errorf("dynamo: wait for table %s: %w", name, err)
	}
	if ks := desc.Table.KeySchema; len(ks) != 1 || aws.ToString(ks[0].AttributeName) != key {
		return fmt.Errorf("dynamo: table %s exists with another key schema; want a single hash key %q", name, key)
	}
	_, err = c.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(name),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(attrTTL), Enabled: aws.Bool(true)},
	})
	if err != nil && !alreadyTTL(err) {
		return fmt.Errorf("dynamo: enable TTL on table %s: %w", name, err)
	}
	return nil
}

// alreadyTTL reports whether UpdateTimeToLive failed only because TTL is
// already enabled, as when the table existed.
func alreadyTTL(err error) bool {
	var ve interface{ ErrorMessage() string }
	return errors.As(err, &ve) && strings.Contains(strings.ToLower(ve.ErrorMessage()), "already enabled")
}
