// Package iamaccesskey deactivates an IAM user's access key that is
// stale or exposed. It never deletes a key: a deactivated key can be
// activated again, by Rollback or by its owner.
//
// The remediator's action is "iam-deactivate-access-key"; it fixes
// resources of the type "accessKey". An access key has no ARN of its own,
// so a finding names it by two fields, both required and both read
// exactly:
//
//   - Resource.ID is the access key id: AKIA and 16 upper-case letters
//     or digits. Temporary keys (ASIA…) cannot be deactivated;
//   - Resource.ARN is the ARN of the IAM user who owns it,
//     arn:aws:iam::ACCOUNT:user/[PATH/]NAME, in the finding's account
//     (Resource.Account, required) and the target region's partition.
//
// Anything else is refused with a permanent error (so the finding goes
// to review, never retried) before any API call: a key id without a user,
// a user without a key id, a role or group ARN, a composite id
// ("USER##KEY"), wildcards. Plan also checks, through
// iam:ListAccessKeys of that user and iam:GetAccessKeyLastUsed of that
// key, that IAM lists the key under that user; a key of another user
// gives a permanent error wrapping ErrNotUsersKey.
//
// A Wiz payload carries one resource identifier (resource.id, the
// provider id), so its findings name either the key or the user, never
// both: they are refused until a parser or enrichment step sets both
// fields. Because the resource ARN is the user's, a strict-mode session
// (package crossaccount) is scoped to that user, which is what IAM
// authorizes these calls on.
//
//	r := iamaccesskey.New()
//	plan, err := r.Plan(ctx, target)       // iam:ListAccessKeys, iam:GetAccessKeyLastUsed
//	res, err := r.Apply(ctx, target, plan) // iam:UpdateAccessKey Status=Inactive
//	err = r.Rollback(ctx, target, res.Rollback) // iam:UpdateAccessKey Status=Active
//
// The plan's evidence records the key's creation and last use, for the
// reviewer. The remediator is sensitive (Spec.Sensitive): deactivating a
// key stops whatever uses it, so the engine runs it only when the policy
// lists it under sensitive_approved.
//
// Rollback activates the key again only when it was active before Apply,
// that is only a key Apply deactivated; a key found inactive stays so.
// It acts on the user recorded in the rollback data (the one Apply found
// the key under), so a rollback from an audit record, which keeps the
// key id alone, reaches the same key; a finding that names another user
// or key than the rollback data is refused. In strict mode such a
// rollback's session is scoped from the bare key id and IAM denies it:
// roll it back in shared mode.
package iamaccesskey
