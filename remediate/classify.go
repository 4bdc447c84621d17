package remediate

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/aws/smithy-go"
)

// defaultPermanentCodes are the AWS error codes ClassifyAWS marks
// permanent: the caller lacks permission, the request is invalid, or the
// resource is gone. Keep ClassifyAWS's documentation in step (a test
// checks it lists each).
var defaultPermanentCodes = []string{
	"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError",
	"MalformedPolicyDocument", "PackedPolicyTooLarge", "RegionDisabledException", "OptInRequired",
	"ValidationError", "ValidationException", "InvalidParameterValue", "InvalidParameterCombination",
	"NoSuchBucket", "NotFoundException", "NoSuchEntity",
	"InvalidGroup.NotFound", "InvalidGroupId.Malformed", "InvalidSnapshot.NotFound", "InvalidSnapshotID.Malformed",
	"KMSInvalidStateException", "DisabledException", "UnsupportedOperationException",
	"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException",
}

// isPermanentCode reports whether an AWS error code is one of the
// defaults, ends in ".NotFound", or is in extra.
func isPermanentCode(code string, extra []string) bool {
	return slices.Contains(defaultPermanentCodes, code) || strings.HasSuffix(code, ".NotFound") || slices.Contains(extra, code)
}

// ClassifyAWS marks err permanent when it carries an AWS error code that
// retrying cannot fix. Every other error is returned as is, and so stays
// transient. It is the engine's default classifier (Options.Classify).
//
// The permanent codes are these, and any code ending in ".NotFound":
//
//	access          AccessDenied, AccessDeniedException, UnauthorizedOperation,
//	                AuthorizationError
//	session         MalformedPolicyDocument, PackedPolicyTooLarge,
//	                RegionDisabledException, OptInRequired
//	request         ValidationError, ValidationException, InvalidParameterValue,
//	                InvalidParameterCombination
//	not found       NoSuchBucket, NotFoundException, NoSuchEntity,
//	                InvalidGroup.NotFound, InvalidGroupId.Malformed,
//	                InvalidSnapshot.NotFound, InvalidSnapshotID.Malformed
//	resource state  KMSInvalidStateException, DisabledException,
//	                UnsupportedOperationException
//	S3 addressing   PermanentRedirect, AuthorizationHeaderMalformed,
//	                IllegalLocationConstraintException
//
// Throttling, 5xx, network errors, a cancelled context, ExpiredToken and
// unknown codes stay transient. So does InvalidClientTokenId: it means
// the platform's own credentials are wrong, which an operator fixes,
// after which the dead-letter queue can be replayed.
//
// A remediator adds codes of its own with Spec.PermanentErrorCodes; the
// engine then classifies its errors with Spec.Classify.
func ClassifyAWS(err error) error { return classifyCodes(err, nil) }

// Classify is ClassifyAWS that also marks permanent the codes
// s.PermanentErrorCodes declares. The engine classifies the errors of
// the remediator whose Spec s is this way: with Options.Classify (by
// default ClassifyAWS), then with s.PermanentErrorCodes.
func (s Spec) Classify(err error) error { return classifyCodes(err, s.PermanentErrorCodes) }

// classifyCodes marks err permanent when its AWS error code is one of
// the defaults or of extra.
func classifyCodes(err error, extra []string) error {
	return markIf(err, func(code string) bool { return isPermanentCode(code, extra) })
}

// markCodes marks err permanent when its AWS error code is in codes; it
// leaves every other error as it is.
func markCodes(err error, codes []string) error {
	if len(codes) == 0 {
		return err
	}
	return markIf(err, func(code string) bool { return slices.Contains(codes, code) })
}

// markIf marks err permanent when it carries an AWS error code for which
// permanent is true. A cancelled or expired context stays transient
// whatever error it caused.
func markIf(err error, permanent func(code string) bool) error {
	if err == nil || IsPermanent(err) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && permanent(ae.ErrorCode()) {
		return Permanent(err)
	}
	return err
}

type requestLogKey struct{}

// requestLog collects the AWS request ids of the calls made for one
// finding, and the name of the session they were made in and the clients
// it shares (ShareClients).
type requestLog struct {
	finding string // see FindingID
	mu      sync.Mutex
	ids     []string
	session string
	clients *Clients
}

// withRequestLog returns a context that collects the request ids of the
// calls made for the finding findingID.
func withRequestLog(ctx context.Context, findingID string) (context.Context, *requestLog) {
	l := &requestLog{finding: findingID}
	return context.WithValue(ctx, requestLogKey{}, l), l
}

// targetClients returns the clients the finding's Target keeps: those
// its CredentialSource shared, else its own.
func (l *requestLog) targetClients() *Clients {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.clients != nil {
		return l.clients
	}
	return &Clients{}
}

// RecordRequestID adds an AWS request id to the evidence of the finding
// being processed in ctx. It does nothing when ctx belongs to no finding.
// Middleware that sees every AWS response (package crossaccount installs
// one) calls it, so remediators need not.
func RecordRequestID(ctx context.Context, id string) {
	if id == "" {
		return
	}
	if l, ok := ctx.Value(requestLogKey{}).(*requestLog); ok {
		l.mu.Lock()
		// A remediator may report an id the middleware already recorded.
		if !slices.Contains(l.ids, id) {
			l.ids = append(l.ids, id)
		}
		l.mu.Unlock()
	}
}

func (l *requestLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.ids...)
}

// RecordSessionName notes the name of the AWS session in which the calls
// for the finding being processed in ctx are made — the STS
// RoleSessionName — for its audit record (Correlation.SessionName), so
// that CloudTrail entries of the customer account can be joined back to
// the finding. A CredentialSource calls it from Config (package
// crossaccount does); the last name recorded wins. It does nothing when
// ctx belongs to no finding.
func RecordSessionName(ctx context.Context, name string) {
	if l, ok := ctx.Value(requestLogKey{}).(*requestLog); ok {
		l.mu.Lock()
		l.session = name
		l.mu.Unlock()
	}
}

func (l *requestLog) sessionName() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.session
}
