package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"
)

// Markdown writes the report as GitHub-flavoured Markdown for a ticket:
// a table per account and control, open reviews, failed fixes, and an
// appendix listing the record ids behind each number (the table cells
// name their appendix entries, such as [R3]). Every string taken from a
// record is escaped: Markdown punctuation (| and backticks among it) is
// backslash-escaped and line breaks become spaces, so a hostile control
// name cannot end a table row or open markup.
func (rep *Report) Markdown(w io.Writer) error {
	bw := bufio.NewWriter(w)
	refs := &refList{}
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }

	p("# Remediation report\n\n")
	p("- Records: %d", len(rep.RecordIDs))
	if len(rep.RecordIDs) > 0 {
		p(" [%s]", refs.add("all records", rep.RecordIDs))
	}
	p("\n- Since: %s\n", sinceText(rep.Since))
	if rep.Account != "" {
		p("- Account: %s\n", md(rep.Account))
	}
	p("- Generated: %s\n\n", rep.Generated.UTC().Format(time.RFC3339))

	p("## Outcomes by account and control\n\n")
	if len(rep.Groups) == 0 {
		p("No records.\n\n")
	} else {
		p("| Account | Control | Outcomes | Fixes | Median to fix | p90 to fix |\n")
		p("|---|---|---|---:|---:|---:|\n")
		for _, g := range rep.Groups {
			var outs []string
			for _, c := range g.Outcomes {
				outs = append(outs, fmt.Sprintf("%s %d [%s]", md(c.Outcome), c.N(),
					refs.add(g.Account+" / "+g.Control+" / "+c.Outcome, c.IDs)))
			}
			control := md(g.Control)
			if g.ControlName != "" {
				control += " " + md(g.ControlName)
			}
			p("| %s | %s | %s | %d | %s | %s |\n", md(g.Account), control, strings.Join(outs, ", "),
				len(g.Fixes), fixCell(refs, g, g.Median, "median"), fixCell(refs, g, g.P90, "p90"))
		}
		p("\nTime to fix runs from the first record of a finding in this report (its Timings.Received) to the completion of its applied record; median and p90 are nearest-rank, so each is one fix, whose records are named.\n\n")
	}

	p("## Open reviews (%d)\n\n", len(rep.OpenReviews))
	if len(rep.OpenReviews) > 0 {
		p("| Age | Account | Control | Resource | Finding | Outcome | Reason | Records |\n")
		p("|---:|---|---|---|---|---|---|---|\n")
		for _, o := range rep.OpenReviews {
			p("| %s | %s | %s | %s | %s | %s | %s | [%s] |\n", age(o.Age), md(o.Account), md(o.Control),
				md(o.Resource), md(o.FindingID), md(o.Outcome), md(o.Reason), refs.add("open: "+o.FindingID, o.IDs))
		}
		p("\n")
	}

	p("## Failed fixes (%d)\n\n", len(rep.Failures))
	if len(rep.Failures) > 0 {
		p("| Time | Account | Control | Resource | Action | Reason | Record |\n")
		p("|---|---|---|---|---|---|---|\n")
		for _, f := range rep.Failures {
			p("| %s | %s | %s | %s | %s | %s | %s |\n", f.Time.UTC().Format(time.RFC3339), md(f.Account),
				md(f.Control), md(f.Resource), md(f.Action), md(f.Reason), md(f.ID))
		}
		p("\n")
	}

	if len(refs.items) > 0 {
		p("## Records behind each number\n\n")
		for i, it := range refs.items {
			ids := make([]string, len(it.ids))
			for j, id := range it.ids {
				ids[j] = md(id)
			}
			p("- R%d (%s): %s\n", i+1, md(it.label), strings.Join(ids, ", "))
		}
	}
	return bw.Flush()
}

func fixCell(refs *refList, g Group, f *Fix, what string) string {
	if f == nil {
		return "–"
	}
	ids := []string{f.AppliedID}
	if f.FirstID != f.AppliedID {
		ids = []string{f.FirstID, f.AppliedID}
	}
	return fmt.Sprintf("%s [%s]", f.Duration.Round(time.Second), refs.add(g.Account+" / "+g.Control+" / "+what, ids))
}

// refList numbers the lists of record ids the Markdown cites.
type refList struct {
	items []struct {
		label string
		ids   []string
	}
}

func (l *refList) add(label string, ids []string) string {
	l.items = append(l.items, struct {
		label string
		ids   []string
	}{label, ids})
	return fmt.Sprintf("R%d", len(l.items))
}

// mdSpecial are the characters md backslash-escapes: those that can
// start or end Markdown markup inside a line (a link, an emphasis, an
// inline HTML tag, an entity), or a table cell. Nothing md returns
// starts a line, so line-start markers (#, -, +, 1.) need no escape.
const mdSpecial = "\\`*_[]<>|~&"

// md returns s as literal Markdown text on one line.
func md(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\u2028' || r == '\u2029':
			b.WriteByte(' ')
		case r < 0x20 || r == 0x7f:
			// Other control characters are dropped.
		case strings.ContainsRune(mdSpecial, r):
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func sinceText(t time.Time) string {
	if t.IsZero() {
		return "the first record"
	}
	return t.UTC().Format(time.RFC3339)
}

// age prints d in days and hours, or hours and minutes under a day.
func age(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d >= 24*time.Hour {
		return fmt.Sprintf("%dd %dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	}
	return fmt.Sprintf("%dh %dm", d/time.Hour, d%time.Hour/time.Minute)
}
