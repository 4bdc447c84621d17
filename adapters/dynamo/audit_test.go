package dynamo_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/remedy-sec/remedy/adapters/dynamo"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/audit/audittest"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

// scan returns every record in the audit table.
func scan(t *testing.T, c *dynamodb.Client, table string) []audit.Record {
	t.Helper()
	var out []audit.Record
	p := dynamodb.NewScanPaginator(c, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(mototest.Context(t))
		if err != nil {
			t.Fatalf("Scan: %v", err)
		}
		for _, item := range page.Items {
			r, err := dynamo.DecodeAuditItem(item)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, *r)
		}
	}
	return out
}

func TestAuditSinkConformance(t *testing.T) {
	// Each sub-test gets its own table; Read finds it from the sink.
	tables := map[audit.Sink]string{}
	var client *dynamodb.Client
	audittest.Run(t, audittest.Harness{
		New: func(t *testing.T) audit.Sink {
			c, table := newTable(t, dynamo.CreateAuditTable)
			client = c
			s := dynamo.NewAuditSink(c, table)
			tables[s] = table
			return s
		},
		Read: func(t *testing.T, s audit.Sink) []audit.Record {
			return scan(t, client, tables[s])
		},
	})
}

func TestAuditSinkRetriedWrite(t *testing.T) {
	c, table := newTable(t, dynamo.CreateAuditTable)
	ctx := mototest.Context(t)
	s := dynamo.NewAuditSink(c, table)
	r := audittest.Record("retry-1")
	for i := range 3 {
		if err := s.Write(ctx, r); err != nil {
			t.Fatalf("write %d: %v", i+1, err)
		}
	}
	if got := len(scan(t, c, table)); got != 1 {
		t.Errorf("%d items after three writes of one record, want 1", got)
	}
	other := audittest.Record("retry-1")
	other.Outcome = "failed"
	if err := s.Write(ctx, other); err == nil {
		t.Errorf("Write of a different record under a stored id returned nil")
	}
	got, err := s.Get(ctx, "retry-1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, got, cmpopts.EquateEmpty(), cmp.Comparer(func(a, b []byte) bool { return string(a) == string(b) })); diff != "" {
		t.Errorf("Get (-written +read):\n%s", diff)
	}
	if _, err := s.Get(ctx, "missing"); !errors.Is(err, dynamo.ErrNotFound) {
		t.Errorf("Get of a missing id = %v, want ErrNotFound", err)
	}
}

func TestAuditSinkItem(t *testing.T) {
	c, table := newTable(t, dynamo.CreateAuditTable)
	ctx := mototest.Context(t)
	s := dynamo.NewAuditSink(c, table, func(o *dynamo.AuditOptions) { o.Retention = 400 * 24 * time.Hour })
	r := audittest.Record("item-1")
	if err := s.Write(ctx, r); err != nil {
		t.Fatal(err)
	}
	out, err := c.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "item-1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for k, v := range out.Item {
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			if k != "record" {
				got[k] = v.Value
			}
		case *types.AttributeValueMemberN:
			got[k] = v.Value
		}
	}
	want := map[string]string{
		"id": "item-1", "time": "2026-11-02T10:11:12.345Z", "outcome": "applied", "decision": "remediate",
		"action": "s3-block-public-access", "finding_id": r.Finding.ID, "resource_id": "arn:aws:s3:::payments-exports",
		"account": "111111111111", "message_id": "m-1", "correlation_id": "6a1f",
		"ttl": strconv.FormatInt(r.Time.Add(400*24*time.Hour).Unix()+1, 10), // rounded up from .345 s
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("index attributes (-want +got):\n%s", diff)
	}
}

func TestAuditSinkRejectsRecordWithoutID(t *testing.T) {
	srv := mototest.Require(t, moto)
	s := dynamo.NewAuditSink(dynamodb.NewFromConfig(srv.Config("us-east-1")), "unused")
	if err := s.Write(mototest.Context(t), &audit.Record{}); err == nil {
		t.Error("Write of a record without an id returned nil")
	}
}
