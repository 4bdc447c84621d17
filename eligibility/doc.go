// Package eligibility decides whether a finding may be remediated
// automatically. It is the policy stage of the engine: a *Policy is both
// a remediate.Enricher (it sets environment, owner and exception status
// from sources it trusts) and a remediate.Policy (it decides).
//
//	policy, err := eligibility.Load("policy.yaml")
//	...
//	err = policy.Enrich(ctx, finding)
//	decision, err := policy.Decide(ctx, finding)
//
// The policy denies by default: a finding is remediated only when every
// check passes, and Default, which approves nothing, never remediates.
// Decide evaluates every check and returns one remediate.Decision with a
// Reason for each check that failed, naming the check, the verdict it
// leads to and the value at fault. The decision's verdict is the
// strongest of its reasons (skip outranks review); it is Remediate only
// when there is no reason at all. Decision.Action is the playbook's
// action whenever the control maps to one, and Decision.PolicyVersion is
// Version. Decision.SensitiveApproved is set when an entry of
// sensitive_approved covers the action and the finding (see Sensitive
// actions).
//
// # Checks
//
// In the order they are evaluated:
//
//	check          fails when                                            leads to
//	payload        the parser or an enricher recorded a concern          review (one reason per concern)
//	trigger_type   RESOLVED, UPDATED (acting on it could loop)           skip
//	               other, missing                                        review
//	status         RESOLVED, REJECTED                                    skip
//	               other, missing                                        review
//	severity       LOW, MEDIUM, INFORMATIONAL                            skip
//	               unknown, missing (control severity is not used)       review
//	environment    missing, restricted, or not a name the policy knows   review
//	owner          missing                                               review
//	exception      an approved, unexpired exception covers the finding   skip
//	account        missing or not allowlisted                            review
//	resource_type  missing or not approved                               review
//	control        no playbook for the control id or its source rule     review
//	               id, or the two map to different actions
//	action         the proposed action differs from the playbook's, or   review
//	               the action is not allowed for the resource type
//	rule:<name>    the CEL rule is false                                 its leads_to
//	               the CEL rule could not be evaluated                   review
//
// Enumerations (trigger type, status, severity, environment names) are
// trimmed and compared without case. Identifiers (resource types, tag
// keys, control ids, account ids, resource ids, actions) compare
// exactly: a look-alike is a different value.
//
// Decide reads Finding.Environment, Owner and Exception as enrichment
// left them and never reads what the payload declares about itself. It
// also applies the policy's own exceptions, so an excepted resource is
// skipped even if Enrich was not run; an exception store's exceptions
// (below) apply only through Enrich, which the engine runs first.
//
// # Enrichment
//
// Enrich sets Environment and Owner only from the sources the policy
// lists: "tag:<Key>" (a resource tag, exact key), "account" (the
// account's entry in the policy) and "declared" (the payload's own
// top-level environment or owner, trusted only if listed). Every source
// that gives a value must agree; if two disagree the field is left empty
// and a concern is recorded, which sends the finding to review.
//
// Options.AccountEnvironments adds the environment an account registry
// states (the crossaccount registry's environment key), whatever the
// sources list. A restricted environment is never lost to a
// disagreement: account metadata (the policy's account entry or the
// registry) naming one decides it whatever tags say, and a disagreement
// among other sources where one names a restricted environment keeps its
// concern but sets that environment, so the reason says "restricted"
// rather than "unknown".
//
// Exceptions come from the policy file and, when Options.Exceptions is
// set, from an exception store (an ExceptionSource, such as the DynamoDB
// table of package adapters/dynamo that `remedy exception add` writes).
// A policy-file exception matches by resource id,
// control id (or the control's source rule id), or both, optionally
// narrowed to an account. A resource matches by its canonical identity
// only: an ARN in the policy matches that ARN, or a bare id equal to its
// resource part (a bucket name, an sg-… id); a bare id matches that id,
// or an ARN whose resource part or last id it is. Two ARNs must be
// equal, and the resource's display name is never compared. A finding
// whose resource has neither id nor ARN goes to review when the policy
// excepts any resource. A matching exception that has not expired sets
// Exception to approved; an expired one sets it to expired, which is
// recorded and has no effect.
//
// A store's Exception is scoped by one or more of resource (matched as
// above), control, account and a tag key=value; it covers a finding only
// when every scope field it sets matches, and never once it has expired.
// Enrich reads the store for every finding. One that covers the finding
// skips it with its id, scope, expiry, owner and reason in the decision,
// as a policy-file exception does. While the store cannot be read Enrich
// returns the error, so the engine retries the finding (or sends it to
// review if the store marks the error permanent, as it does for a
// malformed exception): a finding is never changed without the store's
// answer.
//
// # Policy file
//
// A policy is one YAML document; testdata/example-policy.yaml is a
// commented example to copy. Every key is optional; what is left out
// approves nothing.
//
//	name: payments                    # with version and a SHA-256 of the file: Version()
//	version: "2026-11-28"
//	approved_resource_types:          # resource type → actions allowed on it
//	  bucket: [s3-block-public-access, s3-default-encryption]
//	playbooks:                        # control id or source rule id → action
//	  wc-id-1234: s3-block-public-access
//	environment:
//	  known: [production, staging]    # any other name → review
//	  restricted: [restricted-production]
//	  sources: [tag:Environment, account]
//	owner:
//	  sources: [tag:Owner]
//	accounts:                         # the allowlist, with metadata
//	  - {id: "111111111111", name: payments-prod, environment: production, owner: payments@example.com}
//	exceptions:                       # id, owner, reason, expires required
//	  - id: EXC-0042
//	    resource: arn:aws:s3:::www-example-com   # and/or control:, account:
//	    owner: web@example.com
//	    reason: public website bucket
//	    expires: 2027-06-30           # through that day, UTC; or an RFC 3339 time
//	rules:
//	  - name: team-tag
//	    expression: resource.tags[?"team"].orValue("") != ""
//	    leads_to: review              # or skip
//	    message: the resource has no team tag
//	sensitive_approved:               # sensitive actions that may run unattended
//	  - action: s3-block-public-access
//	    environments: [staging]       # optional: any environment when absent
//	    accounts: ["111111111111"]    # optional: any allowlisted account when absent
//	approval_required:                # a person approves the concrete plan first
//	  - actions: [rds-disable-public-access]   # every key given must match;
//	    environments: [production]             # any entry matching is enough
//	  - accounts: ["111111111111"]
//	  - tags: {data-class: pii}                # exact key and value
//
// Loading is strict. Unknown or duplicate keys, anchors and aliases,
// empty names, account ids that are not 12 digits, environments an
// account names but the policy does not list, playbook actions no
// resource type allows, bad dates, duplicate rule names, sensitive
// approvals of unknown actions, environments or accounts, and CEL that
// does not compile or is not a bool are all errors. Each is a *LoadError that
// names the file and line, such as
//
//	policy.yaml:12: unknown key "aproved_types" in the policy (known keys: ...)
//	policy.yaml:41: rule "team-tag": undeclared reference to 'resorce' (did you mean 'resource'?) (column 1)
//
// and Parse returns all of them at once.
//
// # Sensitive actions
//
// A remediator whose Spec is Sensitive (one that stops, deletes or
// otherwise risks an outage) never runs unattended whatever the policy
// decides — its plan waits for a person's approval when the engine has
// an approval store, and goes to review otherwise — unless the policy
// approves it in sensitive_approved: an entry names
// the action, and optionally the environments and accounts where it may
// run unattended (both lists must hold, an absent list meaning any).
// Decide then sets Decision.SensitiveApproved, which the engine honours —
// in the deployment and in `remedy decide` alike, since both run the
// engine. The approval lifts only the sensitive review: every other
// check must still pass. Loading refuses an entry whose action no
// resource type allows, an environment the policy does not know or
// restricts, and an account not in the accounts list.
//
// # Approval of a plan
//
// An approval_required entry matches a finding when each of its keys
// given — actions, accounts, environments (compared without case), tags
// (key: value, both exact after trimming the value) — matches; an entry
// with no key matches every finding. When any entry matches, Decide sets
// Decision.ApprovalRequired: an engine with an approval store
// (remediate.Options.Approvals) plans the change, stores the plan and
// its hash as an approval request and sends the finding to review; the
// change runs only when an authenticated approval of that very plan
// arrives (see the package remediate Approval, and remedy approve). The
// requirement never makes a finding remediate: every other check must
// still pass. Sensitive actions not approved in sensitive_approved take
// the same path when an approval store is configured. Loading refuses
// unknown keys, actions no resource type allows, environments the policy
// does not know, and accounts not in the accounts list.
//
// # CEL rules
//
// Rules are CEL expressions (https://cel.dev) compiled and type-checked
// once, at load. Each must be a bool that is true when the finding
// passes. Evaluation is bounded; a rule that errors (a missing map key,
// the cost limit) leads to review whatever its leads_to says. These
// variables are defined:
//
//	finding   id, source, trigger_source, trigger_type, status, severity,
//	          environment, owner, exception, exception_id, proposed_action,
//	          rule_id, rule_name (the automation rule): string;
//	          projects: list(string); detected_at, updated_at: timestamp
//	resource  id, arn, name, type, cloud, account, region: string;
//	          tags: map(string, string)
//	control   id, name, severity, source_rule_id, source_rule_name: string
//	account   id, name, environment, owner: string (from the policy);
//	          allowlisted: bool
//	action    string: the playbook's action, "" if none
//	now       timestamp: the policy's clock
//
// Values the source did not give are "" (times: the Unix epoch). Index
// a tag that may be absent with resource.tags[?"key"].orValue("") or test
// "key" in resource.tags first. The CEL string extensions (lowerAscii,
// split, ...) and optional values are available. Rules never see what a
// payload declares about itself.
package eligibility
