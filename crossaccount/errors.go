package crossaccount

import "errors"

// Errors of the credential cache. Config returns them wrapped with
// remediate.Permanent: the finding goes to review and is not retried.
var (
	// ErrNotAllowlisted: the finding's account is not in the registry.
	// Nothing is sent to STS.
	ErrNotAllowlisted = errors.New("crossaccount: account not allowlisted")
	// ErrRegionNotAllowed: the finding's region is not among the
	// account's allowed regions, or the finding names none.
	ErrRegionNotAllowed = errors.New("crossaccount: region not allowed for account")
	// ErrWrongPartition: the finding's resource ARN is in another
	// partition (aws-cn, aws-us-gov, ...) than the account's role.
	// Nothing is sent to STS.
	ErrWrongPartition = errors.New("crossaccount: resource in another partition than its account")
	// ErrPolicyTooLarge: the remediator declares more than a session
	// policy can hold, even at the coarsest resource scope.
	ErrPolicyTooLarge = errors.New("crossaccount: session policy exceeds 2048 characters")
)
