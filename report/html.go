package report

import (
	"html/template"
	"io"
	"strconv"
	"time"
)

// HTML writes the report as one self-contained HTML page — inline CSS, an
// inline SVG bar chart of outcomes per account, no scripts and no
// external assets — for people. html/template escapes every string taken
// from a record. Each count opens a details element listing the ids of
// the records behind it.
func (rep *Report) HTML(w io.Writer) error {
	return pageTemplate.Execute(w, htmlData{Report: rep, Chart: rep.chart()})
}

type htmlData struct {
	*Report
	Chart chart
}

// chart is the geometry of the SVG bar chart: one stacked bar per
// account, one segment per outcome.
type chart struct {
	Width, Height int
	Bars          []bar
	Legend        []legendItem
}

type bar struct {
	Account  string
	Y, TextY int
	Total    int
	TotalX   int
	Segments []segment
}

type segment struct {
	X, Y  int
	Width int
	Color string
	Title string
}

type legendItem struct {
	X, Y    int
	Color   string
	Outcome string
}

const (
	chartLabelW = 160
	chartBarW   = 420
	chartBarH   = 18
	chartGap    = 8
)

// outcomeColors colour the chart's segments; other outcomes are grey.
var outcomeColors = map[string]string{
	"applied": "#2e7d32", "compliant": "#81c784", "applied-unverified": "#f9a825",
	"planned": "#4fc3f7", "review": "#fb8c00", "failed": "#c62828",
	"skipped": "#9e9e9e", "rejected": "#6d4c41", "dead-lettered": "#000000",
	"rolled-back": "#5e35b1", "rollback-planned": "#9575cd", "rollback-review": "#ce93d8", "rollback-failed": "#880e4f",
}

func colorOf(outcome string) string {
	if c, ok := outcomeColors[outcome]; ok {
		return c
	}
	return "#bdbdbd"
}

func (rep *Report) chart() chart {
	maxTotal := 0
	for _, a := range rep.Accounts {
		maxTotal = max(maxTotal, a.Total())
	}
	c := chart{Width: chartLabelW + chartBarW + 60}
	seen := map[string]bool{}
	var legend []string
	y := 0
	for _, a := range rep.Accounts {
		b := bar{Account: a.Account, Y: y, TextY: y + chartBarH - 4, Total: a.Total()}
		x := chartLabelW
		for _, o := range a.Outcomes {
			wd := max(o.N()*chartBarW/maxTotal, 1)
			b.Segments = append(b.Segments, segment{X: x, Y: y, Width: wd, Color: colorOf(o.Outcome),
				Title: a.Account + ": " + o.Outcome + " " + strconv.Itoa(o.N())})
			x += wd
			if !seen[o.Outcome] {
				seen[o.Outcome] = true
				legend = append(legend, o.Outcome)
			}
		}
		b.TotalX = x + 4
		c.Bars = append(c.Bars, b)
		y += chartBarH + chartGap
	}
	sortOutcomes(legend)
	for i, o := range legend {
		c.Legend = append(c.Legend, legendItem{X: chartLabelW + (i%4)*130, Y: y + (i/4)*18, Color: colorOf(o), Outcome: o})
	}
	c.Height = y + ((len(legend)+3)/4)*18 + 4
	return c
}

func sortOutcomes(os []string) {
	cs := make([]Count, len(os))
	for i, o := range os {
		cs[i].Outcome = o
	}
	sortCounts(cs)
	for i := range cs {
		os[i] = cs[i].Outcome
	}
}

var pageTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"rfc3339": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"since":   sinceText,
	"age":     age,
	"round":   func(d time.Duration) time.Duration { return d.Round(time.Second) },
	"color":   colorOf,
	"plus":    func(a, b int) int { return a + b },
}).Parse(pageHTML))

const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Remediation report</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #212121; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #e0e0e0; }
table { border-collapse: collapse; width: 100%; margin: .5em 0; }
th, td { border: 1px solid #e0e0e0; padding: .3em .5em; text-align: left; vertical-align: top; }
th { background: #f5f5f5; } td.num { text-align: right; white-space: nowrap; }
details { display: inline-block; margin-right: .6em; } summary { cursor: pointer; }
details ul { margin: .2em 0; padding-left: 1.2em; font: 12px ui-monospace, monospace; }
.swatch { display: inline-block; width: .8em; height: .8em; margin-right: .3em; vertical-align: middle; }
.meta { color: #616161; } .note { color: #616161; font-size: .9em; }
svg text { font: 12px system-ui, sans-serif; fill: #212121; }
</style>
</head>
<body>
<h1>Remediation report</h1>
<p class="meta">{{len .RecordIDs}} records since {{since .Since}}{{if .Account}} for account {{.Account}}{{end}}; generated {{rfc3339 .Generated}}.</p>
{{if .RecordIDs}}<details><summary>all record ids</summary><ul>{{range .RecordIDs}}<li>{{.}}</li>{{end}}</ul></details>{{end}}

<h2>Outcomes per account</h2>
{{with .Chart}}{{if .Bars}}<svg xmlns="http://www.w3.org/2000/svg" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="Outcomes per account">
{{range .Bars}}<text x="0" y="{{.TextY}}">{{.Account}}</text>
{{range .Segments}}<rect x="{{.X}}" y="{{.Y}}" width="{{.Width}}" height="18" fill="{{.Color}}"><title>{{.Title}}</title></rect>
{{end}}<text x="{{.TotalX}}" y="{{.TextY}}">{{.Total}}</text>
{{end}}{{range .Legend}}<rect x="{{.X}}" y="{{.Y}}" width="12" height="12" fill="{{.Color}}"></rect><text x="{{.X | plus 16}}" y="{{.Y | plus 11}}">{{.Outcome}}</text>
{{end}}</svg>{{else}}<p>No records.</p>{{end}}{{end}}

<h2>By account and control</h2>
{{if .Groups}}<table>
<tr><th>Account</th><th>Control</th><th>Outcomes (click for record ids)</th><th>Fixes</th><th>Median to fix</th><th>p90 to fix</th></tr>
{{range .Groups}}<tr><td>{{.Account}}</td><td>{{.Control}}{{if .ControlName}}<br><span class="note">{{.ControlName}}</span>{{end}}</td>
<td>{{range .Outcomes}}<details><summary><span class="swatch" style="background: {{color .Outcome}}"></span>{{.Outcome}} {{.N}}</summary><ul>{{range .IDs}}<li>{{.}}</li>{{end}}</ul></details>{{end}}</td>
<td class="num">{{len .Fixes}}</td><td class="num">{{template "fix" .Median}}</td><td class="num">{{template "fix" .P90}}</td></tr>
{{end}}</table>
<p class="note">Time to fix runs from the first record of a finding in this report (its received time) to the completion of its applied record. Median and p90 are nearest-rank: each is one fix, whose records are listed.</p>
{{else}}<p>No records.</p>{{end}}

<h2>Open reviews ({{len .OpenReviews}})</h2>
{{if .OpenReviews}}<table>
<tr><th>Age</th><th>Account</th><th>Control</th><th>Resource</th><th>Finding</th><th>Outcome</th><th>Reason</th><th>Records</th></tr>
{{range .OpenReviews}}<tr><td class="num">{{age .Age}}</td><td>{{.Account}}</td><td>{{.Control}}</td><td>{{.Resource}}</td><td>{{.FindingID}}</td><td>{{.Outcome}}</td><td>{{.Reason}}</td>
<td><details><summary>{{len .IDs}}</summary><ul>{{range .IDs}}<li>{{.}}</li>{{end}}</ul></details></td></tr>
{{end}}</table>{{end}}

<h2>Failed fixes ({{len .Failures}})</h2>
{{if .Failures}}<table>
<tr><th>Time</th><th>Account</th><th>Control</th><th>Resource</th><th>Action</th><th>Reason</th><th>Record</th></tr>
{{range .Failures}}<tr><td>{{rfc3339 .Time}}</td><td>{{.Account}}</td><td>{{.Control}}</td><td>{{.Resource}}</td><td>{{.Action}}</td><td>{{.Reason}}</td><td>{{.ID}}</td></tr>
{{end}}</table>{{end}}
</body>
</html>
{{define "fix"}}{{if .}}<details><summary>{{round .Duration}}</summary><ul>{{if ne .FirstID .AppliedID}}<li>first: {{.FirstID}}</li>{{end}}<li>applied: {{.AppliedID}}</li></ul></details>{{else}}–{{end}}{{end}}
`
