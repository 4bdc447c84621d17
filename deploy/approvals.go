package deploy

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/remedy-sec/remedy/adapters/dynamo"
	"github.com/remedy-sec/remedy/remediate"
)

// MaxApprovalTTL is the longest REMEDY_APPROVAL_TTL: well within
// MinIdempotencyTTL, so that a copy of a used approval message is always
// either remembered as processed or past its request's expiry.
const MaxApprovalTTL = 7 * 24 * time.Hour

// approvalsFromEnv reads REMEDY_APPROVAL_TABLE, REMEDY_APPROVAL_KEY_PARAM
// and REMEDY_APPROVAL_TTL into c.
func (c *Config) approvalsFromEnv(getenv func(string) string, bad func(name, format string, args ...any)) {
	c.ApprovalTable = getenv("REMEDY_APPROVAL_TABLE")
	c.ApprovalKeyParam = getenv("REMEDY_APPROVAL_KEY_PARAM")
	if v := getenv("REMEDY_APPROVAL_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		// A copy of a used approval is recognised for as long as the
		// idempotency store remembers it (MinIdempotencyTTL at least);
		// after that only the request's expiry stops it.
		if err != nil || d < time.Minute || d > MaxApprovalTTL {
			bad("REMEDY_APPROVAL_TTL", "want a duration from 1m to %s such as 24h", fmtHours(MaxApprovalTTL))
		}
		c.ApprovalTTL = d
	}
	switch {
	case c.ApprovalTable != "" && c.ApprovalKeyParam == "":
		bad("REMEDY_APPROVAL_KEY_PARAM", "required with REMEDY_APPROVAL_TABLE: name the SSM SecureString parameter holding the approval HMAC key (remedy approve signs with it)")
	case c.ApprovalTable == "" && c.ApprovalKeyParam != "":
		bad("REMEDY_APPROVAL_TABLE", "required with REMEDY_APPROVAL_KEY_PARAM: name the DynamoDB table of approval requests (remedy tables create --approval-table)")
	}
}

// GetParameterAPI is the part of the SSM client that reads the approval
// key; *ssm.Client implements it.
type GetParameterAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

var _ GetParameterAPI = (*ssm.Client)(nil)

// SSMApprovalKey returns the approval HMAC key source that reads the
// SecureString parameter name, decrypted, on every call: approvals are
// rare, and a rotated key is then used at once by every process. A
// parameter that is missing, not a SecureString, or shorter than
// remediate.MinApprovalKeyBytes is a permanent error.
func SSMApprovalKey(client GetParameterAPI, name string) remediate.ApprovalKeySource {
	return remediate.ApprovalKeyFunc(func(ctx context.Context) ([]byte, error) {
		return readApprovalKey(ctx, client, name)
	})
}

func readApprovalKey(ctx context.Context, client GetParameterAPI, name string) ([]byte, error) {
	out, err := client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("deploy: read the approval key from SSM parameter %s: %w", name, err)
	}
	p := out.Parameter
	switch {
	case p == nil || p.Value == nil:
		return nil, remediate.Permanentf("deploy: SSM parameter %s has no value", name)
	case p.Type != "SecureString":
		return nil, remediate.Permanentf("deploy: SSM parameter %s is a %s, not a SecureString: store the approval key encrypted", name, p.Type)
	case len(*p.Value) < remediate.MinApprovalKeyBytes:
		return nil, remediate.Permanentf("deploy: the approval key in SSM parameter %s is %d bytes, fewer than %d: use a random key of at least 32 bytes (openssl rand -base64 48)", name, len(*p.Value), remediate.MinApprovalKeyBytes)
	}
	return []byte(*p.Value), nil
}

// approvals sets o's approval store and key when c names an approval
// table: the key is read once now, so that a missing or weak key fails
// the start rather than the first approval.
func (c Config) approvals(ctx context.Context, o *remediate.Options, db dynamo.ApprovalAPI, params GetParameterAPI, logger *slog.Logger) error {
	if c.ApprovalTable == "" {
		return nil
	}
	if _, err := readApprovalKey(ctx, params, c.ApprovalKeyParam); err != nil {
		return err
	}
	o.Approvals = dynamo.NewApprovals(db, c.ApprovalTable)
	o.ApprovalKey = SSMApprovalKey(params, c.ApprovalKeyParam)
	o.ApprovalTTL = c.ApprovalTTL
	logger.Info("approvals enabled", slog.String("approval_table", c.ApprovalTable), slog.String("approval_key_param", c.ApprovalKeyParam))
	return nil
}
