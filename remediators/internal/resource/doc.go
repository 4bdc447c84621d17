// Package resource finds, in a finding, the one AWS resource a built-in
// remediator acts on.
//
// A finding may name its resource by ARN, by bare identifier, or (for S3
// buckets) by name. Every name it gives must be readable and all must
// agree: when one cannot be read (an object key, a URL, an upper-case
// "ARN:", an ARN in another partition than the target region's), or two
// disagree, the finding is rejected with a permanent error rather than
// guessed at, and no other name is used in its place.
package resource
