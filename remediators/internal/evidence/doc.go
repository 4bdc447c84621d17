// Package evidence turns what a built-in remediator read or wrote into the
// JSON and request ids that end up in audit records.
package evidence
