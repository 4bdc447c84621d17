package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/remedy-sec/remedy/adapters/dynamo"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/report"
)

func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	table := fs.String("audit-table", "", "`NAME` of the DynamoDB audit table (required)")
	account := fs.String("account", "", "report only on the customer account `ID`")
	sinceFlag := fs.String("since", "", "report on records from `D` on: a date (2025-03-01), an RFC 3339 time, or an age such as 30d or 72h (required)")
	format := fs.String("format", "markdown", "output `FORMAT`: markdown (for a ticket) or html (a self-contained page)")
	endpoint := fs.String("endpoint", "", "send the calls to `URL` (moto, DynamoDB Local); default: AWS")
	region := fs.String("region", "", "`REGION` of the table (default: from the environment, else us-east-1)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: remedy report --audit-table NAME [--account ID] --since D [--format markdown|html] [--endpoint URL]

Reads the audit records written since D (a Scan of the audit table,
filtered on time and account) and prints, per account and control: the
records counted by outcome, the time from finding to fix (median and
p90), the findings still open for review with their age, and the failed
fixes with their reasons. Markdown is for a ticket; html is one page with
inline CSS and an SVG chart of outcomes per account, loading nothing
else. Every number names the audit record ids behind it. Changes nothing.

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
	if fs.NArg() != 0 {
		return usageErr("unexpected arguments %q", fs.Args())
	}
	if *table == "" {
		return usageErr("--audit-table is required: name the DynamoDB audit table, such as remedy-audit")
	}
	if *sinceFlag == "" {
		return usageErr("--since is required: give a date (2025-03-01), an RFC 3339 time or an age such as 30d")
	}
	now := time.Now()
	since, err := parseSince(*sinceFlag, now)
	if err != nil {
		return usageErr("--since %q: %v", *sinceFlag, err)
	}
	var render func(*report.Report, io.Writer) error
	switch *format {
	case "markdown", "md":
		render = (*report.Report).Markdown
	case "html":
		render = (*report.Report).HTML
	default:
		return usageErr("--format %q: want markdown or html", *format)
	}
	cfg, err := loadAWS(ctx, *region, *endpoint)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "reading audit records since %s from %s in %s…\n", since.UTC().Format(time.RFC3339), *table, cfg.Region)
	records, err := scanAudit(ctx, dynamodb.NewFromConfig(cfg), *table, since, *account)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%d records\n", len(records))
	rep := report.Build(records, report.Options{Since: since, Account: *account, Now: now})
	return render(rep, stdout)
}

// parseSince reads --since: a date, an RFC 3339 time, or an age before
// now in Go duration syntax or whole days ("30d").
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, errors.New("want a date (2025-03-01), an RFC 3339 time (2025-03-01T12:00:00Z) or an age (30d, 72h)")
}

// scanAPI is the part of the DynamoDB client runReport calls.
type scanAPI interface {
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// scanAudit returns the records of table at or after since (and of
// account, if set). The audit table has no index on time, so it scans;
// the filter runs in DynamoDB on the "time" and "account" attributes the
// sink writes. "time" is RFC 3339 with a trimmed fraction, which does not
// sort as text within one second, so the filter starts a second early
// and the exact cut is made here, on the decoded record.
func scanAudit(ctx context.Context, db scanAPI, table string, since time.Time, account string) ([]audit.Record, error) {
	filter := "#t >= :since"
	names := map[string]string{"#t": "time"}
	values := map[string]dbtypes.AttributeValue{
		":since": &dbtypes.AttributeValueMemberS{Value: since.UTC().Truncate(time.Second).Add(-time.Second).Format(time.RFC3339)},
	}
	if account != "" {
		filter += " AND #a = :account"
		names["#a"] = "account"
		values[":account"] = &dbtypes.AttributeValueMemberS{Value: account}
	}
	p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{
		TableName:                 aws.String(table),
		FilterExpression:          aws.String(filter),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ConsistentRead:            aws.Bool(true),
	})
	var out []audit.Record
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("scan the audit table %s: %w", table, err)
		}
		for _, item := range page.Items {
			r, err := dynamo.DecodeAuditItem(item)
			if err != nil {
				id := "(no id)"
				if v, ok := item["id"].(*dbtypes.AttributeValueMemberS); ok {
					id = v.Value
				}
				return nil, fmt.Errorf("audit table %s, item %s: %w; the report would miss it, so none is printed", table, id, err)
			}
			if r.Time.Before(since) || (account != "" && r.Resource.Account != account) {
				continue
			}
			out = append(out, *r)
		}
	}
	return out, nil
}
