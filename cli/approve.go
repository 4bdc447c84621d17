package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/remedy-sec/remedy/adapters/dynamo"
	"github.com/remedy-sec/remedy/deploy"
	"github.com/remedy-sec/remedy/remediate"
)

// errNotApprovable is returned (exit 1) when the request cannot be
// approved: consumed, expired, or for another plan than --plan-hash.
var errNotApprovable = errors.New("not approvable")

func runApprove(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("approve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	approver := fs.String("approver", "", "`NAME` of the person approving, such as alice@example.com; required, recorded in the audit record")
	table := fs.String("approval-table", os.Getenv("REMEDY_APPROVAL_TABLE"), "DynamoDB `TABLE` of approval requests (default $REMEDY_APPROVAL_TABLE)")
	queue := fs.String("queue-url", os.Getenv("REMEDY_QUEUE_URL"), "`URL` of the findings queue the engine reads (default $REMEDY_QUEUE_URL)")
	keyParam := fs.String("key-param", os.Getenv("REMEDY_APPROVAL_KEY_PARAM"), "SSM SecureString `PARAMETER` holding the approval HMAC key (default $REMEDY_APPROVAL_KEY_PARAM)")
	planHash := fs.String("plan-hash", "", "the plan `HASH` you reviewed (from the review notification); refuses when the request's differs")
	expires := fs.Duration("expires", time.Hour, "how long the approval is valid, a `DURATION` (at most 24h)")
	dryRun := fs.Bool("dry-run", false, "show the request's plan; sign and send nothing")
	endpoint := fs.String("endpoint", "", "send every AWS call to `URL` (moto, LocalStack); default: AWS")
	region := fs.String("region", "", "AWS `REGION` of the table, queue and parameter (default: from the environment, else us-east-1)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: remedy approve --approver NAME [--approval-table TABLE] [--queue-url URL] [--key-param PARAMETER] [--plan-hash HASH] [--expires 1h] [--dry-run] REQUEST_ID

Approves the plan of an approval request: a fix the policy requires a
person to approve (approval_required), or a sensitive one, that the engine
planned against live state and sent to review with the request id and the
plan's hash. It reads the request from the approval table and shows its
plan; then signs an approval (request id, approver, plan hash, expiry)
with HMAC-SHA256 under the key in the SSM SecureString parameter, and
sends it to the findings queue as {"remedy_approval": {...}}.

The engine, not this command, acts: it checks the signature, the expiry
and that the request was not used before, assumes the role, reads live
state and plans again. Only if the new plan hashes as the approved one
does it apply the change, recording the approver; if the resource changed
meanwhile it changes nothing and asks for approval again (a new request).
Every approval, accepted or rejected, has its own audit record.

Exit status: 0 when the approval was sent (or, with --dry-run, shown), 1
when the request is consumed, expired, for another plan than --plan-hash,
or could not be read or sent, 2 on a usage error.

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
	switch {
	case fs.NArg() != 1:
		return usageErr("want exactly one REQUEST_ID (from the review notification), got %d arguments", fs.NArg())
	case *table == "":
		return usageErr("--approval-table TABLE (or REMEDY_APPROVAL_TABLE) is required: the request is read from it")
	case *dryRun:
	case strings.TrimSpace(*approver) == "":
		return usageErr("--approver NAME is required: the audit record names who approved")
	case *queue == "":
		return usageErr("--queue-url URL (or REMEDY_QUEUE_URL) is required: the approval goes to the queue the engine reads")
	case *keyParam == "":
		return usageErr("--key-param PARAMETER (or REMEDY_APPROVAL_KEY_PARAM) is required: the SSM SecureString holding the approval key")
	case *expires <= 0 || *expires > 24*time.Hour:
		return usageErr("--expires %s: want a duration above 0 and at most 24h", *expires)
	}
	id := fs.Arg(0)
	cfg, err := loadAWS(ctx, *region, *endpoint)
	if err != nil {
		return err
	}
	req, err := dynamo.NewApprovals(dynamodb.NewFromConfig(cfg), *table).Get(ctx, id)
	if err != nil {
		if errors.Is(err, remediate.ErrApprovalNotFound) {
			return fmt.Errorf("no approval request %s in table %s; check the id in the review notification (expired requests are removed)", id, *table)
		}
		return err
	}
	printRequest(stdout, req)
	now := time.Now()
	switch {
	case req.Consumed != nil:
		return fmt.Errorf("%w: request %s was already approved by %s at %s; a request is approved once", errNotApprovable, id, req.Consumed.Approver, req.Consumed.Time.UTC().Format(time.RFC3339))
	case !now.Before(req.Expires):
		return fmt.Errorf("%w: request %s expired at %s; approval is asked again when the finding is delivered again with a new revision (reopened in the source)", errNotApprovable, id, req.Expires.UTC().Format(time.RFC3339))
	case *planHash != "" && *planHash != req.PlanHash:
		return fmt.Errorf("%w: request %s is for plan %s, not the plan %s you reviewed; review the plan above", errNotApprovable, id, req.PlanHash, *planHash)
	case *dryRun:
		fmt.Fprintln(stderr, "dry run: nothing was signed or sent")
		return nil
	}
	key, err := deploy.SSMApprovalKey(ssm.NewFromConfig(cfg), *keyParam).ApprovalKey(ctx)
	if err != nil {
		return err
	}
	a := remediate.Approval{RequestID: req.ID, Approver: strings.TrimSpace(*approver), PlanHash: req.PlanHash, Expires: now.Add(*expires).UTC()}.Sign(key)
	body, err := remediate.ApprovalMessage(a)
	if err != nil {
		return err
	}
	out, err := sqs.NewFromConfig(cfg).SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(*queue), MessageBody: aws.String(string(body))})
	if err != nil {
		return fmt.Errorf("send the approval to %s: %w", *queue, err)
	}
	fmt.Fprintf(stderr, "approval of request %s by %s for plan %s sent (message %s), valid until %s; the engine plans again and applies only that plan — its audit record says what happened\n",
		req.ID, a.Approver, req.PlanHash, aws.ToString(out.MessageId), a.Expires.Format(time.RFC3339))
	return nil
}

func printRequest(w io.Writer, r *remediate.ApprovalRequest) {
	fmt.Fprintf(w, "request   %s\n", r.ID)
	fmt.Fprintf(w, "action    %s\n", r.Action)
	if f := r.Finding; f != nil {
		fmt.Fprintf(w, "resource  %s (%s, account %s, %s)\n", f.Resource.ID, orNone(f.Resource.Type), orNone(f.Resource.Account), orNone(f.Resource.Region))
		fmt.Fprintf(w, "finding   %s %s\n", f.ID, f.Control.Name)
	}
	fmt.Fprintf(w, "plan      %s\n", r.PlanHash)
	fmt.Fprintf(w, "created   %s, expires %s\n", r.Created.UTC().Format(time.RFC3339), r.Expires.UTC().Format(time.RFC3339))
	fmt.Fprintln(w, "changes:")
	for _, c := range r.Plan.Changes {
		fmt.Fprintf(w, "  - %s\n", c)
	}
	if diff := remediate.StateDiff(r.Plan.Before, r.Plan.After); len(diff) > 0 {
		fmt.Fprintln(w, "before → after:")
		for _, d := range diff {
			fmt.Fprintf(w, "  %s\n", d)
		}
	}
	if c := r.Consumed; c != nil {
		fmt.Fprintf(w, "approved  by %s at %s\n", c.Approver, c.Time.UTC().Format(time.RFC3339))
	}
}
