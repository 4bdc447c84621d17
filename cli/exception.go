package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/remedy-sec/remedy/adapters/dynamo"
	"github.com/remedy-sec/remedy/eligibility"
)

const exceptionUsage = `Usage:
  remedy exception add --table NAME --owner O --reason R --expires DATE
                       [--resource ARN|ID] [--control ID] [--account ID] [--tag KEY=VALUE] [--id ID]
  remedy exception list --table NAME [--json]
  remedy exception revoke --table NAME ID

Keeps the exceptions of the DynamoDB exception store (create the table
with 'remedy tables create --exception-table NAME'), which the deployed
engine reads beside the policy file's exceptions (REMEDY_EXCEPTION_TABLE).
An exception covers a finding only when every scope it names matches:
the resource (its ARN or exact id — never its display name), the control
(or source rule) id, the account and a tag. It needs at least one scope
and an expiry (a date means through that day, UTC; or an RFC 3339 time);
an expired or revoked one never applies. add prints the exception's id;
list shows active, expired and revoked exceptions; revoke keeps the item
for the record.

Flags:
`

func runException(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("exception", flag.ContinueOnError)
	fs.SetOutput(stderr)
	table := fs.String("table", "", "`NAME` of the exception table (required)")
	endpoint := fs.String("endpoint", "", "send the calls to `URL` (moto, DynamoDB Local); default: AWS")
	region := fs.String("region", "", "`REGION` of the table (default: from the environment, else us-east-1)")
	var e eligibility.Exception
	var expires, tag string
	asJSON := false
	fs.Usage = func() {
		fmt.Fprint(stderr, exceptionUsage)
		fs.PrintDefaults()
	}
	if len(args) == 0 {
		fs.Usage()
		return usageErr("want a subcommand: add, list or revoke")
	}
	sub := args[0]
	switch sub {
	case "add":
		fs.StringVar(&e.ID, "id", "", "`ID` of the exception (default: a random exc- id)")
		fs.StringVar(&e.Owner, "owner", "", "who answers for the exception, such as a team's address (required)")
		fs.StringVar(&e.Reason, "reason", "", "why the finding may stay unfixed (required)")
		fs.StringVar(&expires, "expires", "", "`DATE` it applies through (2027-01-31) or an RFC 3339 time (required)")
		fs.StringVar(&e.Resource, "resource", "", "the resource's `ARN` or exact id")
		fs.StringVar(&e.Control, "control", "", "control or source rule `ID`")
		fs.StringVar(&e.Account, "account", "", "12-digit account `ID`")
		fs.StringVar(&tag, "tag", "", "a resource tag `KEY=VALUE` the resource must carry")
	case "list":
		fs.BoolVar(&asJSON, "json", false, "print one JSON object per exception")
	case "revoke":
	case "-h", "-help", "--help", "help":
		fs.Usage()
		return nil
	default:
		fs.Usage()
		return usageErr("unknown subcommand %q: want add, list or revoke", sub)
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageErr("%v", err)
	}
	if *table == "" {
		return usageErr("--table is required: the exception table's name")
	}
	var revokeID string
	switch sub {
	case "revoke":
		if fs.NArg() != 1 {
			return usageErr("want one exception id: remedy exception revoke --table NAME ID")
		}
		revokeID = fs.Arg(0)
	case "add":
		if fs.NArg() != 0 {
			return usageErr("unexpected arguments %q", fs.Args())
		}
		if err := exceptionFromFlags(&e, expires, tag); err != nil {
			return err
		}
	default:
		if fs.NArg() != 0 {
			return usageErr("unexpected arguments %q", fs.Args())
		}
	}
	cfg, err := loadAWS(ctx, *region, *endpoint)
	if err != nil {
		return err
	}
	store := dynamo.NewExceptions(dynamodb.NewFromConfig(cfg), *table)
	switch sub {
	case "add":
		e, err = store.Add(ctx, e)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "exception %s added to %s: %s until %s\n", e.ID, *table, e.Scope(), e.ExpiresText())
		fmt.Fprintln(stdout, e.ID)
	case "revoke":
		if err := store.Revoke(ctx, revokeID); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "exception %s revoked\n", revokeID)
	case "list":
		list, err := store.List(ctx)
		if err != nil {
			return err
		}
		return printExceptions(stdout, list, time.Now(), asJSON)
	}
	return nil
}

// exceptionFromFlags completes e from add's flags and checks it: an
// exception with no scope or no expiry is refused.
func exceptionFromFlags(e *eligibility.Exception, expires, tag string) error {
	if strings.TrimSpace(expires) == "" {
		return usageErr("--expires is required: every exception ends (a date such as 2027-01-31, or an RFC 3339 time)")
	}
	t, err := eligibility.ParseExpiry(expires)
	if err != nil {
		return usageErr("--expires: %v", err)
	}
	e.Expires = t
	if tag != "" {
		k, v, ok := strings.Cut(tag, "=")
		if !ok || k == "" {
			return usageErr("--tag %q: want KEY=VALUE", tag)
		}
		e.TagKey, e.TagValue = k, v
	}
	if e.Resource == "" && e.Control == "" && e.Account == "" && e.TagKey == "" {
		return usageErr("no scope: name at least one of --resource, --control, --account, --tag (an exception for everything is not allowed)")
	}
	if e.ID == "" {
		// The store picks one; Validate must not complain meanwhile.
		check := *e
		check.ID = "new"
		if err := check.Validate(); err != nil {
			return usageErr("%v", err)
		}
		return nil
	}
	if err := e.Validate(); err != nil {
		return usageErr("%v", err)
	}
	return nil
}

func printExceptions(w io.Writer, list []dynamo.ExceptionRecord, now time.Time, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, r := range list {
			out := struct {
				dynamo.ExceptionRecord
				Status string `json:"status"`
			}{r, r.Status(now)}
			if err := enc.Encode(out); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tEXPIRES\tOWNER\tSCOPE\tREASON")
	for _, r := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Status(now), r.ExpiresText(), r.Owner, r.Scope(), r.Reason)
	}
	return tw.Flush()
}
