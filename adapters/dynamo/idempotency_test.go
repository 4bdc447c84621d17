package dynamo_test

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/adapters/dynamo"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

func outcome(err error) string {
	switch {
	case err == nil:
		return "claimed"
	case errors.Is(err, remediate.ErrAlreadyDone):
		return "done"
	case errors.Is(err, remediate.ErrInProgress):
		return "in progress"
	}
	return "error: " + err.Error()
}

func TestIdempotencyConcurrentBegin(t *testing.T) {
	_, table := newTable(t, dynamo.CreateIdempotencyTable)
	c := serialClient(t) // see serialClient for the moto gap it closes
	ctx := mototest.Context(t)
	const workers = 20
	for round := range 5 {
		key := fmt.Sprintf("f:concurrent-%d", round)
		// One store per goroutine, as each worker process has its own.
		results := make([]string, workers)
		var wg sync.WaitGroup
		startLine := make(chan struct{})
		for i := range workers {
			s := dynamo.NewIdempotency(c, table)
			wg.Go(func() {
				<-startLine
				results[i] = outcome(s.Begin(ctx, key))
			})
		}
		close(startLine)
		wg.Wait()
		count := map[string]int{}
		for _, r := range results {
			count[r]++
		}
		if diff := cmp.Diff(map[string]int{"claimed": 1, "in progress": workers - 1}, count); diff != "" {
			t.Errorf("round %d: outcomes of %d concurrent Begin (-want +got):\n%s", round, workers, diff)
		}
	}
}

func TestIdempotencyLifecycle(t *testing.T) {
	type step struct {
		store  string // "a" or "b": two workers sharing the table and clock
		op     string // begin, complete, release, advance
		by     time.Duration
		want   string // for begin
		reason string
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "complete makes the key done", steps: []step{
			{store: "a", op: "begin", want: "claimed"},
			{store: "b", op: "begin", want: "in progress", reason: "a holds the claim"},
			{store: "a", op: "complete"},
			{store: "b", op: "begin", want: "done"},
			{store: "a", op: "begin", want: "done"},
		}},
		{name: "release lets a retry claim it", steps: []step{
			{store: "a", op: "begin", want: "claimed"},
			{store: "a", op: "release"},
			{store: "b", op: "begin", want: "claimed"},
		}},
		{name: "an expired claim can be taken over", steps: []step{
			{store: "a", op: "begin", want: "claimed"},
			{op: "advance", by: 59 * time.Second},
			{store: "b", op: "begin", want: "in progress", reason: "the claim lasts a minute"},
			{op: "advance", by: 2 * time.Second},
			{store: "b", op: "begin", want: "claimed", reason: "a's claim expired (a crashed)"},
			{store: "a", op: "release"},
			{store: "a", op: "begin", want: "in progress", reason: "a's late release must not drop b's claim"},
			{store: "b", op: "complete"},
			{store: "a", op: "begin", want: "done"},
		}},
		{name: "release after complete keeps it done", steps: []step{
			{store: "a", op: "begin", want: "claimed"},
			{store: "a", op: "complete"},
			{store: "a", op: "release"},
			{store: "b", op: "begin", want: "done"},
		}},
		{name: "a done key expires after DoneTTL", steps: []step{
			{store: "a", op: "begin", want: "claimed"},
			{store: "a", op: "complete"},
			{op: "advance", by: 59 * time.Minute},
			{store: "b", op: "begin", want: "done"},
			{op: "advance", by: 2 * time.Minute},
			{store: "b", op: "begin", want: "claimed"},
		}},
		{name: "release of an unknown key is a no-op", steps: []step{
			{store: "a", op: "release"},
			{store: "b", op: "begin", want: "claimed"},
		}},
	}
	c, table := newTable(t, dynamo.CreateIdempotencyTable)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := mototest.Context(t)
			clk := newClock()
			opt := func(o *dynamo.IdempotencyOptions) {
				o.ClaimTTL, o.DoneTTL, o.Now = time.Minute, time.Hour, clk.Now
			}
			stores := map[string]*dynamo.Idempotency{
				"a": dynamo.NewIdempotency(c, table, opt),
				"b": dynamo.NewIdempotency(c, table, opt),
			}
			key := "f:lifecycle-" + strconv.Itoa(i)
			for n, s := range tt.steps {
				var err error
				switch s.op {
				case "advance":
					clk.add(s.by)
					continue
				case "begin":
					if got := outcome(stores[s.store].Begin(ctx, key)); got != s.want {
						t.Fatalf("step %d: %s.Begin = %s, want %s (%s)", n+1, s.store, got, s.want, s.reason)
					}
					continue
				case "complete":
					err = stores[s.store].Complete(ctx, key)
				case "release":
					err = stores[s.store].Release(ctx, key)
				}
				if err != nil {
					t.Fatalf("step %d: %s.%s: %v", n+1, s.store, s.op, err)
				}
			}
		})
	}
}

func TestIdempotencyItem(t *testing.T) {
	c, table := newTable(t, dynamo.CreateIdempotencyTable)
	ctx := mototest.Context(t)
	clk := newClock()
	s := dynamo.NewIdempotency(c, table, func(o *dynamo.IdempotencyOptions) {
		o.ClaimTTL, o.DoneTTL, o.Now = time.Minute, time.Hour, clk.Now
	})
	get := func() map[string]string {
		t.Helper()
		out, err := c.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(table), ConsistentRead: aws.Bool(true),
			Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "f:item"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for k, v := range out.Item {
			switch v := v.(type) {
			case *types.AttributeValueMemberS:
				m[k] = v.Value
			case *types.AttributeValueMemberN:
				m[k] = v.Value
			}
		}
		if m["owner"] != "" {
			m["owner"] = "<token>"
		}
		return m
	}
	t0 := clk.Now()
	if err := s.Begin(ctx, "f:item"); err != nil {
		t.Fatal(err)
	}
	claimEnd := t0.Add(time.Minute)
	// The item lives as long as a done marker, so that a record kept for
	// a late retry is not deleted with an expired claim.
	want := map[string]string{
		"pk": "f:item", "status": "in_progress", "owner": "<token>",
		"expires_at": strconv.FormatInt(claimEnd.UnixMilli(), 10), "ttl": strconv.FormatInt(t0.Add(time.Hour).Unix(), 10),
	}
	if diff := cmp.Diff(want, get()); diff != "" {
		t.Errorf("claim item (-want +got):\n%s", diff)
	}
	clk.add(10 * time.Second)
	if err := s.Complete(ctx, "f:item"); err != nil {
		t.Fatal(err)
	}
	doneEnd := t0.Add(10*time.Second + time.Hour)
	want = map[string]string{
		"pk": "f:item", "status": "done",
		"expires_at": strconv.FormatInt(doneEnd.UnixMilli(), 10), "ttl": strconv.FormatInt(doneEnd.Unix(), 10),
	}
	if diff := cmp.Diff(want, get()); diff != "" {
		t.Errorf("done item (-want +got):\n%s", diff)
	}
	ttl, err := c.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if d := ttl.TimeToLiveDescription; d == nil || aws.ToString(d.AttributeName) != "ttl" || d.TimeToLiveStatus != types.TimeToLiveStatusEnabled {
		t.Errorf("table TTL = %+v, want enabled on ttl", d)
	}
}

func TestIdempotencyWithEngineKeysAcrossStores(t *testing.T) {
	// The engine's claim protocol with two workers on one key: the one
	// that loses while the other works retries, then sees done.
	c, table := newTable(t, dynamo.CreateIdempotencyTable)
	ctx := mototest.Context(t)
	a, b := dynamo.NewIdempotency(c, table), dynamo.NewIdempotency(c, table)
	var _ remediate.IdempotencyStore = a
	if err := a.Begin(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	err := b.Begin(ctx, "k")
	if !errors.Is(err, remediate.ErrInProgress) {
		t.Fatalf("second Begin = %v, want ErrInProgress", err)
	}
	// It says when the claim expires, so a transport can wait it out.
	var ipe *remediate.InProgressError
	if !errors.As(err, &ipe) || time.Until(ipe.Until) < 4*time.Minute || time.Until(ipe.Until) > 5*time.Minute {
		t.Errorf("second Begin = %v, want an InProgressError until about 5 minutes from now", err)
	}
	if err := a.Complete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if err := b.Begin(ctx, "k"); !errors.Is(err, remediate.ErrAlreadyDone) {
		t.Fatalf("Begin after Complete = %v, want ErrAlreadyDone", err)
	}
}

func TestIdempotencyTransientError(t *testing.T) {
	srv := mototest.Require(t, moto)
	c := dynamodb.NewFromConfig(srv.Config("us-east-1"))
	s := dynamo.NewIdempotency(c, "no-such-table")
	err := s.Begin(mototest.Context(t), "k")
	if err == nil || errors.Is(err, remediate.ErrInProgress) || errors.Is(err, remediate.ErrAlreadyDone) {
		t.Fatalf("Begin on a missing table = %v, want an error that is neither ErrInProgress nor ErrAlreadyDone", err)
	}
}

func TestCreateTableTwice(t *testing.T) {
	c, table := newTable(t, dynamo.CreateIdempotencyTable)
	if err := dynamo.CreateIdempotencyTable(mototest.Context(t), c, table); err != nil {
		t.Errorf("creating an existing table again: %v", err)
	}
}

func TestCreateTableWrongSchema(t *testing.T) {
	c, table := newTable(t, dynamo.CreateAuditTable) // key "id"
	if err := dynamo.CreateIdempotencyTable(mototest.Context(t), c, table); err == nil {
		t.Error("CreateIdempotencyTable on a table keyed by id returned nil")
	}
}
