// Package resource finds, in a finding, the one AWS resource a built-in
// remediator acts on.
//
// A finding may name its resource by ARN, by bare identifier, or (for S3
// buckets) by name. Every name it gives must agree; when none can be read,
// or two disagree, the finding is rejected with a permanent error rather
// than guessed at.
package resource
