// Command local is Remedy's embedded demo: it runs a bundled set of sample
// Wiz payloads through the real engine (parser, policy, idempotency,
// audit) with the bundled example policy, and needs no AWS.
//
//	go run ./examples/local            # dry run, then apply
//	go run ./examples/local -audit=false
//
// The remediator here is a simulated one acting on an in-memory
// inventory of S3 buckets, so that every outcome — rejected, skipped,
// review, compliant, planned, applied and failed — can be seen without an
// AWS account. It also shows how small a custom remediator is. The real
// S3 remediator lives in remediators/s3publicaccess.
package main

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/remedy-sec/remedy/adapters/batch"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/eligibility"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/wizpayload"
)

//go:embed policy.yaml testdata/*.json
var files embed.FS

func main() {
	showAudit := flag.Bool("audit", true, "print the audit records (JSON lines) after each table")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *showAudit); err != nil {
		fmt.Fprintln(os.Stderr, "examples/local:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer, showAudit bool) error {
	policyYAML, err := files.ReadFile("policy.yaml")
	if err != nil {
		return err
	}
	policy, err := eligibility.Parse(policyYAML, "policy.yaml")
	if err != nil {
		return err
	}
	msgs, err := samples()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Remedy local demo: %d sample Wiz payloads, policy %s, simulated S3 inventory (no AWS).\n", len(msgs), policy.Version())

	inv := newInventory()
	for _, mode := range []remediate.Mode{remediate.ModeDryRun, remediate.ModeApply} {
		var auditBuf bytes.Buffer
		reg, err := remediate.NewRegistry(&simulatedBlockPublicAccess{inv: inv})
		if err != nil {
			return err
		}
		eng, err := remediate.NewEngine(remediate.Options{
			Parser:      wizpayload.New(),
			Enricher:    policy,
			Policy:      policy,
			Registry:    reg,
			Credentials: noAWS{},
			Audit:       audit.NewJSONLines(&auditBuf),
			Mode:        mode,
		})
		if err != nil {
			return err
		}
		results := batch.Run(ctx, eng, msgs, func(o *batch.Options) { o.Concurrency = 4 })
		fmt.Fprintf(w, "\n== %s ==\n", mode)
		if err := printTable(w, results); err != nil {
			return err
		}
		if showAudit {
			fmt.Fprintf(w, "\naudit records (%s):\n%s", mode, auditBuf.String())
		}
	}
	fmt.Fprintf(w, "\ninventory after apply: %s\n", inv)
	return nil
}

// samples returns the bundled payloads as messages, in file order.
func samples() ([]remediate.Message, error) {
	names, err := fs.Glob(files, "testdata/*.json")
	if err != nil {
		return nil, err
	}
	var msgs []remediate.Message
	for _, n := range names {
		b, err := files.ReadFile(n)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, remediate.Message{ID: strings.TrimSuffix(path.Base(n), ".json"), Body: bytes.TrimSpace(b)})
	}
	return msgs, nil
}

func printTable(w io.Writer, results []batch.Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SAMPLE\tDECISION\tOUTCOME\tACTION\tWHY")
	for _, r := range results {
		if r.Err != nil {
			fmt.Fprintf(tw, "%s\t-\tretry\t-\t%v\n", r.Message.ID, r.Err)
			continue
		}
		why := r.Record.FailureReason
		if why == "" && len(r.Record.Reasons) > 0 {
			why = r.Record.Reasons[0].Message
		}
		if why == "" && len(r.Record.Evidence.Changes) > 0 {
			why = strings.Join(r.Record.Evidence.Changes, "; ")
		}
		if why == "" && r.Record.Outcome == "compliant" {
			why = "live state already compliant: nothing to change"
		}
		if r := []rune(why); len(r) > 90 {
			why = string(r[:87]) + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Message.ID, r.Record.Decision, r.Record.Outcome, orDash(r.Record.Action), why)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// noAWS is a CredentialSource for the simulated remediator, which makes
// no AWS call.
type noAWS struct{}

func (noAWS) Config(_ context.Context, f *remediate.Finding, _ remediate.Spec) (aws.Config, error) {
	return aws.Config{Region: f.Resource.Region}, nil
}

// inventory is the simulated cloud: bucket name → public access blocked.
type inventory struct {
	mu      sync.Mutex
	blocked map[string]bool
}

func newInventory() *inventory {
	return &inventory{blocked: map[string]bool{
		"payments-exports":   false,
		"staging-artifacts":  true, // already compliant
		"marketing-uploads":  false,
		"www-example-com":    false,
		"card-vault-reports": false,
		"untagged-scratch":   false,
		"legacy-logs":        false,
		// "deleted-bucket" is absent: its finding is stale.
	}}
}

func (inv *inventory) String() string {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	b, _ := json.Marshal(inv.blocked)
	return string(b)
}

// simulatedBlockPublicAccess is a complete custom remediator: a Spec, a
// Plan that only reads, an idempotent Apply, and a Verify.
type simulatedBlockPublicAccess struct{ inv *inventory }

var (
	_ remediate.Remediator = (*simulatedBlockPublicAccess)(nil)
	_ remediate.Verifier   = (*simulatedBlockPublicAccess)(nil)
)

func (*simulatedBlockPublicAccess) Spec() remediate.Spec {
	return remediate.Spec{
		Action:        "s3-block-public-access",
		Description:   "Turn on all four S3 Block Public Access settings of a bucket (simulated).",
		ResourceTypes: []string{"bucket"},
		Resources:     map[string][]string{"bucket": {"arn:{partition}:s3:::*"}},
		IAMActions:    []string{"s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock"},
	}
}

func (s *simulatedBlockPublicAccess) state(t remediate.Target) (blocked bool, err error) {
	name := strings.TrimPrefix(t.Finding.Resource.ID, "arn:aws:s3:::")
	s.inv.mu.Lock()
	defer s.inv.mu.Unlock()
	blocked, ok := s.inv.blocked[name]
	if !ok {
		return false, remediate.Permanentf("bucket %s does not exist (NoSuchBucket): the finding is stale", name)
	}
	return blocked, nil
}

func (s *simulatedBlockPublicAccess) Plan(_ context.Context, t remediate.Target) (remediate.Plan, error) {
	blocked, err := s.state(t)
	if err != nil {
		return remediate.Plan{}, err
	}
	p := remediate.Plan{
		Compliant: blocked,
		Before:    json.RawMessage(fmt.Sprintf(`{"BlockPublicAccess":%t}`, blocked)),
		After:     json.RawMessage(`{"BlockPublicAccess":true}`),
	}
	if !blocked {
		p.Changes = []string{"set BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets to true"}
	}
	return p, nil
}

func (s *simulatedBlockPublicAccess) Apply(_ context.Context, t remediate.Target, _ remediate.Plan) (remediate.Result, error) {
	if _, err := s.state(t); err != nil {
		return remediate.Result{}, err
	}
	name := strings.TrimPrefix(t.Finding.Resource.ID, "arn:aws:s3:::")
	s.inv.mu.Lock()
	s.inv.blocked[name] = true
	s.inv.mu.Unlock()
	return remediate.Result{
		After:    json.RawMessage(`{"BlockPublicAccess":true}`),
		Rollback: json.RawMessage(`{"BlockPublicAccess":false}`),
		RequestIDs: []string{
			fmt.Sprintf("simulated-%d", time.Now().UnixNano()%1e6),
		},
	}, nil
}

func (s *simulatedBlockPublicAccess) Verify(_ context.Context, t remediate.Target, _ remediate.Plan) error {
	blocked, err := s.state(t)
	if err != nil {
		return err
	}
	if !blocked {
		return fmt.Errorf("bucket still allows public access after apply")
	}
	return nil
}
