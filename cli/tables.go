package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/remedy-sec/remedy/adapters/dynamo"
)

func runTables(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tables", flag.ContinueOnError)
	fs.SetOutput(stderr)
	auditTable := fs.String("audit-table", "remedy-audit", "`NAME` of the audit table")
	idemTable := fs.String("idempotency-table", "remedy-idempotency", "`NAME` of the idempotency table")
	excTable := fs.String("exception-table", "", "`NAME` of the exception store's table, created too when set (REMEDY_EXCEPTION_TABLE)")
	aprTable := fs.String("approval-table", "", "`NAME` of the approval requests' table, created too when set (REMEDY_APPROVAL_TABLE)")
	endpoint := fs.String("endpoint", "", "send the calls to `URL` (moto, DynamoDB Local); default: AWS")
	region := fs.String("region", "", "`REGION` of the tables (default: from the environment, else us-east-1)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: remedy tables create [--audit-table NAME] [--idempotency-table NAME] [--exception-table NAME] [--approval-table NAME] [--endpoint URL] [--region REGION]

Creates the DynamoDB tables of the audit sink and the idempotency store
exactly as examples/lambda/template.yaml declares them (on demand, keys,
the audit table's by-message-id index, encryption, TTL on "ttl",
point-in-time recovery of the audit table) and waits until they are
active. Tables that exist with the right key are left as they are. Use it
for a worker deployed without the template, or against moto. With
--exception-table it also creates the exception store's table (key "id",
encrypted, point-in-time recovery) that 'remedy exception' keeps, and
with --approval-table the approval requests' table (key "id", encrypted,
TTL on "ttl") that the engine and 'remedy approve' use.

Flags:
`)
		fs.PrintDefaults()
	}
	if len(args) == 0 || args[0] != "create" {
		fs.Usage()
		return usageErr("want the subcommand create: remedy tables create [flags]")
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageErr("%v", err)
	}
	if fs.NArg() != 0 {
		return usageErr("unexpected arguments %q", fs.Args())
	}
	cfg, err := loadAWS(ctx, *region, *endpoint)
	if err != nil {
		return err
	}
	db := dynamodb.NewFromConfig(cfg)
	type table struct {
		name, kind string
		create     func(context.Context, dynamo.TableAPI, string) error
	}
	tables := []table{
		{*auditTable, "audit", dynamo.CreateAuditTable},
		{*idemTable, "idempotency", dynamo.CreateIdempotencyTable},
	}
	if *excTable != "" {
		tables = append(tables, table{*excTable, "exception", dynamo.CreateExceptionTable})
	}
	if *aprTable != "" {
		tables = append(tables, table{*aprTable, "approval", dynamo.CreateApprovalTable})
	}
	for _, t := range tables {
		fmt.Fprintf(stderr, "creating the %s table %s in %s…\n", t.kind, t.name, cfg.Region)
		if err := t.create(ctx, db, t.name); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s table %s: active\n", t.kind, t.name)
	}
	return nil
}
