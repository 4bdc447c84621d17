package remediate

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/aws/smithy-go"
)

// isPermanentCode reports whether an AWS error code means retrying cannot
// help: the caller lacks permission, the request is invalid, or the
// resource is gone. Anything else (throttling, 5xx, an expired token,
// unknown codes) stays transient. InvalidClientTokenId is transient too:
// it means the platform's own credentials are wrong, which an operator
// fixes, after which the dead-letter queue can be replayed.
func isPermanentCode(code string) bool {
	switch code {
	case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
		"AuthorizationError", "MalformedPolicyDocument",
		"PackedPolicyTooLarge", "RegionDisabledException", "ValidationError",
		"ValidationException", "InvalidParameterValue", "InvalidParameterCombination",
		"NoSuchBucket", "NotFoundException", "NoSuchEntity", "InvalidGroup.NotFound",
		"InvalidGroupId.Malformed", "InvalidSnapshot.NotFound", "InvalidSnapshotID.Malformed",
		"KMSInvalidStateException", "DisabledException", "UnsupportedOperationException",
		"OptInRequired", "PermanentRedirect", "AuthorizationHeaderMalformed",
		"IllegalLocationConstraintException":
		return true
	}
	return strings.HasSuffix(code, ".NotFound")
}

// ClassifyAWS marks err permanent when it carries an AWS error code that
// retrying cannot fix (access denied, malformed policy, region disabled,
// resource not found, validation). Every other error is returned as is,
// and so stays transient. It is the engine's default classifier.
func ClassifyAWS(err error) error {
	if err == nil || IsPermanent(err) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		if isPermanentCode(ae.ErrorCode()) {
			return Permanent(err)
		}
	}
	return err
}

type requestLogKey struct{}

// requestLog collects the AWS request ids of the calls made for one finding.
type requestLog struct {
	mu  sync.Mutex
	ids []string
}

// withRequestLog returns a context that collects request ids.
func withRequestLog(ctx context.Context) (context.Context, *requestLog) {
	l := &requestLog{}
	return context.WithValue(ctx, requestLogKey{}, l), l
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
