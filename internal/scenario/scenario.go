// Package scenario builds the world of Remedy's end-to-end tests, demo
// and benchmarks on a moto server: customer accounts with their
// remediation roles, misconfigured resources in them, and the platform
// account's pipeline — an SNS topic fanning out to an SQS queue with a
// dead-letter queue, a review topic with a queue to read it, DynamoDB
// audit and idempotency tables — plus the policy and account registry
// files that examples/lambda and examples/worker read.
//
//	w, err := scenario.New(ctx, moto, t.TempDir(), scenario.Options{Name: "e2e"})
//	err = w.CreatePublicBucket(ctx, "111111111111", "e2e-payments")
//	ids, err := w.Publish(ctx, w.BucketFinding(scenario.Finding{ID: "f1", Account: "111111111111", Bucket: "e2e-payments"}))
//	env := w.Env(moto.URL) // for the Lambda under the emulator or the worker
package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/remedy-sec/remedy/adapters/dynamo"
	"github.com/remedy-sec/remedy/adapters/snsreview"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

// Account is a customer account of the scenario.
type Account struct {
	ID string
	// Environment is what the policy's account registry says about it:
	// production, staging or restricted-production.
	Environment string
}

// DefaultAccounts are three customer accounts: production, staging and
// a restricted one Remedy must never change on its own.
func DefaultAccounts() []Account {
	return []Account{
		{ID: "111111111111", Environment: "production"},
		{ID: "222222222222", Environment: "staging"},
		{ID: "333333333333", Environment: "restricted-production"},
	}
}

// Options configure New.
type Options struct {
	// Name prefixes every queue, topic and table, so that several worlds
	// can share one moto server. Letters, digits and dashes.
	Name string
	// Region is where everything lives. Default us-east-1.
	Region string
	// Accounts default to DefaultAccounts.
	Accounts []Account
	// MaxReceiveCount is the queue's redrive maxReceiveCount. Default 3.
	MaxReceiveCount int
	// VisibilityTimeout of the queue, in seconds. Default 30.
	VisibilityTimeout int
	// Progress, if set, is told about each step.
	Progress func(format string, args ...any)
}

// RoleName is the remediation role created in each customer account.
const RoleName = "RemedyRemediation"

// ExternalID is the external id of account's role.
func ExternalID(account string) string { return "remedy-ext-" + account }

// AuditMessageIndex is the audit table's global secondary index on
// message_id, which `remedy replay` queries.
const AuditMessageIndex = dynamo.AuditMessageIndex

// World is a scenario built on a moto server.
type World struct {
	// Name prefixes every queue, topic and table; Region holds them.
	Name, Region string
	// Accounts are the customer accounts, each with its remediation role.
	Accounts []Account
	// Platform is the platform account's configuration (moto's default
	// account), talking to moto directly.
	Platform aws.Config
	// Moto is the server everything lives on.
	Moto *mototest.Server

	// TopicARN is where findings are published; it fans out to the queue
	// at QueueURL (QueueARN), whose dead-letter queue is DLQURL.
	TopicARN, QueueURL, QueueARN, DLQURL string
	// ReviewTopicARN is the review route, read through ReviewQueueURL.
	ReviewTopicARN, ReviewQueueURL string
	// AuditTable and IdempotencyTable are the engine's DynamoDB tables.
	AuditTable, IdempotencyTable string
	// MaxReceiveCount is the queue's redrive maxReceiveCount.
	MaxReceiveCount int
	// PolicyFile and AccountsFile are the files the engine reads.
	PolicyFile, AccountsFile string

	progress func(format string, args ...any)
	accounts map[string]aws.Config
}

var validName = regexp.MustCompile(`^[A-Za-z0-9-]{1,40}$`)

// New creates the accounts' roles, the pipeline and the engine's files
// (in dir).
func New(ctx context.Context, srv *mototest.Server, dir string, o Options) (*World, error) {
	if !validName.MatchString(o.Name) {
		return nil, fmt.Errorf("scenario: name %q: want 1-40 letters, digits or dashes", o.Name)
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if len(o.Accounts) == 0 {
		o.Accounts = DefaultAccounts()
	}
	if o.MaxReceiveCount == 0 {
		o.MaxReceiveCount = 3
	}
	if o.VisibilityTimeout == 0 {
		o.VisibilityTimeout = 30
	}
	if o.Progress == nil {
		o.Progress = func(string, ...any) {}
	}
	w := &World{
		Name: o.Name, Region: o.Region, Accounts: o.Accounts, Platform: srv.Config(o.Region), Moto: srv,
		AuditTable: o.Name + "-audit", IdempotencyTable: o.Name + "-idempotency", MaxReceiveCount: o.MaxReceiveCount,
		PolicyFile: filepath.Join(dir, "policy.yaml"), AccountsFile: filepath.Join(dir, "accounts.yaml"),
		progress: o.Progress, accounts: map[string]aws.Config{},
	}
	for _, a := range o.Accounts {
		if _, err := srv.CreateRole(ctx, a.ID, RoleName, ExternalID(a.ID)); err != nil {
			return nil, fmt.Errorf("scenario: %w", err)
		}
		cfg, err := srv.AccountConfig(ctx, a.ID, o.Region)
		if err != nil {
			return nil, fmt.Errorf("scenario: %w", err)
		}
		w.accounts[a.ID] = cfg
	}
	w.progress("created the remediation role %s (external id required) in %d customer accounts", RoleName, len(o.Accounts))
	if err := w.createPipeline(ctx, o.VisibilityTimeout); err != nil {
		return nil, err
	}
	if err := w.writeFiles(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *World) createPipeline(ctx context.Context, visibility int) error {
	q := sqs.NewFromConfig(w.Platform)
	t := sns.NewFromConfig(w.Platform)
	dlq, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(w.Name + "-findings-dlq")})
	if err != nil {
		return fmt.Errorf("scenario: create DLQ: %w", err)
	}
	w.DLQURL = aws.ToString(dlq.QueueUrl)
	dlqARN, err := queueARN(ctx, q, w.DLQURL)
	if err != nil {
		return err
	}
	redrive := fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"%d"}`, dlqARN, w.MaxReceiveCount)
	main, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName: aws.String(w.Name + "-findings"),
		Attributes: map[string]string{
			"RedrivePolicy":     redrive,
			"VisibilityTimeout": strconv.Itoa(visibility),
		},
	})
	if err != nil {
		return fmt.Errorf("scenario: create queue: %w", err)
	}
	w.QueueURL = aws.ToString(main.QueueUrl)
	if w.QueueARN, err = queueARN(ctx, q, w.QueueURL); err != nil {
		return err
	}
	topic, err := t.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(w.Name + "-findings")})
	if err != nil {
		return fmt.Errorf("scenario: create topic: %w", err)
	}
	w.TopicARN = aws.ToString(topic.TopicArn)
	// No raw delivery: the queue receives SNS envelopes, which the
	// parser unwraps, as from a default subscription.
	if _, err := t.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(w.QueueARN)}); err != nil {
		return fmt.Errorf("scenario: subscribe queue: %w", err)
	}
	w.progress("platform: SNS topic %s → SQS queue %s (dead-letter queue after %d receives)", w.Name+"-findings", w.Name+"-findings", w.MaxReceiveCount)

	review, err := t.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(w.Name + "-review")})
	if err != nil {
		return fmt.Errorf("scenario: create review topic: %w", err)
	}
	w.ReviewTopicARN = aws.ToString(review.TopicArn)
	rq, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(w.Name + "-review")})
	if err != nil {
		return fmt.Errorf("scenario: create review queue: %w", err)
	}
	w.ReviewQueueURL = aws.ToString(rq.QueueUrl)
	rqARN, err := queueARN(ctx, q, w.ReviewQueueURL)
	if err != nil {
		return err
	}
	if _, err := t.Subscribe(ctx, &sns.SubscribeInput{
		TopicArn: review.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(rqARN),
		Attributes: map[string]string{"RawMessageDelivery": "true"},
	}); err != nil {
		return fmt.Errorf("scenario: subscribe review queue: %w", err)
	}
	w.progress("platform: review topic %s → queue %s (a person's inbox)", w.Name+"-review", w.Name+"-review")

	db := dynamodb.NewFromConfig(w.Platform)
	if err := dynamo.CreateAuditTable(ctx, db, w.AuditTable); err != nil {
		return err
	}
	if err := dynamo.CreateIdempotencyTable(ctx, db, w.IdempotencyTable); err != nil {
		return fmt.Errorf("scenario: %w", err)
	}
	w.progress("platform: DynamoDB tables %s (audit, indexed by message id) and %s (idempotency)", w.AuditTable, w.IdempotencyTable)
	return nil
}

func queueARN(ctx context.Context, q *sqs.Client, url string) (string, error) {
	out, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return "", fmt.Errorf("scenario: queue ARN of %s: %w", url, err)
	}
	return out.Attributes[string(sqstypes.QueueAttributeNameQueueArn)], nil
}

// writeFiles writes the policy and the account registry.
func (w *World) writeFiles() error {
	var p strings.Builder
	fmt.Fprintf(&p, `# Written by internal/scenario for %s.
name: %s
version: "scenario-1"
approved_resource_types:
  bucket: [s3-block-public-access, s3-default-encryption]
  securityGroup: [sg-revoke-public-ingress]
  kmsKey: [kms-enable-rotation]
  snapshot: [ebs-snapshot-private]
playbooks:
  wc-s3-public: s3-block-public-access
  S3-019: s3-block-public-access
  S3-004: s3-default-encryption
  EC2-022: sg-revoke-public-ingress
  KMS-002: kms-enable-rotation
  EBS-011: ebs-snapshot-private
environment:
  known: [production, staging, development]
  restricted: [restricted-production]
  sources: [tag:Environment, account]
owner:
  sources: [tag:Owner]
accounts:
`, w.Name, w.Name)
	for _, a := range w.Accounts {
		fmt.Fprintf(&p, "  - id: %q\n    environment: %s\n", a.ID, a.Environment)
	}
	if err := os.WriteFile(w.PolicyFile, []byte(p.String()), 0o600); err != nil {
		return fmt.Errorf("scenario: %w", err)
	}
	var r strings.Builder
	fmt.Fprintf(&r, "role_template: arn:aws:iam::{account}:role/%s\nregions: [%s]\naccounts:\n", RoleName, w.Region)
	for _, a := range w.Accounts {
		fmt.Fprintf(&r, "  - id: %q\n    external_id: %s\n", a.ID, ExternalID(a.ID))
	}
	if err := os.WriteFile(w.AccountsFile, []byte(r.String()), 0o600); err != nil {
		return fmt.Errorf("scenario: %w", err)
	}
	return nil
}

// Env returns the environment of examples/lambda and examples/worker for
// this world, in apply mode, with every AWS call sent to endpoint (moto,
// or a faultproxy in front of it).
func (w *World) Env(endpoint string) []string {
	return []string{
		"AWS_REGION=" + w.Region,
		"AWS_ACCESS_KEY_ID=testing",
		"AWS_SECRET_ACCESS_KEY=testing",
		"AWS_ENDPOINT_URL=" + endpoint,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_MAX_ATTEMPTS=2",
		"REMEDY_POLICY_FILE=" + w.PolicyFile,
		"REMEDY_ACCOUNTS_FILE=" + w.AccountsFile,
		"REMEDY_MODE=apply",
		"REMEDY_REVIEW_TOPIC_ARN=" + w.ReviewTopicARN,
		"REMEDY_AUDIT_TABLE=" + w.AuditTable,
		"REMEDY_IDEMPOTENCY_TABLE=" + w.IdempotencyTable,
		"REMEDY_MAX_RECEIVE_COUNT=" + strconv.Itoa(w.MaxReceiveCount),
		"REMEDY_S3_PATH_STYLE=true",
		"REMEDY_QUEUE_URL=" + w.QueueURL,
	}
}

// AccountConfig returns a configuration acting in a customer account
// with its root credentials, to set up and inspect resources.
func (w *World) AccountConfig(account string) (aws.Config, error) {
	cfg, ok := w.accounts[account]
	if !ok {
		return aws.Config{}, fmt.Errorf("scenario: account %s is not part of the scenario", account)
	}
	return cfg, nil
}

func (w *World) s3(account string) (*s3.Client, error) {
	cfg, err := w.AccountConfig(account)
	if err != nil {
		return nil, err
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }), nil
}

// CreatePublicBucket creates a bucket in account with no Block Public
// Access configuration, which S3 treats as public access allowed.
func (w *World) CreatePublicBucket(ctx context.Context, account, name string) error {
	c, err := w.s3(account)
	if err != nil {
		return err
	}
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		return fmt.Errorf("scenario: create bucket %s in %s: %w", name, account, err)
	}
	return nil
}

// BucketBlocksPublicAccess reports whether all four Block Public Access
// flags of the bucket are on, read in account.
func (w *World) BucketBlocksPublicAccess(ctx context.Context, account, name string) (bool, error) {
	c, err := w.s3(account)
	if err != nil {
		return false, err
	}
	out, err := c.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String(name)})
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchPublicAccessBlockConfiguration" {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("scenario: read bucket %s in %s: %w", name, account, err)
	}
	b := out.PublicAccessBlockConfiguration
	return aws.ToBool(b.BlockPublicAcls) && aws.ToBool(b.IgnorePublicAcls) && aws.ToBool(b.BlockPublicPolicy) && aws.ToBool(b.RestrictPublicBuckets), nil
}

// CreateOpenSecurityGroup creates a security group in account's default
// VPC that allows SSH (22) and HTTPS (443) from 0.0.0.0/0, and returns
// its id. Remedy's fix revokes the SSH rule and leaves HTTPS alone.
func (w *World) CreateOpenSecurityGroup(ctx context.Context, account, name string) (string, error) {
	return w.CreateSecurityGroup(ctx, account, name, 22, 443)
}

// CreateSecurityGroup creates a security group in account's default VPC
// that allows TCP from 0.0.0.0/0 on each of ports, and returns its id.
// With 443 alone it is compliant: Remedy's fix revokes SSH and RDP.
func (w *World) CreateSecurityGroup(ctx context.Context, account, name string, ports ...int32) (string, error) {
	cfg, err := w.AccountConfig(account)
	if err != nil {
		return "", err
	}
	c := ec2.NewFromConfig(cfg)
	out, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(name), Description: aws.String("scenario: open to the internet")})
	if err != nil {
		return "", fmt.Errorf("scenario: create security group %s in %s: %w", name, account, err)
	}
	id := aws.ToString(out.GroupId)
	if len(ports) == 0 {
		return id, nil
	}
	var perms []ec2types.IpPermission
	for _, port := range ports {
		perms = append(perms, ec2types.IpPermission{
			IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port),
			IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}},
		})
	}
	if _, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(id), IpPermissions: perms}); err != nil {
		return "", fmt.Errorf("scenario: open security group %s in %s: %w", id, account, err)
	}
	return id, nil
}

// PublicIngressPorts returns the sorted ports of the group's ingress
// rules open to 0.0.0.0/0, read in account.
func (w *World) PublicIngressPorts(ctx context.Context, account, groupID string) ([]int32, error) {
	cfg, err := w.AccountConfig(account)
	if err != nil {
		return nil, err
	}
	out, err := ec2.NewFromConfig(cfg).DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{groupID}})
	if err != nil {
		return nil, fmt.Errorf("scenario: read security group %s in %s: %w", groupID, account, err)
	}
	var ports []int32
	for _, g := range out.SecurityGroups {
		for _, p := range g.IpPermissions {
			for _, r := range p.IpRanges {
				if aws.ToString(r.CidrIp) == "0.0.0.0/0" {
					ports = append(ports, aws.ToInt32(p.FromPort))
				}
			}
		}
	}
	slices.Sort(ports)
	return ports, nil
}

// BlockPublicAccess turns on all four Block Public Access flags of a
// bucket in account, as its owner would: the bucket is then compliant.
func (w *World) BlockPublicAccess(ctx context.Context, account, bucket string) error {
	c, err := w.s3(account)
	if err != nil {
		return err
	}
	on := aws.Bool(true)
	if _, err := c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{
		Bucket: aws.String(bucket),
		PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
			BlockPublicAcls: on, IgnorePublicAcls: on, BlockPublicPolicy: on, RestrictPublicBuckets: on,
		},
	}); err != nil {
		return fmt.Errorf("scenario: block public access of bucket %s in %s: %w", bucket, account, err)
	}
	return nil
}

// EncryptBucket sets SSE-S3 default encryption on a bucket in account.
func (w *World) EncryptBucket(ctx context.Context, account, bucket string) error {
	c, err := w.s3(account)
	if err != nil {
		return err
	}
	if _, err := c.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{
		Bucket: aws.String(bucket),
		ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{Rules: []s3types.ServerSideEncryptionRule{{
			ApplyServerSideEncryptionByDefault: &s3types.ServerSideEncryptionByDefault{SSEAlgorithm: s3types.ServerSideEncryptionAes256},
		}}},
	}); err != nil {
		return fmt.Errorf("scenario: encrypt bucket %s in %s: %w", bucket, account, err)
	}
	return nil
}

// BucketEncrypted reports whether the bucket has default encryption,
// read in account.
func (w *World) BucketEncrypted(ctx context.Context, account, bucket string) (bool, error) {
	c, err := w.s3(account)
	if err != nil {
		return false, err
	}
	out, err := c.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String(bucket)})
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "ServerSideEncryptionConfigurationNotFoundError" {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("scenario: read encryption of bucket %s in %s: %w", bucket, account, err)
	}
	return out.ServerSideEncryptionConfiguration != nil && len(out.ServerSideEncryptionConfiguration.Rules) > 0, nil
}

// CreateKey creates a customer-managed symmetric KMS key in account,
// without automatic rotation (or with it, if rotation), and returns its
// ARN.
func (w *World) CreateKey(ctx context.Context, account string, rotation bool) (string, error) {
	cfg, err := w.AccountConfig(account)
	if err != nil {
		return "", err
	}
	c := kms.NewFromConfig(cfg)
	out, err := c.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("scenario " + w.Name)})
	if err != nil {
		return "", fmt.Errorf("scenario: create KMS key in %s: %w", account, err)
	}
	arn := aws.ToString(out.KeyMetadata.Arn)
	if rotation {
		if _, err := c.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: aws.String(arn)}); err != nil {
			return "", fmt.Errorf("scenario: enable rotation of %s: %w", arn, err)
		}
	}
	return arn, nil
}

// KeyRotationEnabled reports whether the KMS key rotates automatically,
// read in account.
func (w *World) KeyRotationEnabled(ctx context.Context, account, keyARN string) (bool, error) {
	cfg, err := w.AccountConfig(account)
	if err != nil {
		return false, err
	}
	out, err := kms.NewFromConfig(cfg).GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: aws.String(keyARN)})
	if err != nil {
		return false, fmt.Errorf("scenario: read rotation of %s: %w", keyARN, err)
	}
	return out.KeyRotationEnabled, nil
}

// CreateSnapshot creates an EBS snapshot (of a new 1 GiB volume) in
// account, shared with everyone if public, and returns its id.
func (w *World) CreateSnapshot(ctx context.Context, account string, public bool) (string, error) {
	cfg, err := w.AccountConfig(account)
	if err != nil {
		return "", err
	}
	c := ec2.NewFromConfig(cfg)
	vol, err := c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String(w.Region + "a"), Size: aws.Int32(1)})
	if err != nil {
		return "", fmt.Errorf("scenario: create volume in %s: %w", account, err)
	}
	snap, err := c.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: vol.VolumeId})
	if err != nil {
		return "", fmt.Errorf("scenario: create snapshot in %s: %w", account, err)
	}
	id := aws.ToString(snap.SnapshotId)
	if public {
		if _, err := c.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{
			SnapshotId: aws.String(id), Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission,
			OperationType: ec2types.OperationTypeAdd, GroupNames: []string{string(ec2types.PermissionGroupAll)},
		}); err != nil {
			return "", fmt.Errorf("scenario: make snapshot %s public in %s: %w", id, account, err)
		}
	}
	return id, nil
}

// SnapshotPublic reports whether everyone may create volumes from the
// snapshot, read in account.
func (w *World) SnapshotPublic(ctx context.Context, account, snapshotID string) (bool, error) {
	cfg, err := w.AccountConfig(account)
	if err != nil {
		return false, err
	}
	out, err := ec2.NewFromConfig(cfg).DescribeSnapshotAttribute(ctx, &ec2.DescribeSnapshotAttributeInput{
		SnapshotId: aws.String(snapshotID), Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission,
	})
	if err != nil {
		return false, fmt.Errorf("scenario: read snapshot %s in %s: %w", snapshotID, account, err)
	}
	for _, p := range out.CreateVolumePermissions {
		if p.Group == ec2types.PermissionGroupAll {
			return true, nil
		}
	}
	return false, nil
}

// Finding describes a Wiz finding to build.
type Finding struct {
	// ID is the Wiz issue id.
	ID      string
	Account string
	// Bucket, GroupID, KeyARN or SnapshotID names the resource (one of
	// them).
	Bucket, GroupID, KeyARN, SnapshotID string
	// Encryption makes a bucket finding one about default encryption
	// (control S3-004, fixed by s3-default-encryption) rather than public
	// access (S3-019, s3-block-public-access).
	Encryption bool
	// Severity defaults to HIGH.
	Severity string
	// Environment and Owner become the Environment and Owner tags;
	// empty leaves the tag out.
	Environment, Owner string
}

// Payload returns the Wiz automation-rule payload (the default template
// with tags) of f.
func (w *World) Payload(f Finding) []byte {
	sev := f.Severity
	if sev == "" {
		sev = "HIGH"
	}
	tags := map[string]string{}
	if f.Environment != "" {
		tags["Environment"] = f.Environment
	}
	if f.Owner != "" {
		tags["Owner"] = f.Owner
	}
	res := map[string]any{
		"cloudPlatform": "AWS", "subscriptionId": f.Account, "subscriptionName": "acct-" + f.Account,
		"region": w.Region, "status": "Active",
	}
	var ctl map[string]any
	switch {
	case f.GroupID != "":
		res["id"] = fmt.Sprintf("arn:aws:ec2:%s:%s:security-group/%s", w.Region, f.Account, f.GroupID)
		res["name"] = f.GroupID
		res["type"] = "securityGroup"
		ctl = map[string]any{
			"id": "wc-sg-open", "name": "Security group allows SSH from the internet", "severity": sev,
			"sourceCloudConfigurationRuleId": "EC2-022", "sourceCloudConfigurationRuleName": "Security group should not allow 0.0.0.0/0 on 22",
		}
	case f.KeyARN != "":
		res["id"] = f.KeyARN
		res["name"] = f.KeyARN[strings.LastIndexByte(f.KeyARN, '/')+1:]
		res["type"] = "kmsKey"
		ctl = map[string]any{
			"id": "wc-kms-rotation", "name": "KMS key rotation is disabled", "severity": sev,
			"sourceCloudConfigurationRuleId": "KMS-002", "sourceCloudConfigurationRuleName": "Customer-managed KMS keys should rotate",
		}
	case f.SnapshotID != "":
		res["id"] = fmt.Sprintf("arn:aws:ec2:%s:%s:snapshot/%s", w.Region, f.Account, f.SnapshotID)
		res["name"] = f.SnapshotID
		res["type"] = "snapshot"
		ctl = map[string]any{
			"id": "wc-ebs-public", "name": "EBS snapshot is public", "severity": sev,
			"sourceCloudConfigurationRuleId": "EBS-011", "sourceCloudConfigurationRuleName": "EBS snapshots should not be public",
		}
	case f.Encryption:
		res["id"] = "arn:aws:s3:::" + f.Bucket
		res["name"] = f.Bucket
		res["type"] = "bucket"
		ctl = map[string]any{
			"id": "wc-s3-encryption", "name": "S3 Bucket default encryption is disabled", "severity": sev,
			"sourceCloudConfigurationRuleId": "S3-004", "sourceCloudConfigurationRuleName": "S3 Bucket should encrypt by default",
		}
	default:
		res["id"] = "arn:aws:s3:::" + f.Bucket
		res["name"] = f.Bucket
		res["type"] = "bucket"
		ctl = map[string]any{
			"id": "wc-s3-public", "name": "S3 Bucket allows public access", "severity": sev,
			"sourceCloudConfigurationRuleId": "S3-019", "sourceCloudConfigurationRuleName": "S3 Bucket should block public access",
		}
	}
	b, err := json.Marshal(map[string]any{
		"trigger": map[string]any{"source": "ISSUES", "type": "CREATED", "ruleId": "rule-" + w.Name, "ruleName": "Auto-remediate (" + w.Name + ")"},
		"issue": map[string]any{
			"id": f.ID, "status": "OPEN", "severity": sev, "created": "2026-11-02T10:11:12.345Z", "projects": "Payments",
		},
		"resource": res,
		"control":  ctl,
		"tags":     tags,
	})
	if err != nil {
		panic(err) // maps of strings always encode
	}
	return b
}

// Publish publishes each body to the findings topic, as Wiz's automation
// rule does, and returns the SNS message ids.
func (w *World) Publish(ctx context.Context, bodies ...[]byte) ([]string, error) {
	t := sns.NewFromConfig(w.Platform)
	ids := make([]string, 0, len(bodies))
	for i, b := range bodies {
		out, err := t.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(w.TopicARN), Message: aws.String(string(b))})
		if err != nil {
			return ids, fmt.Errorf("scenario: publish finding %d: %w", i+1, err)
		}
		ids = append(ids, aws.ToString(out.MessageId))
	}
	return ids, nil
}

// Enqueue sends each body straight to the findings queue, as SNS does
// with raw message delivery, ten to a call and several calls at once:
// the fast way to queue thousands of findings for a benchmark.
func (w *World) Enqueue(ctx context.Context, bodies ...[]byte) error {
	q := sqs.NewFromConfig(w.Platform)
	chunks := slices.Collect(slices.Chunk(bodies, 10))
	errs := make(chan error, len(chunks))
	sem := make(chan struct{}, 8)
	for _, chunk := range chunks {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			in := &sqs.SendMessageBatchInput{QueueUrl: aws.String(w.QueueURL)}
			for i, b := range chunk {
				in.Entries = append(in.Entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(string(b))})
			}
			out, err := q.SendMessageBatch(ctx, in)
			if err == nil && len(out.Failed) > 0 {
				err = fmt.Errorf("%d entries failed, first: %s", len(out.Failed), aws.ToString(out.Failed[0].Message))
			}
			if err != nil {
				err = fmt.Errorf("scenario: enqueue: %w", err)
			}
			errs <- err
		}()
	}
	var all []error
	for range chunks {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// Depth returns the approximate numbers of visible and in-flight
// messages in the queue at url.
func (w *World) Depth(ctx context.Context, url string) (visible, inFlight int, err error) {
	out, err := sqs.NewFromConfig(w.Platform).GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		return 0, 0, fmt.Errorf("scenario: queue depth of %s: %w", url, err)
	}
	visible, _ = strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	inFlight, _ = strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return visible, inFlight, nil
}

// WaitDepth polls the queue at url until cond(visible, inFlight) holds or
// ctx ends.
func (w *World) WaitDepth(ctx context.Context, url string, cond func(visible, inFlight int) bool) error {
	for {
		v, f, err := w.Depth(ctx, url)
		if err != nil {
			return err
		}
		if cond(v, f) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("scenario: queue %s stayed at %d visible, %d in flight: %w", url, v, f, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Receive receives up to n messages from the findings queue, with the
// attributes Lambda's event source mapping passes on.
func (w *World) Receive(ctx context.Context, n int) ([]sqstypes.Message, error) {
	q := sqs.NewFromConfig(w.Platform)
	var out []sqstypes.Message
	for len(out) < n {
		r, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(w.QueueURL), MaxNumberOfMessages: int32(min(10, n-len(out))), WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		})
		if err != nil {
			return out, fmt.Errorf("scenario: receive: %w", err)
		}
		if len(r.Messages) == 0 {
			return out, nil
		}
		out = append(out, r.Messages...)
	}
	return out, nil
}

// SQSEvent returns the Lambda event that an event source mapping on the
// findings queue would deliver for msgs.
func (w *World) SQSEvent(msgs []sqstypes.Message) events.SQSEvent {
	var ev events.SQSEvent
	for _, m := range msgs {
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
			Body: aws.ToString(m.Body), Md5OfBody: aws.ToString(m.MD5OfBody), Attributes: m.Attributes,
			EventSource: "aws:sqs", EventSourceARN: w.QueueARN, AWSRegion: w.Region,
		})
	}
	return ev
}

// AuditRecords returns every record in the audit table.
func (w *World) AuditRecords(ctx context.Context) ([]audit.Record, error) {
	db := dynamodb.NewFromConfig(w.Platform)
	var out []audit.Record
	p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(w.AuditTable), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("scenario: scan %s: %w", w.AuditTable, err)
		}
		for _, item := range page.Items {
			r, err := dynamo.DecodeAuditItem(item)
			if err != nil {
				return nil, err
			}
			out = append(out, *r)
		}
	}
	return out, nil
}

// ReviewMessages receives and deletes every message waiting in the
// review queue and decodes them.
func (w *World) ReviewMessages(ctx context.Context) ([]snsreview.Message, error) {
	q := sqs.NewFromConfig(w.Platform)
	var out []snsreview.Message
	for {
		r, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(w.ReviewQueueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			return out, fmt.Errorf("scenario: receive reviews: %w", err)
		}
		if len(r.Messages) == 0 {
			return out, nil
		}
		for _, m := range r.Messages {
			var msg snsreview.Message
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &msg); err != nil {
				return out, fmt.Errorf("scenario: review message %s: %w: %s", aws.ToString(m.MessageId), err, aws.ToString(m.Body))
			}
			out = append(out, msg)
			if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(w.ReviewQueueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				return out, fmt.Errorf("scenario: delete review: %w", err)
			}
		}
	}
}
