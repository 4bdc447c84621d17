package iamaccesskey

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediators/internal/evidence"
	"github.com/remedy-sec/remedy/remediators/internal/resource"
)

// Action is the remediator's action name.
const Action = "iam-deactivate-access-key"

// ResourceType is the native resource type it fixes.
const ResourceType = "accessKey"

// ErrNotCompliant is returned by Verify when the key is still active.
var ErrNotCompliant = errors.New("iamaccesskey: access key is active")

// ErrNotUsersKey is wrapped by the permanent error Plan returns when the
// user the finding names has no access key of the id it names.
var ErrNotUsersKey = errors.New("iamaccesskey: the user has no access key of this id")

// Options configure a Remediator.
type Options struct {
	// ClientOptions are applied to every IAM client the remediator builds.
	ClientOptions []func(*iam.Options)
}

// Remediator deactivates an IAM user's access key. It never deletes one.
// Build it with New; it is safe for concurrent use.
type Remediator struct {
	opts Options
}

var (
	_ remediate.Remediator = (*Remediator)(nil)
	_ remediate.Verifier   = (*Remediator)(nil)
	_ remediate.Rollbacker = (*Remediator)(nil)
)

// New returns a Remediator configured by optFns.
func New(optFns ...func(*Options)) *Remediator {
	var o Options
	for _, fn := range optFns {
		fn(&o)
	}
	o.ClientOptions = slices.Clone(o.ClientOptions)
	return &Remediator{opts: o}
}

// State is an access key's status as it appears in Plan.Before,
// Plan.After, Plan.Rollback, Result.After and Result.Rollback. The
// creation and last-use times are there for the reviewer of a finding:
// they are read, never written.
type State struct {
	UserARN     string `json:"user_arn"`
	UserName    string `json:"user_name"`
	AccessKeyID string `json:"access_key_id"`
	// Status is "Active" or "Inactive".
	Status   string     `json:"status"`
	Created  *time.Time `json:"created,omitempty"`
	LastUsed *time.Time `json:"last_used,omitempty"`
	// LastUsedService is the service the key last called, or "N/A".
	LastUsedService string `json:"last_used_service,omitempty"`
}

func (s State) active() bool { return s.Status != string(types.StatusTypeInactive) }

// Spec describes the remediator. It is sensitive: a deactivated key
// stops whatever uses it, so the engine runs it only when the policy
// approves it (sensitive_approved).
func (r *Remediator) Spec() remediate.Spec {
	return remediate.Spec{
		Action:        Action,
		Description:   "Deactivates (never deletes) an IAM user's access key.",
		ResourceTypes: []string{ResourceType},
		// Access keys have no ARN: IAM authorizes their actions on the
		// owning user.
		Resources: map[string][]string{ResourceType: {"arn:{partition}:iam::{account}:user/*"}},
		IAMActions: []string{
			"iam:ListAccessKeys",
			"iam:GetAccessKeyLastUsed",
			"iam:UpdateAccessKey",
		},
		Sensitive: true,
	}
}

// Plan reads the key's status through the user the finding names, and
// the key's last use. It changes nothing. A key the user does not have
// gives a permanent error wrapping ErrNotUsersKey.
func (r *Remediator) Plan(ctx context.Context, t remediate.Target) (remediate.Plan, error) {
	k, err := keyOf(t)
	if err != nil {
		return remediate.Plan{}, err
	}
	before, err := r.read(ctx, r.client(t), k, true)
	if err != nil {
		return remediate.Plan{}, err
	}
	p := remediate.Plan{Compliant: !before.active(), Before: evidence.JSON(before), Rollback: evidence.JSON(before), Data: before}
	if p.Compliant {
		p.After = p.Before
		return p, nil
	}
	p.Changes = []string{fmt.Sprintf("set status of access key %s of user %s from %s to Inactive", k.keyID, k.userName, before.Status)}
	after := before
	after.Status = string(types.StatusTypeInactive)
	p.After = evidence.JSON(after)
	return p, nil
}

// Apply deactivates the key. It does nothing when p is compliant.
// Result.Rollback holds the prior status.
func (r *Remediator) Apply(ctx context.Context, t remediate.Target, p remediate.Plan) (remediate.Result, error) {
	k, err := keyOf(t)
	if err != nil {
		return remediate.Result{}, err
	}
	before, ok := p.Data.(State)
	if !ok || before.AccessKeyID != k.keyID || before.UserARN != k.userARN {
		if p, err = r.Plan(ctx, t); err != nil {
			return remediate.Result{}, err
		}
		before = p.Data.(State)
	}
	if !before.active() {
		return remediate.Result{After: evidence.JSON(before)}, nil
	}
	out, err := r.client(t).UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{
		UserName:    aws.String(k.userName),
		AccessKeyId: aws.String(k.keyID),
		Status:      types.StatusTypeInactive,
	})
	if err != nil {
		return remediate.Result{}, remediate.ClassifyAWS(fmt.Errorf("iamaccesskey: deactivate access key %s of user %s: %w", k.keyID, k.userName, err))
	}
	after := before
	after.Status = string(types.StatusTypeInactive)
	return remediate.Result{
		After:      evidence.JSON(after),
		Rollback:   evidence.JSON(before),
		RequestIDs: evidence.RequestIDs(nil, out.ResultMetadata),
	}, nil
}

// Verify reads the key's status back and returns an error wrapping
// ErrNotCompliant while it is active.
func (r *Remediator) Verify(ctx context.Context, t remediate.Target, _ remediate.Plan) error {
	k, err := keyOf(t)
	if err != nil {
		return err
	}
	s, err := r.read(ctx, r.client(t), k, false)
	if err != nil {
		return err
	}
	if s.active() {
		return fmt.Errorf("%w: access key %s of user %s is %s", ErrNotCompliant, k.keyID, k.userName, s.Status)
	}
	return nil
}

// Rollback restores the status in rollback (a State from
// Result.Rollback): it activates the key again only when it was active
// before, that is when Apply deactivated it. The user is the one
// rollback records; the finding, when it names one, must name the same.
func (r *Remediator) Rollback(ctx context.Context, t remediate.Target, rollback json.RawMessage) error {
	var prior State
	if err := json.Unmarshal(rollback, &prior); err != nil {
		return remediate.Permanentf("iamaccesskey: rollback data: %w", err)
	}
	if t.Finding == nil || prior.AccessKeyID == "" || prior.AccessKeyID != t.Finding.Resource.ID {
		return remediate.Permanentf("iamaccesskey: rollback data is for access key %q, not the finding's", prior.AccessKeyID)
	}
	f := *t.Finding
	if f.Resource.ARN == "" {
		// An audit record keeps the key id alone: the user is the one
		// Apply found the key under.
		f.Resource.ARN = prior.UserARN
	}
	k, err := keyOf(remediate.Target{Finding: &f, AWS: t.AWS})
	if err != nil {
		return err
	}
	if prior.UserARN != k.userARN || prior.UserName != k.userName {
		return remediate.Permanentf("iamaccesskey: rollback data is for user %q, not %q", prior.UserARN, k.userARN)
	}
	if !prior.active() {
		return nil
	}
	if _, err := r.client(t).UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{
		UserName:    aws.String(k.userName),
		AccessKeyId: aws.String(k.keyID),
		Status:      types.StatusTypeActive,
	}); err != nil {
		return remediate.ClassifyAWS(fmt.Errorf("iamaccesskey: reactivate access key %s of user %s: %w", k.keyID, k.userName, err))
	}
	return nil
}

func (r *Remediator) client(t remediate.Target) *iam.Client {
	return remediate.Client(t, "iam", func() *iam.Client { return iam.NewFromConfig(t.AWS, r.opts.ClientOptions...) })
}

// read returns the key's state, found in the listing of the user's keys.
// With lastUsed it also reads when the key was last used, and checks
// that IAM attributes the key to the same user.
func (r *Remediator) read(ctx context.Context, c *iam.Client, k key, lastUsed bool) (State, error) {
	s := State{UserARN: k.userARN, UserName: k.userName, AccessKeyID: k.keyID}
	found := false
	pages := iam.NewListAccessKeysPaginator(c, &iam.ListAccessKeysInput{UserName: aws.String(k.userName)})
	for pages.HasMorePages() && !found {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return State{}, remediate.ClassifyAWS(fmt.Errorf("iamaccesskey: list access keys of user %s: %w", k.userName, err))
		}
		for _, m := range out.AccessKeyMetadata {
			if aws.ToString(m.AccessKeyId) != k.keyID {
				continue
			}
			if aws.ToString(m.UserName) != k.userName {
				return State{}, remediate.Permanentf("iamaccesskey: IAM lists access key %s under user %q, not %q", k.keyID, aws.ToString(m.UserName), k.userName)
			}
			if m.Status != types.StatusTypeActive && m.Status != types.StatusTypeInactive {
				return State{}, remediate.Permanentf("iamaccesskey: access key %s of user %s has status %q, neither Active nor Inactive", k.keyID, k.userName, m.Status)
			}
			s.Status, s.Created, found = string(m.Status), m.CreateDate, true
			break
		}
	}
	if !found {
		return State{}, remediate.Permanent(fmt.Errorf("%w: user %s, access key %s", ErrNotUsersKey, k.userName, k.keyID))
	}
	if !lastUsed {
		return s, nil
	}
	out, err := c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(k.keyID)})
	if err != nil {
		return State{}, remediate.ClassifyAWS(fmt.Errorf("iamaccesskey: get last use of access key %s: %w", k.keyID, err))
	}
	if u := aws.ToString(out.UserName); u != k.userName {
		return State{}, remediate.Permanentf("iamaccesskey: IAM says access key %s belongs to user %q, not %q", k.keyID, u, k.userName)
	}
	if lu := out.AccessKeyLastUsed; lu != nil {
		s.LastUsed, s.LastUsedService = lu.LastUsedDate, aws.ToString(lu.ServiceName)
	}
	return s, nil
}

// key is the access key a finding names and its user.
type key struct {
	userARN, userName, keyID string
}

// keyOf reads the finding's resource: its ARN is the owning user's ARN,
// arn:PARTITION:iam::ACCOUNT:user/[PATH/]NAME, in the finding's account,
// and its id the access key id (AKIA and 16 upper-case letters or
// digits). Anything else is refused with a permanent error: a finding
// must say which key of which user, and both must be read exactly.
func keyOf(t remediate.Target) (key, error) {
	f := t.Finding
	if f == nil {
		return key{}, remediate.Permanentf("iamaccesskey: no finding")
	}
	res := f.Resource
	if res.Cloud != "" && !strings.EqualFold(res.Cloud, "AWS") {
		return key{}, remediate.Permanentf("iamaccesskey: resource is in cloud %q, not AWS", res.Cloud)
	}
	if res.ID == "" && res.ARN == "" {
		return key{}, remediate.Permanentf("iamaccesskey: finding names no resource; give the access key id as resource id and its user's ARN as resource ARN")
	}
	if !ValidKeyID(res.ID) {
		return key{}, remediate.Permanentf("iamaccesskey: resource id %q is not an IAM user access key id (AKIA and 16 upper-case letters or digits)", res.ID)
	}
	if res.ARN == "" {
		return key{}, remediate.Permanentf("iamaccesskey: finding names access key %s but not its user; give the user's ARN as resource ARN", res.ID)
	}
	account := res.Account
	if len(account) != 12 || strings.Trim(account, "0123456789") != "" {
		return key{}, remediate.Permanentf("iamaccesskey: finding's account %q is not 12 digits, so the user's account cannot be checked", account)
	}
	name, err := userName(res.ARN, account, resource.Partition(t.AWS.Region))
	if err != nil {
		return key{}, remediate.Permanentf("iamaccesskey: resource ARN %q %s", res.ARN, err)
	}
	return key{userARN: res.ARN, userName: name, keyID: res.ID}, nil
}

// userName returns the name of the IAM user whose ARN is s, or why s is
// not the ARN of one user of account in partition.
func userName(s, account, partition string) (string, error) {
	a, err := arn.Parse(s)
	switch {
	case err != nil || !strings.HasPrefix(s, "arn:"):
		return "", fmt.Errorf("is not a well-formed ARN")
	case a.Partition != partition:
		return "", fmt.Errorf("is in partition %q, but the target acts in %q", a.Partition, partition)
	case a.Service != "iam" || a.Region != "":
		return "", errors.New("is not an IAM ARN")
	case a.AccountID != account:
		return "", fmt.Errorf("is in account %q, but the finding says %s", a.AccountID, account)
	}
	rest, ok := strings.CutPrefix(a.Resource, "user/")
	if !ok {
		return "", errors.New("is not an IAM user's ARN")
	}
	i := strings.LastIndexByte(rest, '/')
	path, name := rest[:i+1], rest[i+1:]
	if !validUserName(name) {
		return "", fmt.Errorf("names user %q, not a valid IAM user name", name)
	}
	if path != "" && !validPath(path) {
		return "", fmt.Errorf("has path %q, not a valid IAM path", path)
	}
	return name, nil
}

// ValidKeyID reports whether s is the id of an IAM user's long-term
// access key: AKIA and 16 upper-case letters or digits. Temporary
// credentials (ASIA…) cannot be deactivated and are not accepted.
func ValidKeyID(s string) bool {
	rest, ok := strings.CutPrefix(s, "AKIA")
	if !ok || len(rest) != 16 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// validUserName follows IAM's rule for user names: 1 to 64 of letters,
// digits and +=,.@_-.
func validUserName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("+=,.@_-", c) >= 0) {
			return false
		}
	}
	return true
}

// validPath accepts the part of a user's ARN between "user/" and the
// name: segments of printable ASCII other than '/', '*' and '?', each
// followed by '/'.
func validPath(s string) bool {
	if len(s) > 511 || !strings.HasSuffix(s, "/") {
		return false
	}
	for _, seg := range strings.Split(strings.TrimSuffix(s, "/"), "/") {
		if seg == "" {
			return false
		}
		for i := 0; i < len(seg); i++ {
			if c := seg[i]; c < '!' || c > '~' || c == '*' || c == '?' {
				return false
			}
		}
	}
	return true
}
