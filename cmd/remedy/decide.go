package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/eligibility"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/wizpayload"
)

// decision is one line of `remedy decide` output.
type decision struct {
	Input     string             `json:"input"`
	FindingID string             `json:"finding_id"`
	Decision  string             `json:"decision"`
	Action    string             `json:"action"`
	Reasons   []remediate.Reason `json:"reasons"`
}

func runDecide(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("decide", flag.ContinueOnError)
	fs.SetOutput(stderr)
	policyPath := fs.String("policy", "", "policy `FILE` (YAML); default: the built-in default-deny policy")
	summary := fs.Bool("summary", false, "print counts by decision and by reason instead of one line per input")
	sources := fs.String("trigger-sources", "ISSUES", "comma-separated Wiz trigger sources to accept")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: remedy decide [--policy FILE] [--summary] [FILE|DIR|-]...

Decides each input — one Wiz message body per file, raw or SNS-wrapped;
a directory means every *.json file below it; - means standard input —
and prints one JSON line per input with finding_id, decision (remediate,
review, skip or reject), action and reasons. Nothing is changed.

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

	policy := eligibility.Default()
	if *policyPath != "" {
		p, err := eligibility.Load(*policyPath)
		if err != nil {
			return usageErr("%v\nfix the policy file and run again", err)
		}
		policy = p
	}
	parser := wizpayload.New(func(o *wizpayload.Options) {
		o.AcceptedTriggerSources = splitList(*sources)
	})
	reg, _ := remediate.NewRegistry()
	eng, err := remediate.NewEngine(remediate.Options{
		Parser: parser, Enricher: policy, Policy: policy, Registry: reg,
		Audit: audit.Discard(), Mode: remediate.DecideOnly,
	})
	if err != nil {
		return err
	}

	files, err := expandInputs(inputs)
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
		f, d, err := eng.Evaluate(ctx, body)
		if err != nil {
			fmt.Fprintf(stderr, "remedy decide: %s: not decided: %v\n", name, err)
			failed++
			continue
		}
		out := decision{Input: name, Decision: d.Verdict.String(), Action: d.Action, Reasons: d.Reasons}
		if out.Reasons == nil {
			out.Reasons = []remediate.Reason{}
		}
		if f != nil {
			out.FindingID = f.ID
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

// expandInputs turns arguments into a list of files: a directory becomes
// every *.json file below it, in lexical order.
func expandInputs(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		if a == "-" {
			out = append(out, a)
			continue
		}
		st, err := os.Stat(a)
		if err != nil {
			return nil, usageErr("input %s: %v", a, errors.Unwrap(err))
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
			if !d.IsDir() && strings.EqualFold(filepath.Ext(p), ".json") {
				found = append(found, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read directory %s: %w", a, err)
		}
		if len(found) == 0 {
			return nil, usageErr("directory %s holds no *.json files", a)
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
	return bytes.TrimSpace(b), nil
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
		t.reasons[r.Check+" → "+r.Verdict.String()]++
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
