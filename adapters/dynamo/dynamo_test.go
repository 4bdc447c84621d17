package dynamo_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/remedy-sec/remedy/adapters/dynamo"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

var moto *mototest.Server

func TestMain(m *testing.M) { os.Exit(mototest.Main(m, &moto)) }

var (
	nonName = regexp.MustCompile(`[^A-Za-z0-9_.-]`)
	tableN  atomic.Int64
)

// newTable creates a fresh table with create and returns a client and the
// table's name.
func newTable(t *testing.T, create func(context.Context, dynamo.TableAPI, string) error) (*dynamodb.Client, string) {
	t.Helper()
	srv := mototest.Require(t, moto)
	c := dynamodb.NewFromConfig(srv.Config("us-east-1"))
	name := nonName.ReplaceAllString(t.Name(), "-")
	name = name[max(0, len(name)-200):] + "-" + strconv.FormatInt(tableN.Add(1), 10)
	if err := create(mototest.Context(t), c, name); err != nil {
		t.Fatal(err)
	}
	return c, name
}

// clock is a settable time source shared by several stores, as the wall
// clock is shared by several workers.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }
func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }

// serialClient returns a DynamoDB client whose requests reach moto one at
// a time, through a proxy.
//
// moto 5.2.1 evaluates a condition expression and stores the item as two
// unlocked steps while serving requests on several threads, so two
// concurrent conditional puts can both succeed there; DynamoDB applies
// writes to one item one at a time, and this proxy restores that
// guarantee. Requests still come concurrently from the clients.
func serialClient(t *testing.T) *dynamodb.Client {
	t.Helper()
	srv := mototest.Require(t, moto)
	target, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	cfg := srv.Config("us-east-1")
	cfg.BaseEndpoint = aws.String(proxy.URL)
	return dynamodb.NewFromConfig(cfg)
}
