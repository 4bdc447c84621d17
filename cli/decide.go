package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/crossaccount"
	"github.com/remedy-sec/remedy/deploy"
	"github.com/remedy-sec/remedy/eligibility"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/wizpayload"
)

// decision is one line of `remedy decide` output: what the engine
// recorded for the input.
type decision struct {
	Input     string `json:"input"`
	FindingID string `json:"finding_id"`
	Decision  string `json:"decision"`
	// Outcome is the record's outcome in decide-only mode: planned (the
	// deployed engine would act), review, skipped or rejected.
	Outcome string         `json:"outcome"`
	Action  string         `json:"action"`
	Reasons []audit.Reason `json:"reasons"`
}

func runDecide(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, extra func(deploy.Config) []remediate.Remediator) error {
	fs := flag.NewFlagSet("decide", flag.ContinueOnError)
	fs.SetOutput(stderr)
	policyPath := fs.String("policy", "", "policy `FILE` (YAML); default: the built-in default-deny policy")
	accountsPath := fs.String("accounts", "", "account registry `FILE` (YAML), for the environments its entries state; external ids are not read")
	summary := fs.Bool("summary", false, "print counts by decision and by reason instead of one line per input")
	sources := fs.String("trigger-sources", "ISSUES", "comma-separated Wiz trigger sources to accept")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: remedy decide [--policy FILE] [--accounts FILE] [--summary] [FILE|DIR|-]...

Decides each input — one Wiz message body per file, raw or SNS-wrapped,
read byte for byte; a directory means every file below it; - means
standard input — as the deployed engine would, with the built-in
remediators and nothing changed, and prints one JSON line per input with
finding_id, decision (remediate, review, skip or reject), outcome
(planned, review, skipped or rejected), action and reasons.

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
	inputs := fs.Args()
	if len(inputs) == 0 {
		return usageErr("no input: name files, directories or - for standard input (see remedy decide -h)")
	}

	var accounts *crossaccount.Accounts
	if *accountsPath != "" {
		a, err := readAccountsForDecision(ctx, *accountsPath)
		if err != nil {
			return err
		}
		accounts = a
	}
	policy, err := loadPolicy(*policyPath, accounts)
	if err != nil {
		return err
	}
	reg, err := builtins(builtinOptions{Extra: extra})
	if err != nil {
		return err
	}
	// The deployed engine refuses such a policy. Here every finding the
	// policy approves for such an action goes to review, as the engine's
	// own check would send it, so the rest of the policy can be tried.
	var decider remediate.Policy = policy
	if missing := remediate.UnregisteredActions(policy, reg); len(missing) > 0 {
		fmt.Fprintf(stderr, "remedy decide: warning: the policy names %s, which no built-in remediator has (built-ins: %s); "+
			"the deployed engine refuses to start with this policy, and here every finding approved for one goes to review\n",
			quoteList(missing), strings.Join(reg.Actions(), ", "))
		decider = remediate.PolicyFunc(policy.Decide)
	}
	if bad := remediate.MismatchedResourceTypes(policy, reg); len(bad) > 0 {
		var pairs []string
		for _, a := range slices.Sorted(maps.Keys(bad)) {
			pairs = append(pairs, fmt.Sprintf("%q for %s", a, quoteList(bad[a])))
		}
		fmt.Fprintf(stderr, "remedy decide: warning: the policy approves %s, which its built-in remediator does not fix; "+
			"the deployed engine refuses to start with this policy, and here every such finding goes to review\n", strings.Join(pairs, ", "))
		decider = remediate.PolicyFunc(policy.Decide)
	}
	parser := wizpayload.New(func(o *wizpayload.Options) {
		o.AcceptedTriggerSources = splitList(*sources)
	})
	// One record per input, written here and read back: the engine's own
	// path in decide-only mode, which makes no AWS call.
	var rec *audit.Record
	eng, err := remediate.NewEngine(remediate.Options{
		Parser: parser, Enricher: policy, Policy: decider, Registry: reg,
		Audit:       audit.SinkFunc(func(_ context.Context, r *audit.Record) error { rec = r; return nil }),
		Idempotency: everyInput{},
		Mode:        remediate.ModeDecideOnly,
	})
	if err != nil {
		return err
	}

	files, err := expandInputs(inputs, stderr)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	var (
		sum    tally
		failed int
	)
	for _, name := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		body, err := readInput(name, stdin)
		if err != nil {
			fmt.Fprintf(stderr, "remedy decide: %v\n", err)
			failed++
			continue
		}
		rec = nil
		if _, err := eng.Process(ctx, remediate.Message{ID: name, Body: body, ReceiveCount: 1}); err != nil || rec == nil {
			if err == nil {
				err = errors.New("the engine wrote no record")
			}
			fmt.Fprintf(stderr, "remedy decide: %s: not decided: %v\n", name, err)
			failed++
			continue
		}
		out := decision{Input: name, FindingID: rec.Finding.ID, Decision: rec.Decision, Outcome: rec.Outcome, Action: rec.Action, Reasons: rec.Reasons}
		if out.Reasons == nil {
			out.Reasons = []audit.Reason{}
		}
		if *summary {
			sum.add(out)
			continue
		}
		if err := enc.Encode(out); err != nil {
			return err
		}
	}
	if *summary {
		sum.print(stdout)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d inputs could not be decided (see the messages above)", failed, len(files))
	}
	return nil
}

// everyInput is an idempotency store that claims every key: each input
// of a what-if run is decided, even one that repeats another.
type everyInput struct{}

func (everyInput) Begin(context.Context, string) error    { return nil }
func (everyInput) Complete(context.Context, string) error { return nil }
func (everyInput) Release(context.Context, string) error  { return nil }

// loadPolicy loads the policy file at path, or the default policy when
// path is empty, weighing the environments accounts states (if any) as
// the deployment does.
func loadPolicy(path string, accounts *crossaccount.Accounts) (*eligibility.Policy, error) {
	var opts []func(*eligibility.Options)
	if accounts != nil {
		opts = append(opts, func(o *eligibility.Options) { o.AccountEnvironments = accounts })
	}
	if path == "" {
		return eligibility.Default(opts...), nil
	}
	p, err := eligibility.Load(path, opts...)
	if err != nil {
		return nil, usageErr("%v\nfix the policy file and run again", err)
	}
	return p, nil
}

// readAccountsForDecision reads an account registry for what a decision
// uses of it, the environments: its external-id references are not
// resolved (a decision assumes no role), so it needs no SSM access.
func readAccountsForDecision(ctx context.Context, path string) (*crossaccount.Accounts, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	defer f.Close()
	unread := crossaccount.ResolverFunc(func(context.Context, string) (string, error) { return "not-resolved-by-decide", nil })
	accounts, err := crossaccount.ReadAccounts(ctx, f, func(o *crossaccount.LoadOptions) {
		o.Resolvers = map[string]crossaccount.Resolver{"env": unread, "ssm": unread}
	})
	if err != nil {
		return nil, usageErr("%s: %v", path, err)
	}
	return accounts, nil
}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = strconv.Quote(v)
	}
	return strings.Join(q, ", ")
}

// expandInputs turns arguments into a list of files: a directory becomes
// every file below it, in lexical order, whatever its name. What it
// cannot read as a file (a device, a link to a directory, a dangling
// link) is named on stderr as skipped.
func expandInputs(args []string, stderr io.Writer) ([]string, error) {
	var out []string
	for _, a := range args {
		if a == "-" {
			out = append(out, a)
			continue
		}
		st, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("input %s: %v; name an existing file or directory", a, errors.Unwrap(err))
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		var found []string
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			if d.Type().IsRegular() {
				found = append(found, p)
				return nil
			}
			// A link is read when it leads to a regular file.
			st, err := os.Stat(p)
			switch {
			case err != nil:
				fmt.Fprintf(stderr, "remedy decide: skipped %s: %v\n", p, errors.Unwrap(err))
			case st.Mode().IsRegular():
				found = append(found, p)
			default:
				fmt.Fprintf(stderr, "remedy decide: skipped %s: not a regular file (%s)\n", p, st.Mode().Type())
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read directory %s: %w", a, err)
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("directory %s holds no files; name the directory of exported findings", a)
		}
		slices.Sort(found)
		out = append(out, found...)
	}
	return out, nil
}

// maxInput bounds what is read from one input: more than the parser's
// limit, so that an oversized body is rejected by the parser with a
// reason rather than truncated here.
const maxInput = 8 << 20

// readInput returns the input's bytes exactly as they are: the deployed
// engine gets a message body untouched, so a what-if run must not tidy
// it either.
func readInput(name string, stdin io.Reader) ([]byte, error) {
	var r io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(b) > maxInput {
		return nil, fmt.Errorf("read %s: larger than %d bytes; not a single message body", name, maxInput)
	}
	return b, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// tally counts decisions and reasons for --summary.
type tally struct {
	total     int
	decisions map[string]int
	reasons   map[string]int
}

func (t *tally) add(d decision) {
	if t.decisions == nil {
		t.decisions, t.reasons = map[string]int{}, map[string]int{}
	}
	t.total++
	t.decisions[d.Decision]++
	for _, r := range d.Reasons {
		t.reasons[r.Check+" → "+r.LeadsTo]++
	}
}

func (t *tally) print(w io.Writer) {
	fmt.Fprintf(w, "%d inputs\n\nby decision:\n", t.total)
	for _, d := range []string{"remediate", "review", "skip", "reject"} {
		fmt.Fprintf(w, "  %-10s %6d\n", d, t.decisions[d])
	}
	fmt.Fprintf(w, "\nby reason (check → what it leads to):\n")
	keys := make([]string, 0, len(t.reasons))
	for k := range t.reasons {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if c := t.reasons[b] - t.reasons[a]; c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	if len(keys) == 0 {
		fmt.Fprintln(w, "  (none: every input passed every check)")
	}
	for _, k := range keys {
		fmt.Fprintf(w, "  %-32s %6d\n", k, t.reasons[k])
	}
}
