// Package report turns audit records into a customer report: per account
// and control, the records counted by outcome, the time from finding to
// fix (nearest-rank median and p90), the findings still open for review
// and their age, and the failed fixes with their reasons — as Markdown
// for a ticket or as one self-contained HTML page for people.
//
// It works on []audit.Record alone, so it needs no AWS; `remedy report`
// reads the records from the DynamoDB audit table and calls it:
//
//	rep := report.Build(records, report.Options{Since: since, Account: "123456789012"})
//	err := rep.Markdown(os.Stdout) // or rep.HTML(w)
//
// Every number is traceable: a count is the length of a list of record
// ids, a time to fix names the records it was measured on, and both
// formats list those ids (an appendix in Markdown, details elements in
// HTML).
//
// Definitions, from the fields of audit.Record (which has no time of the
// finding itself):
//
//   - A record belongs to the account Resource.Account and the control
//     Finding.ControlID (else Finding.RuleID); records of one finding are
//     joined by Finding.ID (else account, resource and control).
//   - Time to fix runs from the earliest Timings.Received among a
//     finding's records since its previous applied or compliant record —
//     so a fix that followed a review counts the wait — to the
//     Timings.Completed of the applied record. Only records in the report
//     (after Options.Since) are seen.
//   - A finding is open when its latest records ended in review, failed
//     or applied-unverified with no applied or compliant record after
//     them; its age runs from the first of those records to Options.Now.
//   - A rollback record (RollbackOf set, decision rollback) is counted
//     under rolled-back, or rollback-planned, rollback-review or
//     rollback-failed, and nowhere else: it is not a fix, does not open
//     or close a review and is not a failed fix.
//
// All strings taken from records are escaped: Markdown punctuation is
// backslash-escaped and line breaks become spaces; the HTML page is
// rendered by html/template.
package report
