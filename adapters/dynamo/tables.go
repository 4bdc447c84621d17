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
	UpdateContinuousBackups(ctx context.Context, in *dynamodb.UpdateContinuousBackupsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateContinuousBackupsOutput, error)
}

var _ TableAPI = (*dynamodb.Client)(nil)

// AuditMessageIndex is the audit table's global secondary index on
// message_id, which `remedy replay` queries to find a dead-lettered
// message's last failure.
const AuditMessageIndex = "by-message-id"

// CreateIdempotencyTable creates the idempotency store's table as the
// reference template (examples/lambda/template.yaml) declares it —
// on demand, a string hash key "pk", encrypted, TTL on "ttl" — and waits
// until it is active. A table of that name with that key is left as it
// is. `remedy tables create` calls it.
func CreateIdempotencyTable(ctx context.Context, c TableAPI, name string) error {
	return createTable(ctx, c, name, tableSpec{key: attrKey})
}

// CreateAuditTable creates the audit sink's table as the reference
// template declares it — on demand, a string hash key "id", the global
// secondary index AuditMessageIndex on "message_id", encrypted, TTL on
// "ttl" (used when AuditOptions.Retention is set) and point-in-time
// recovery — and waits until it is active. `remedy tables create` calls
// it.
func CreateAuditTable(ctx context.Context, c TableAPI, name string) error {
	return createTable(ctx, c, name, tableSpec{key: "id", index: AuditMessageIndex, indexKey: "message_id", pitr: true})
}

// tableSpec is what differs between the two tables.
type tableSpec struct {
	key             string
	index, indexKey string // a global secondary index, if any
	pitr            bool   // point-in-time recovery
}

func createTable(ctx context.Context, c TableAPI, name string, spec tableSpec) error {
	str := types.ScalarAttributeTypeS
	in := &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(spec.key), AttributeType: str}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(spec.key), KeyType: types.KeyTypeHash}},
		SSESpecification:     &types.SSESpecification{Enabled: aws.Bool(true)},
	}
	if spec.index != "" {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String(spec.indexKey), AttributeType: str})
		in.GlobalSecondaryIndexes = []types.GlobalSecondaryIndex{{
			IndexName:  aws.String(spec.index),
			KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String(spec.indexKey), KeyType: types.KeyTypeHash}},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}}
	}
	_, err := c.CreateTable(ctx, in)
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
	if ks := desc.Table.KeySchema; len(ks) != 1 || aws.ToString(ks[0].AttributeName) != spec.key {
		return fmt.Errorf("dynamo: table %s exists with another key schema; want a single hash key %q", name, spec.key)
	}
	_, err = c.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(name),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(attrTTL), Enabled: aws.Bool(true)},
	})
	if err != nil && !alreadyTTL(err) {
		return fmt.Errorf("dynamo: enable TTL on table %s: %w", name, err)
	}
	if spec.pitr {
		_, err = c.UpdateContinuousBackups(ctx, &dynamodb.UpdateContinuousBackupsInput{
			TableName:                        aws.String(name),
			PointInTimeRecoverySpecification: &types.PointInTimeRecoverySpecification{PointInTimeRecoveryEnabled: aws.Bool(true)},
		})
		if err != nil {
			return fmt.Errorf("dynamo: enable point-in-time recovery on table %s: %w", name, err)
		}
	}
	return nil
}

// alreadyTTL reports whether UpdateTimeToLive failed only because TTL is
// already enabled, as when the table existed.
func alreadyTTL(err error) bool {
	var ve interface{ ErrorMessage() string }
	return errors.As(err, &ve) && strings.Contains(strings.ToLower(ve.ErrorMessage()), "already enabled")
}
