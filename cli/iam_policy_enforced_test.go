package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/remedy-sec/remedy/crossaccount"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
	"github.com/remedy-sec/remedy/remediators/ebssnapshot"
	"github.com/remedy-sec/remedy/remediators/iamaccesskey"
	"github.com/remedy-sec/remedy/remediators/kmsrotation"
	"github.com/remedy-sec/remedy/remediators/rdspublic"
	"github.com/remedy-sec/remedy/remediators/s3encryption"
	"github.com/remedy-sec/remedy/remediators/s3publicaccess"
	"github.com/remedy-sec/remedy/remediators/sgingress"
)

// The customer account of TestIAMPolicyEnforced. moto checks a trust
// policy only when the role is in the caller's own account, so the
// platform user and the customer role share moto's default account.
const (
	enforcedAccount    = mototest.DefaultAccount
	enforcedRegion     = "us-east-1"
	enforcedRole       = "RemedyRemediation"
	enforcedExternalID = "remedy-enforced-external-id"
)

// TestIAMPolicyEnforced checks, on a moto server that enforces IAM, that
// the customer role policy `remedy iam-policy` prints is enough for every
// built-in remediator and no more. Through the crossaccount cache, which
// assumes the role with the external id:
//
//   - each remediator plans, applies, verifies and rolls back the fix of
//     a misconfigured resource, and every call it makes is one the
//     policy allows by its IAM name;
//   - destructive actions the policy lacks are denied to the same
//     sessions, and the resources stay;
//   - without the action its Apply needs, each remediator's Apply fails
//     with a permanent error and the resource is unchanged.
//
// moto 5.2.1 evaluates an assumed role's own policies, and the trust
// policy's principal and sts:ExternalId, but not everything IAM does; see
// motoView for how the generated policy is rewritten so that moto can
// evaluate it, and the "moto gaps" sub-test for what this test therefore
// cannot prove.
func TestIAMPolicyEnforced(t *testing.T) {
	mototest.Require(t, moto)
	// Enforcement is global to a server, so this test has its own.
	srv, err := mototest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	reg, err := builtins(builtinOptions{PathStyleS3: true})
	if err != nil {
		t.Fatal(err)
	}
	generated := iamPolicyOf(t, "--account", enforcedAccount)
	allowed := actionsOf(generated)

	// Before enforcement: the principals, the roles and the resources,
	// made with moto's root credentials.
	root := srv.Config(enforcedRegion)
	admin := iam.NewFromConfig(root)
	platformARN, platform := enforcedUser(t, srv, admin, "remedy-platform", "sts:AssumeRole")
	_, inspector := enforcedUser(t, srv, admin, "inspector", "*")
	trust := customerTrust(platformARN, enforcedExternalID)
	putRole(t, admin, enforcedRole, trust, motoView(t, generated))

	lookup := func(action string) remediate.Remediator {
		t.Helper()
		r, err := reg.Lookup(action)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	fixtures := enforcedFixtures()
	var rems []remediate.Remediator
	var fixed, kept []*remediate.Finding
	for i, fx := range fixtures {
		rem := lookup(fx.action)
		rems = append(rems, rem)
		if !slices.Contains(rem.Spec().IAMActions, fx.apply) {
			t.Fatalf("%s does not declare %s; update enforcedFixtures", fx.action, fx.apply)
		}
		fixed = append(fixed, fx.create(t, root, fmt.Sprint(i)))
		kept = append(kept, fx.create(t, root, fmt.Sprint(i, "-kept")))
		// The policy printed for this remediator alone, not the full one:
		// moto authorizes both S3 remediators' writes as s3:CreateBucket
		// (see motoView), so in the full policy the other one's action
		// would stand in for the one taken out.
		p := iamPolicyOf(t, "--remediators", fx.action, "--account", enforcedAccount)
		putRole(t, admin, withoutRole(i), trust, motoView(t, withoutAction(p, fx.apply)))
	}
	gapBucket, foreignBucket := createBucket(t, root, "enforced-gap"), createBucket(t, root, "enforced-foreign")
	gapGroup := openGroup(t, root, "enforced-gap")
	publicAccess, ingress := lookup(s3publicaccess.Action), lookup(sgingress.Action)
	putRole(t, admin, "RemedyRemediation-verbatim", trust, generated)
	putRole(t, admin, "RemedyRemediation-foreign", trust, motoView(t, iamPolicyOf(t, "--account", "999999999999")))

	// From here on every call is authenticated and authorized.
	resp, err := http.Post(srv.URL+"/moto-api/reset-auth", "text/plain", strings.NewReader("0"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reset-auth: HTTP %d", resp.StatusCode)
	}
	if _, err := s3Client(root).ListBuckets(t.Context(), &s3.ListBucketsInput{}); err == nil {
		t.Fatal("moto answers root credentials after reset-auth: IAM is not enforced")
	}

	cache := enforcedCache(t, srv, platform, enforcedRole, enforcedExternalID)
	// session returns the configuration the cache gives fixture i's
	// remediator for its resource.
	session := func(t *testing.T, i int) aws.Config {
		t.Helper()
		cfg, err := cache.Config(t.Context(), fixed[i], rems[i].Spec())
		if err != nil {
			t.Fatalf("assume the role for %s: %v", fixed[i].ID, err)
		}
		return cfg
	}

	t.Run("trust policy", func(t *testing.T) {
		wrong := enforcedCache(t, srv, platform, enforcedRole, "not-the-external-id")
		_, err := wrong.Config(t.Context(), fixed[0], rems[0].Spec())
		if !remediate.IsPermanent(err) || !denied(err) {
			t.Errorf("assume with a wrong external id: %v; want a permanent AccessDenied", err)
		}
	})

	t.Run("remediators", func(t *testing.T) {
		for i, fx := range fixtures {
			t.Run(fx.action, func(t *testing.T) {
				f, rem := fixed[i], rems[i]
				cfg, rec := remediatetest.Record(session(t, i))
				tg := remediate.Target{Finding: f, AWS: cfg, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}
				before, ok := fx.state(t, inspector, f)
				if ok {
					t.Fatalf("set-up resource is compliant: %s", before)
				}
				p, err := rem.Plan(t.Context(), tg)
				if err != nil || p.Compliant {
					t.Fatalf("Plan: compliant %v, %v", p.Compliant, err)
				}
				res, err := rem.Apply(t.Context(), tg, p)
				if err != nil {
					t.Fatalf("Apply: %v", err)
				}
				if s, ok := fx.state(t, inspector, f); !ok {
					t.Fatalf("after Apply the resource is not compliant: %s", s)
				}
				if v, ok := rem.(remediate.Verifier); ok {
					if err := v.Verify(t.Context(), tg, p); err != nil {
						t.Errorf("Verify: %v", err)
					}
				}
				if p, err := rem.Plan(t.Context(), tg); err != nil || !p.Compliant {
					t.Errorf("Plan after Apply: compliant %v, %v", p.Compliant, err)
				}
				if r, ok := rem.(remediate.Rollbacker); ok {
					if err := r.Rollback(t.Context(), tg, res.Rollback); err != nil {
						t.Fatalf("Rollback: %v", err)
					}
					if s, _ := fx.state(t, inspector, f); s != before {
						t.Errorf("after Rollback the resource is %s, want %s as before", s, before)
					}
				}
				// moto checks S3 calls by names of its own (see motoView);
				// here every call is checked by the name IAM gives it.
				ops := rec.Operations()
				if len(ops) == 0 {
					t.Error("no call recorded: the remediator does not build its clients from Target.AWS")
				}
				for _, op := range ops {
					if _, ok := allowed[op.IAMAction()]; !ok {
						t.Errorf("%s called %s (%s), which the generated policy does not allow", fx.action, op, op.IAMAction())
					}
				}
			})
		}
	})

	// Destructive calls the policy lacks, each on a resource of the
	// remediator whose session makes it. s3:DeleteBucket is not among
	// them: moto checks that action for DeletePublicAccessBlock and
	// DeleteBucketEncryption too, which the S3 rollbacks call (see
	// motoS3Actions), so here the role has it.
	t.Run("denied", func(t *testing.T) {
		const bucketFix, groupFix, keyFix, snapFix, accessKeyFix, dbFix = 0, 2, 3, 4, 5, 6
		bucket, group, key, snap := fixed[bucketFix], fixed[groupFix], fixed[keyFix], fixed[snapFix]
		accessKey, db := fixed[accessKeyFix], fixed[dbFix]
		var before []string
		for i, fx := range fixtures {
			s, _ := fx.state(t, inspector, fixed[i])
			before = append(before, s)
		}
		tests := []struct {
			action string
			with   int // the fixture whose session makes the call
			call   func(ctx context.Context, cfg aws.Config) error
		}{
			{"s3:PutBucketPolicy", bucketFix, func(ctx context.Context, cfg aws.Config) error {
				_, err := s3Client(cfg).PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{
					Bucket: aws.String(bucket.Resource.Name),
					Policy: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"` + bucket.Resource.ARN + `/*"}]}`),
				})
				return err
			}},
			{"s3:PutBucketAcl", bucketFix, func(ctx context.Context, cfg aws.Config) error {
				_, err := s3Client(cfg).PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String(bucket.Resource.Name), ACL: "public-read"})
				return err
			}},
			{"ec2:DeleteSecurityGroup", groupFix, func(ctx context.Context, cfg aws.Config) error {
				_, err := ec2.NewFromConfig(cfg).DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(lastSegment(group.Resource.ARN))})
				return err
			}},
			{"ec2:TerminateInstances", groupFix, func(ctx context.Context, cfg aws.Config) error {
				_, err := ec2.NewFromConfig(cfg).TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{"i-0123456789abcdef0"}})
				return err
			}},
			{"ec2:DeleteSnapshot", snapFix, func(ctx context.Context, cfg aws.Config) error {
				_, err := ec2.NewFromConfig(cfg).DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(lastSegment(snap.Resource.ARN))})
				return err
			}},
			{"kms:ScheduleKeyDeletion", keyFix, func(ctx context.Context, cfg aws.Config) error {
				_, err := kms.NewFromConfig(cfg).ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(lastSegment(key.Resource.ARN)), PendingWindowInDays: aws.Int32(7)})
				return err
			}},
			// The access-key remediator deactivates keys; it must never be
			// able to delete one, nor make one.
			{"iam:DeleteAccessKey", accessKeyFix, func(ctx context.Context, cfg aws.Config) error {
				_, err := iam.NewFromConfig(cfg).DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{
					UserName: aws.String(lastSegment(accessKey.Resource.ARN)), AccessKeyId: aws.String(accessKey.Resource.ID),
				})
				return err
			}},
			{"iam:CreateAccessKey", accessKeyFix, func(ctx context.Context, cfg aws.Config) error {
				_, err := iam.NewFromConfig(cfg).CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(lastSegment(accessKey.Resource.ARN))})
				return err
			}},
			{"rds:DeleteDBInstance", dbFix, func(ctx context.Context, cfg aws.Config) error {
				_, err := rds.NewFromConfig(cfg).DeleteDBInstance(ctx, &rds.DeleteDBInstanceInput{
					DBInstanceIdentifier: aws.String(db.Resource.Name), SkipFinalSnapshot: aws.Bool(true),
				})
				return err
			}},
			{"iam:PutRolePolicy", groupFix, func(ctx context.Context, cfg aws.Config) error {
				_, err := iam.NewFromConfig(cfg).PutRolePolicy(ctx, &iam.PutRolePolicyInput{
					RoleName: aws.String(enforcedRole), PolicyName: aws.String("escalate"),
					PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`),
				})
				return err
			}},
		}
		for _, tt := range tests {
			t.Run(tt.action, func(t *testing.T) {
				if _, ok := allowed[tt.action]; ok {
					t.Fatalf("the generated policy allows %s; this negative no longer tests anything", tt.action)
				}
				err := tt.call(t.Context(), session(t, tt.with))
				if !denied(err) {
					t.Fatalf("%s with the remediation role: %v; want AccessDenied or UnauthorizedOperation", tt.action, err)
				}
				if !remediate.IsPermanent(remediate.ClassifyAWS(err)) && !motoKMSDenial(err) {
					t.Errorf("%s: the denial %v is not classified permanent", tt.action, err)
				}
			})
		}
		// The resources are all still there, unchanged, and the role
		// holds only its own policy.
		for i, fx := range fixtures {
			if s, _ := fx.state(t, inspector, fixed[i]); s != before[i] {
				t.Errorf("%s: resource changed from %s to %s", fx.action, before[i], s)
			}
		}
		names, err := iam.NewFromConfig(inspector).ListRolePolicies(t.Context(), &iam.ListRolePoliciesInput{RoleName: aws.String(enforcedRole)})
		if err != nil || !slices.Equal(names.PolicyNames, []string{"remedy-remediators"}) {
			t.Errorf("role policies: %v, %v", names, err)
		}
	})

	t.Run("without apply action", func(t *testing.T) {
		for i, fx := range fixtures {
			t.Run(fx.action, func(t *testing.T) {
				f, rem := kept[i], rems[i]
				c := enforcedCache(t, srv, platform, withoutRole(i), enforcedExternalID)
				cfg, err := c.Config(t.Context(), f, rem.Spec())
				if err != nil {
					t.Fatalf("assume %s: %v", withoutRole(i), err)
				}
				tg := remediate.Target{Finding: f, AWS: cfg, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}
				before, _ := fx.state(t, inspector, f)
				p, err := rem.Plan(t.Context(), tg)
				if err != nil {
					t.Fatalf("Plan, which needs no %s: %v", fx.apply, err)
				}
				_, err = rem.Apply(t.Context(), tg, p)
				if !denied(err) || !remediate.IsPermanent(err) && !motoKMSDenial(err) {
					t.Errorf("Apply without %s: %v; want a permanent AccessDenied", fx.apply, err)
				}
				if s, _ := fx.state(t, inspector, f); s != before {
					t.Errorf("after the denied Apply the resource is %s, want %s as before", s, before)
				}
			})
		}
	})

	// What moto cannot check, shown rather than assumed: if one of these
	// fails after a moto upgrade, moto has learnt it, and motoView and
	// this test can be made stricter.
	t.Run("moto gaps", func(t *testing.T) {
		// 1. The generated policy as it is: moto matches the EC2
		// statement's security-group ARNs against "*" and S3 calls by its
		// own names, so it denies what AWS allows.
		c := enforcedCache(t, srv, platform, "RemedyRemediation-verbatim", enforcedExternalID)
		for _, tt := range []struct {
			rem remediate.Remediator
			f   *remediate.Finding
		}{
			{ingress, enforcedFinding(sgingress.ResourceType, groupARN(gapGroup), gapGroup)},
			{publicAccess, gapBucket},
		} {
			rem, f := tt.rem, tt.f
			cfg, err := c.Config(t.Context(), f, rem.Spec())
			if err != nil {
				t.Fatal(err)
			}
			tg := remediate.Target{Finding: f, AWS: cfg, Logger: slog.New(slog.DiscardHandler)}
			p, err := rem.Plan(t.Context(), tg)
			if err == nil {
				_, err = rem.Apply(t.Context(), tg, p)
			}
			if !denied(err) {
				t.Errorf("%s with the verbatim policy: %v; moto 5.2.1 denied it: if moto now evaluates it as AWS does, make motoView rewrite less", rem.Spec().Action, err)
			}
		}
		// 2. Conditions: moto gives aws:ResourceAccount no value, so a
		// policy for another account's resources works here.
		c = enforcedCache(t, srv, platform, "RemedyRemediation-foreign", enforcedExternalID)
		f, rem := foreignBucket, publicAccess
		cfg, err := c.Config(t.Context(), f, rem.Spec())
		if err != nil {
			t.Fatal(err)
		}
		tg := remediate.Target{Finding: f, AWS: cfg, Logger: slog.New(slog.DiscardHandler)}
		p, err := rem.Plan(t.Context(), tg)
		if err == nil {
			_, err = rem.Apply(t.Context(), tg, p)
		}
		if err != nil {
			t.Errorf("Apply with a policy for account 999999999999: %v; moto 5.2.1 ignored aws:ResourceAccount: if moto now enforces it, assert the denial", err)
		}
	})
}

// motoS3Actions maps the S3 actions the built-ins declare to the actions
// moto 5.2.1 checks for the calls they authorize. moto names a bucket
// request by the table ACTION_MAP in moto/s3/responses.py, which does not
// know the publicAccessBlock and encryption sub-resources: GETs fall back
// to s3:ListBucket, PUTs to s3:CreateBucket and DELETEs to s3:DeleteBucket.
// (On AWS, DeletePublicAccessBlock and DeleteBucketEncryption, which the
// rollbacks call, are authorized by the Put actions.)
var motoS3Actions = map[string][]string{
	"s3:GetBucketPublicAccessBlock": {"s3:ListBucket"},
	"s3:PutBucketPublicAccessBlock": {"s3:CreateBucket", "s3:DeleteBucket"},
	"s3:GetEncryptionConfiguration": {"s3:ListBucket"},
	"s3:PutEncryptionConfiguration": {"s3:CreateBucket", "s3:DeleteBucket"},
}

// motoView returns p rewritten so that moto 5.2.1 evaluates it as AWS
// would evaluate p, as far as moto can:
//
//   - moto authorizes EC2 and KMS calls against Resource "*", as it knows
//     no ARN for them, so a statement scoped to ARNs never matches: their
//     statements get Resource "*". Resource scoping of EC2 and KMS actions
//     is therefore not tested. (S3 calls are matched against the bucket
//     ARN, so S3 statements keep their resources.)
//   - S3 actions become the names moto checks (motoS3Actions). moto thus
//     cannot tell the two S3 remediators' writes apart, nor
//     DeletePublicAccessBlock from DeleteBucket; the sub-test
//     "remediators" checks the calls by their IAM names instead.
//
// Conditions are kept, but moto only evaluates sts:ExternalId, in trust
// policies: aws:ResourceAccount and aws:RequestedRegion get no value and
// always hold. moto does not apply session policies either, so what this
// test sees is the role's policy alone.
func motoView(t *testing.T, p iamPolicy) iamPolicy {
	t.Helper()
	out := iamPolicy{Version: p.Version}
	for _, st := range p.Statement {
		var s3Actions, others []string
		for _, a := range st.Action {
			if !strings.HasPrefix(a, "s3:") {
				others = append(others, a)
				continue
			}
			names, ok := motoS3Actions[a]
			if !ok {
				t.Fatalf("motoView: which action does moto check for the calls %s authorizes? Add it to motoS3Actions", a)
			}
			s3Actions = append(s3Actions, names...)
		}
		if len(s3Actions) > 0 {
			s := st
			s.Action = slices.Compact(slices.Sorted(slices.Values(s3Actions)))
			out.Statement = append(out.Statement, s)
		}
		if len(others) > 0 {
			s := st
			s.Action, s.Resource = others, []string{"*"}
			out.Statement = append(out.Statement, s)
		}
	}
	return out
}

// withoutAction returns p without action, and without any statement left
// empty.
func withoutAction(p iamPolicy, action string) iamPolicy {
	out := iamPolicy{Version: p.Version}
	for _, st := range p.Statement {
		st.Action = slices.DeleteFunc(slices.Clone(st.Action), func(a string) bool { return a == action })
		if len(st.Action) > 0 {
			out.Statement = append(out.Statement, st)
		}
	}
	return out
}

func withoutRole(i int) string { return fmt.Sprintf("RemedyRemediation-without-%d", i) }

// customerTrust is the trust policy of examples/lambda/customer-role.yaml
// for principal. The template trusts the platform's Lambda role; here the
// platform is an IAM user, because moto compares the caller's ARN with
// the principal literally and an assumed-role session's ARN is not its
// role's.
func customerTrust(principal, externalID string) string {
	doc, err := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{
			map[string]any{
				"Sid": "AssumeWithExternalId", "Effect": "Allow", "Principal": map[string]any{"AWS": principal},
				"Action":    "sts:AssumeRole",
				"Condition": map[string]any{"StringEquals": map[string]any{"sts:ExternalId": externalID}},
			},
			map[string]any{
				"Sid": "TraceableSessions", "Effect": "Allow", "Principal": map[string]any{"AWS": principal},
				"Action": []string{"sts:TagSession", "sts:SetSourceIdentity"},
			},
		},
	})
	if err != nil {
		panic(err) // maps of strings always encode
	}
	return string(doc)
}

func putRole(t *testing.T, c *iam.Client, name, trust string, p iamPolicy) {
	t.Helper()
	doc, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateRole(t.Context(), &iam.CreateRoleInput{
		RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trust), MaxSessionDuration: aws.Int32(3600),
	}); err != nil {
		t.Fatalf("create role %s: %v", name, err)
	}
	if _, err := c.PutRolePolicy(t.Context(), &iam.PutRolePolicyInput{
		RoleName: aws.String(name), PolicyName: aws.String("remedy-remediators"), PolicyDocument: aws.String(string(doc)),
	}); err != nil {
		t.Fatalf("policy of role %s: %v\n%s", name, err, doc)
	}
}

// enforcedUser creates an IAM user allowed action on everything, and
// returns its ARN and a configuration with its access key.
func enforcedUser(t *testing.T, srv *mototest.Server, c *iam.Client, name, action string) (string, aws.Config) {
	t.Helper()
	u, err := c.CreateUser(t.Context(), &iam.CreateUserInput{UserName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutUserPolicy(t.Context(), &iam.PutUserPolicyInput{
		UserName: aws.String(name), PolicyName: aws.String(name),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"` + action + `","Resource":"*"}]}`),
	}); err != nil {
		t.Fatal(err)
	}
	k, err := c.CreateAccessKey(t.Context(), &iam.CreateAccessKeyInput{UserName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	creds := credentials.NewStaticCredentialsProvider(aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey), "")
	return aws.ToString(u.User.Arn), srv.ConfigWith(enforcedRegion, creds)
}

// enforcedCache is the platform's crossaccount cache, assuming role in
// the customer account with externalID.
func enforcedCache(t *testing.T, srv *mototest.Server, platform aws.Config, role, externalID string) *crossaccount.Cache {
	t.Helper()
	accs, err := crossaccount.LoadAccounts(t.Context(), crossaccount.AccountsConfig{
		Regions: []string{enforcedRegion},
		Accounts: []crossaccount.Account{{
			ID: enforcedAccount, RoleARN: "arn:aws:iam::" + enforcedAccount + ":role/" + role, ExternalID: externalID,
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := crossaccount.New(sts.NewFromConfig(platform), accs, func(o *crossaccount.Options) { o.Base = srv.Config(enforcedRegion) })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// denied reports whether err is AWS refusing a call for want of
// permission: AccessDenied (S3, IAM, STS, and EC2 as moto answers),
// AccessDeniedException (KMS) or UnauthorizedOperation (EC2 on AWS); or
// moto's KMS denial (see motoKMSDenial).
func denied(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return slices.Contains([]string{"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}, ae.ErrorCode())
	}
	return motoKMSDenial(err)
}

// motoKMSDenial reports whether err is how the SDK sees moto 5.2.1 deny a
// KMS call: HTTP 403 with an XML body, which the JSON protocol's decoder
// cannot read, so the error carries no code. AWS answers JSON with
// AccessDeniedException, which remediate.ClassifyAWS makes permanent;
// moto's answer stays transient, and this test cannot check that a KMS
// denial is permanent.
func motoKMSDenial(err error) bool {
	var oe *smithy.OperationError
	var re *smithyhttp.ResponseError
	var ae smithy.APIError
	return errors.As(err, &oe) && oe.ServiceID == "KMS" && !errors.As(err, &ae) &&
		errors.As(err, &re) && re.HTTPStatusCode() == http.StatusForbidden
}

// enforcedFixture is one built-in remediator's part of
// TestIAMPolicyEnforced.
type enforcedFixture struct {
	action string // the remediator's
	apply  string // the IAM action its Apply needs
	// create makes a misconfigured resource, named with suffix, and
	// returns the finding about it.
	create func(t *testing.T, cfg aws.Config, suffix string) *remediate.Finding
	// state reads the resource without the remediator and describes what
	// its control is about, and whether that complies.
	state func(t *testing.T, cfg aws.Config, f *remediate.Finding) (desc string, compliant bool)
}

func enforcedFixtures() []enforcedFixture {
	return []enforcedFixture{
		{
			action: s3publicaccess.Action, apply: "s3:PutBucketPublicAccessBlock",
			create: func(t *testing.T, cfg aws.Config, suffix string) *remediate.Finding {
				return createBucket(t, cfg, "enforced-public-"+suffix)
			},
			state: func(t *testing.T, cfg aws.Config, f *remediate.Finding) (string, bool) {
				out, err := s3Client(cfg).GetPublicAccessBlock(t.Context(), &s3.GetPublicAccessBlockInput{Bucket: aws.String(f.Resource.Name)})
				var ae smithy.APIError
				if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchPublicAccessBlockConfiguration" {
					return "no public access block", false
				}
				if err != nil {
					t.Fatalf("GetPublicAccessBlock: %v", err)
				}
				b := out.PublicAccessBlockConfiguration
				flags := []bool{aws.ToBool(b.BlockPublicAcls), aws.ToBool(b.IgnorePublicAcls), aws.ToBool(b.BlockPublicPolicy), aws.ToBool(b.RestrictPublicBuckets)}
				return fmt.Sprintf("public access block %v", flags), !slices.Contains(flags, false)
			},
		},
		{
			action: s3encryption.Action, apply: "s3:PutEncryptionConfiguration",
			create: func(t *testing.T, cfg aws.Config, suffix string) *remediate.Finding {
				return createBucket(t, cfg, "enforced-plain-"+suffix)
			},
			state: func(t *testing.T, cfg aws.Config, f *remediate.Finding) (string, bool) {
				out, err := s3Client(cfg).GetBucketEncryption(t.Context(), &s3.GetBucketEncryptionInput{Bucket: aws.String(f.Resource.Name)})
				var ae smithy.APIError
				if errors.As(err, &ae) && ae.ErrorCode() == "ServerSideEncryptionConfigurationNotFoundError" {
					return "no default encryption", false
				}
				if err != nil {
					t.Fatalf("GetBucketEncryption: %v", err)
				}
				return fmt.Sprintf("default encryption %s", out.ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm), true
			},
		},
		{
			action: sgingress.Action, apply: "ec2:RevokeSecurityGroupIngress",
			create: func(t *testing.T, cfg aws.Config, suffix string) *remediate.Finding {
				g := openGroup(t, cfg, "enforced-open-"+suffix)
				return enforcedFinding(sgingress.ResourceType, groupARN(g), g)
			},
			state: func(t *testing.T, cfg aws.Config, f *remediate.Finding) (string, bool) {
				out, err := ec2.NewFromConfig(cfg).DescribeSecurityGroups(t.Context(), &ec2.DescribeSecurityGroupsInput{GroupIds: []string{f.Resource.Name}})
				if err != nil {
					t.Fatalf("DescribeSecurityGroups: %v", err)
				}
				var rules []string
				for _, p := range out.SecurityGroups[0].IpPermissions {
					for _, r := range p.IpRanges {
						rules = append(rules, fmt.Sprintf("%s %d %s", aws.ToString(p.IpProtocol), aws.ToInt32(p.FromPort), aws.ToString(r.CidrIp)))
					}
				}
				slices.Sort(rules)
				return fmt.Sprintf("ingress %q", rules), !slices.Contains(rules, "tcp 22 0.0.0.0/0")
			},
		},
		{
			action: kmsrotation.Action, apply: "kms:EnableKeyRotation",
			create: func(t *testing.T, cfg aws.Config, suffix string) *remediate.Finding {
				out, err := kms.NewFromConfig(cfg).CreateKey(t.Context(), &kms.CreateKeyInput{Description: aws.String("enforced " + suffix)})
				if err != nil {
					t.Fatalf("CreateKey: %v", err)
				}
				return enforcedFinding(kmsrotation.ResourceType, aws.ToString(out.KeyMetadata.Arn), aws.ToString(out.KeyMetadata.KeyId))
			},
			state: func(t *testing.T, cfg aws.Config, f *remediate.Finding) (string, bool) {
				out, err := kms.NewFromConfig(cfg).GetKeyRotationStatus(t.Context(), &kms.GetKeyRotationStatusInput{KeyId: aws.String(f.Resource.Name)})
				if err != nil {
					t.Fatalf("GetKeyRotationStatus: %v", err)
				}
				return fmt.Sprintf("rotation enabled %v", out.KeyRotationEnabled), out.KeyRotationEnabled
			},
		},
		{
			action: ebssnapshot.Action, apply: "ec2:ModifySnapshotAttribute",
			create: func(t *testing.T, cfg aws.Config, suffix string) *remediate.Finding {
				c := ec2.NewFromConfig(cfg)
				vol, err := c.CreateVolume(t.Context(), &ec2.CreateVolumeInput{AvailabilityZone: aws.String(enforcedRegion + "a"), Size: aws.Int32(1)})
				if err != nil {
					t.Fatalf("CreateVolume: %v", err)
				}
				snap, err := c.CreateSnapshot(t.Context(), &ec2.CreateSnapshotInput{VolumeId: vol.VolumeId, Description: aws.String("enforced " + suffix)})
				if err != nil {
					t.Fatalf("CreateSnapshot: %v", err)
				}
				if _, err := c.ModifySnapshotAttribute(t.Context(), &ec2.ModifySnapshotAttributeInput{
					SnapshotId: snap.SnapshotId, Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission,
					OperationType: ec2types.OperationTypeAdd, GroupNames: []string{"all"}, UserIds: []string{"111122223333"},
				}); err != nil {
					t.Fatalf("ModifySnapshotAttribute: %v", err)
				}
				id := aws.ToString(snap.SnapshotId)
				return enforcedFinding(ebssnapshot.ResourceType, "arn:aws:ec2:"+enforcedRegion+"::snapshot/"+id, id)
			},
			state: func(t *testing.T, cfg aws.Config, f *remediate.Finding) (string, bool) {
				out, err := ec2.NewFromConfig(cfg).DescribeSnapshotAttribute(t.Context(), &ec2.DescribeSnapshotAttributeInput{
					SnapshotId: aws.String(f.Resource.Name), Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission,
				})
				if err != nil {
					t.Fatalf("DescribeSnapshotAttribute: %v", err)
				}
				var perms []string
				for _, p := range out.CreateVolumePermissions {
					perms = append(perms, "group:"+string(p.Group)+" user:"+aws.ToString(p.UserId))
				}
				slices.Sort(perms)
				return fmt.Sprintf("createVolumePermission %q", perms), !slices.ContainsFunc(perms, func(p string) bool { return strings.HasPrefix(p, "group:all ") })
			},
		},
		{
			action: iamaccesskey.Action, apply: "iam:UpdateAccessKey",
			create: func(t *testing.T, cfg aws.Config, suffix string) *remediate.Finding {
				c := iam.NewFromConfig(cfg)
				user := "enforced-key-" + suffix
				u, err := c.CreateUser(t.Context(), &iam.CreateUserInput{UserName: aws.String(user)})
				if err != nil {
					t.Fatalf("CreateUser: %v", err)
				}
				k, err := c.CreateAccessKey(t.Context(), &iam.CreateAccessKeyInput{UserName: aws.String(user)})
				if err != nil {
					t.Fatalf("CreateAccessKey: %v", err)
				}
				// The key's id is the resource id; its user's ARN the
				// resource ARN (see package iamaccesskey).
				f := enforcedFinding(iamaccesskey.ResourceType, aws.ToString(u.User.Arn), user)
				f.Resource.ID = aws.ToString(k.AccessKey.AccessKeyId)
				return f
			},
			state: func(t *testing.T, cfg aws.Config, f *remediate.Finding) (string, bool) {
				out, err := iam.NewFromConfig(cfg).ListAccessKeys(t.Context(), &iam.ListAccessKeysInput{UserName: aws.String(f.Resource.Name)})
				if err != nil {
					t.Fatalf("ListAccessKeys: %v", err)
				}
				var keys []string
				for _, m := range out.AccessKeyMetadata {
					keys = append(keys, aws.ToString(m.AccessKeyId)+" "+string(m.Status))
				}
				return fmt.Sprintf("access keys %q", keys), len(keys) == 1 && strings.HasSuffix(keys[0], " "+string(iamtypes.StatusTypeInactive))
			},
		},
		{
			action: rdspublic.Action, apply: "rds:ModifyDBInstance",
			create: func(t *testing.T, cfg aws.Config, suffix string) *remediate.Finding {
				id := "enforced-db-" + suffix
				out, err := rds.NewFromConfig(cfg).CreateDBInstance(t.Context(), &rds.CreateDBInstanceInput{
					DBInstanceIdentifier: aws.String(id), DBInstanceClass: aws.String("db.t3.micro"), Engine: aws.String("postgres"),
					AllocatedStorage: aws.Int32(20), MasterUsername: aws.String("remedy"), MasterUserPassword: aws.String("not-a-secret-1"),
					PubliclyAccessible: aws.Bool(true),
				})
				if err != nil {
					t.Fatalf("CreateDBInstance: %v", err)
				}
				return enforcedFinding(rdspublic.ResourceType, aws.ToString(out.DBInstance.DBInstanceArn), id)
			},
			state: func(t *testing.T, cfg aws.Config, f *remediate.Finding) (string, bool) {
				out, err := rds.NewFromConfig(cfg).DescribeDBInstances(t.Context(), &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(f.Resource.Name)})
				if err != nil || len(out.DBInstances) != 1 {
					t.Fatalf("DescribeDBInstances: %v", err)
				}
				public := aws.ToBool(out.DBInstances[0].PubliclyAccessible)
				return fmt.Sprintf("publicly accessible %v", public), !public
			},
		},
	}
}

func enforcedFinding(typ, arn, name string) *remediate.Finding {
	return &remediate.Finding{
		ID: "enforced-" + name, Source: "test",
		Resource: remediate.Resource{ID: arn, ARN: arn, Name: name, Type: typ, Cloud: "AWS", Account: enforcedAccount, Region: enforcedRegion},
	}
}

func s3Client(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
}

// createBucket creates a bucket with neither a public access block nor
// default encryption (moto 5.2.1 gives new buckets none).
func createBucket(t *testing.T, cfg aws.Config, name string) *remediate.Finding {
	t.Helper()
	if _, err := s3Client(cfg).CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("CreateBucket %s: %v", name, err)
	}
	return enforcedFinding(s3publicaccess.ResourceType, "arn:aws:s3:::"+name, name)
}

// openGroup creates a security group allowing SSH and HTTPS from
// anywhere; the fix revokes SSH and keeps HTTPS.
func openGroup(t *testing.T, cfg aws.Config, name string) string {
	t.Helper()
	c := ec2.NewFromConfig(cfg)
	out, err := c.CreateSecurityGroup(t.Context(), &ec2.CreateSecurityGroupInput{GroupName: aws.String(name), Description: aws.String("open to the internet")})
	if err != nil {
		t.Fatalf("CreateSecurityGroup: %v", err)
	}
	var perms []ec2types.IpPermission
	for _, port := range []int32{22, 443} {
		perms = append(perms, ec2types.IpPermission{
			IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port),
			IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}},
		})
	}
	if _, err := c.AuthorizeSecurityGroupIngress(t.Context(), &ec2.AuthorizeSecurityGroupIngressInput{GroupId: out.GroupId, IpPermissions: perms}); err != nil {
		t.Fatalf("AuthorizeSecurityGroupIngress: %v", err)
	}
	return aws.ToString(out.GroupId)
}

func groupARN(id string) string {
	return "arn:aws:ec2:" + enforcedRegion + ":" + enforcedAccount + ":security-group/" + id
}

func lastSegment(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }
