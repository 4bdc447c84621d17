// Package deploy builds the engine of Remedy's reference deployment —
// examples/lambda, examples/worker and the demo — from environment
// variables, so that the Lambda function and the worker are configured
// the same way and by the same code.
//
//	cfg, err := deploy.FromEnv(os.Getenv)
//	d, err := cfg.Build(ctx, os.Stdout)   // loads the policy and accounts, builds the engine
//	h := awslambda.NewSQSHandler(d.Engine)
//
// The variables (all optional unless said otherwise):
//
//	REMEDY_POLICY_FILE        policy YAML (default policy.yaml in $LAMBDA_TASK_ROOT or the working directory)
//	REMEDY_ACCOUNTS_FILE      account registry YAML (default accounts.yaml, same place)
//	REMEDY_MODE               dry-run (default), apply or decide-only
//	REMEDY_REVIEW_TOPIC_ARN   SNS topic of the review route; empty sends review records to audit only
//	REMEDY_SNS_TOPIC_ARNS     comma-separated topics whose signed notifications alone are accepted
//	                          (package adapters/snsverify); empty accepts bodies unverified
//	REMEDY_SNS_MAX_AGE        replay window of signed notifications, a Go duration (default 1h; 0 turns
//	                          it off); at most REMEDY_IDEMPOTENCY_TTL. An older notification is rejected,
//	                          so raise it to replay older messages from the dead-letter queue
//	REMEDY_SNS_ALLOW_SIGNATURE_V1  true to accept SNS signature version 1 (SHA1) too (default false:
//	                          only version 2; set the topic's SignatureVersion attribute to 2)
//	REMEDY_AUDIT_TABLE        DynamoDB table of the durable audit sink (records also go to stdout)
//	REMEDY_IDEMPOTENCY_TABLE  DynamoDB table of the idempotency store (default: in memory, one process)
//	REMEDY_EXCEPTION_TABLE    DynamoDB table of the exception store (remedy exception add), read for every
//	                          finding beside the policy file's exceptions; while it cannot be read,
//	                          findings are retried, never changed (default: policy-file exceptions only)
//	REMEDY_APPROVAL_TABLE     DynamoDB table of approval requests (remedy tables create --approval-table):
//	                          a finding the policy requires approval for (approval_required), or of a
//	                          sensitive action not listed under sensitive_approved, is planned, its plan
//	                          stored there and sent to review, and applied only when a signed approval of
//	                          that plan arrives on the queue (remedy approve); default: none, such findings
//	                          go to review only
//	REMEDY_APPROVAL_KEY_PARAM SSM Parameter Store SecureString holding the approvals' HMAC-SHA256 key (at
//	                          least 32 bytes), read at start and for each approval; required with
//	                          REMEDY_APPROVAL_TABLE (and needs ssm:GetParameter and kms:Decrypt)
//	REMEDY_APPROVAL_TTL       how long an approval request may be approved, a Go duration (default 24h,
//	                          at most 168h)
//	REMEDY_IDEMPOTENCY_TTL    how long a completed finding is remembered, a Go duration (default 336h,
//	                          14 days: SQS's longest retention, so a redelivered message is always
//	                          recognised); shorter is a configuration error
//	REMEDY_MAX_RECEIVE_COUNT  the queue's redrive maxReceiveCount: the last failure is audited there
//	REMEDY_SESSION_MODE       shared (default) or strict sessions in customer accounts
//	REMEDY_STS_REGION         region of the STS endpoint (default: AWS_REGION)
//	REMEDY_S3_PATH_STYLE      true to address buckets by path (moto, LocalStack)
//	REMEDY_CONCURRENCY        findings processed at once (default 8)
//	REMEDY_QUEUE_URL          the queue a worker reads (worker only; required there)
//	REMEDY_RETRY_BASE         the worker's first retry back-off, a Go duration (default 10s)
//	REMEDY_CLAIM_TTL          how long an idempotency claim lasts before another worker may take it
//	                          over (a crashed worker's claims expire), a Go duration (default 5m); keep
//	                          it above the longest a finding takes, or a duplicate may run beside it
//	REMEDY_VISIBILITY_TIMEOUT the visibility timeout the worker asks for on receive and renews by
//	                          heartbeats, a Go duration (worker only; default 60s): how soon a crashed
//	                          worker's messages are delivered again
//	REMEDY_EXIT_WHEN_IDLE     true to make the worker exit once a receive finds the queue empty and
//	                          nothing is in process (batch and cron runs; worker only; default false)
//	REMEDY_THROTTLE_MIN_RATE  throttle protection (crossaccount.Throttle): once AWS throttles an account's
//	                          calls to a service for good, they are rate-limited per (account, service),
//	                          halved per round of throttling and slowed at most to this many calls per
//	                          second (default 0.5); off turns the protection off
//	REMEDY_MAX_REQUEUES       how often a throttled message is requeued (sent again, delayed) before its
//	                          last delivery, so that throttling does not dead-letter it (default 10; 0
//	                          never; needs sqs:SendMessage on the queue)
//	REMEDY_LOG_LEVEL          debug, info (default), warn or error; logs go to stderr as JSON
//
// The AWS SDK reads its own variables as usual: AWS_REGION, credentials,
// AWS_MAX_ATTEMPTS, and AWS_ENDPOINT_URL, which sends every call
// (including the customer-account calls) to one endpoint such as moto.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/remedy-sec/remedy/adapters/dynamo"
	"github.com/remedy-sec/remedy/adapters/snsreview"
	"github.com/remedy-sec/remedy/adapters/snsverify"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/crossaccount"
	"github.com/remedy-sec/remedy/eligibility"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediators/ebssnapshot"
	"github.com/remedy-sec/remedy/remediators/iamaccesskey"
	"github.com/remedy-sec/remedy/remediators/kmsrotation"
	"github.com/remedy-sec/remedy/remediators/rdspublic"
	"github.com/remedy-sec/remedy/remediators/s3encryption"
	"github.com/remedy-sec/remedy/remediators/s3publicaccess"
	"github.com/remedy-sec/remedy/remediators/sgingress"
	"github.com/remedy-sec/remedy/wizpayload"
)

// Config is the deployment's configuration, as read by FromEnv; the
// package documentation lists the variable behind each field.
type Config struct {
	// Remediators are what the engine registers. FromEnv sets Remedy's
	// built-ins (Builtins); append your own, or replace them.
	Remediators []remediate.Remediator
	// PolicyFile and AccountsFile are the policy and account registry.
	PolicyFile, AccountsFile string
	// Mode is ModeDryRun unless the environment says otherwise.
	Mode remediate.Mode
	// ReviewTopicARN is the review route; empty means audit only.
	ReviewTopicARN string
	// SNSTopicARNs, when set, make the engine accept only notifications
	// of these topics signed by Amazon SNS.
	SNSTopicARNs []string
	// SNSMaxAge is the replay window of signed notifications
	// (snsverify.Options.MaxAge); zero checks no age.
	SNSMaxAge time.Duration
	// SNSAllowSignatureV1 accepts SNS signature version 1 as well as 2.
	SNSAllowSignatureV1 bool
	// IdempotencyTTL is how long a completed finding is remembered, at
	// least MinIdempotencyTTL.
	IdempotencyTTL time.Duration
	// AuditTable and IdempotencyTable are DynamoDB tables; empty means
	// stdout only and in-memory idempotency.
	AuditTable, IdempotencyTable string
	// ExceptionTable is the DynamoDB table of the exception store
	// (adapters/dynamo.Exceptions) the policy reads beside its file's
	// exceptions; empty means the file's alone.
	ExceptionTable string
	// ApprovalTable is the DynamoDB table of approval requests
	// (adapters/dynamo.Approvals); empty sends findings that need
	// approval to review only. ApprovalKeyParam is the SSM SecureString
	// parameter of the approvals' HMAC key, required with it.
	ApprovalTable, ApprovalKeyParam string
	// ApprovalTTL is how long a request may be approved; zero means the
	// engine's default (24 hours).
	ApprovalTTL time.Duration
	// MaxReceiveCount is the queue's redrive maxReceiveCount (0: unknown).
	MaxReceiveCount int
	// SessionMode is shared or strict STS sessions.
	SessionMode crossaccount.Mode
	// STSRegion is the region of the STS endpoint; empty means AWS_REGION.
	STSRegion string
	// PathStyleS3 addresses buckets by path, for emulators.
	PathStyleS3 bool
	// Concurrency bounds the findings processed at once.
	Concurrency int
	// QueueURL is the queue a worker reads.
	QueueURL string
	// RetryBase is the worker's first retry back-off.
	RetryBase time.Duration
	// ExitWhenIdle makes the worker exit once the queue is empty.
	ExitWhenIdle bool
	// ClaimTTL is how long an idempotency claim lasts; zero means the
	// store's default.
	ClaimTTL time.Duration
	// VisibilityTimeout is the worker's visibility timeout; zero means
	// sqsworker's default.
	VisibilityTimeout time.Duration
	// ThrottleMinRate is crossaccount.ThrottleOptions.MinRate of the
	// throttle protection; zero means its default, negative turns the
	// protection off.
	ThrottleMinRate float64
	// MaxRequeues is sqsworker.Options.MaxRequeues and
	// awslambda.Options.MaxRequeues; zero means their default, negative
	// never requeues.
	MaxRequeues int
	// LogLevel filters the JSON logs.
	LogLevel slog.Level
}

// FromEnv reads the configuration from getenv (usually os.Getenv). Every
// malformed value is reported, joined into one error that names the
// variable.
func FromEnv(getenv func(string) string) (Config, error) {
	dir := getenv("LAMBDA_TASK_ROOT")
	if dir == "" {
		dir = "."
	}
	c := Config{
		PolicyFile:       or(getenv("REMEDY_POLICY_FILE"), filepath.Join(dir, "policy.yaml")),
		AccountsFile:     or(getenv("REMEDY_ACCOUNTS_FILE"), filepath.Join(dir, "accounts.yaml")),
		ReviewTopicARN:   getenv("REMEDY_REVIEW_TOPIC_ARN"),
		AuditTable:       getenv("REMEDY_AUDIT_TABLE"),
		IdempotencyTable: getenv("REMEDY_IDEMPOTENCY_TABLE"),
		ExceptionTable:   getenv("REMEDY_EXCEPTION_TABLE"),
		STSRegion:        getenv("REMEDY_STS_REGION"),
		QueueURL:         getenv("REMEDY_QUEUE_URL"),
		Concurrency:      8,
		RetryBase:        10 * time.Second,
		SNSMaxAge:        time.Hour,
		IdempotencyTTL:   MinIdempotencyTTL,
	}
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s=%q: "+format, append([]any{name, getenv(name)}, args...)...))
	}
	switch v := getenv("REMEDY_MODE"); v {
	case "", "dry-run":
		c.Mode = remediate.ModeDryRun
	case "apply":
		c.Mode = remediate.ModeApply
	case "decide-only":
		c.Mode = remediate.ModeDecideOnly
	default:
		bad("REMEDY_MODE", "want dry-run, apply or decide-only")
	}
	switch v := getenv("REMEDY_SESSION_MODE"); v {
	case "", "shared":
		c.SessionMode = crossaccount.Shared
	case "strict":
		c.SessionMode = crossaccount.Strict
	default:
		bad("REMEDY_SESSION_MODE", "want shared or strict")
	}
	if v := getenv("REMEDY_MAX_RECEIVE_COUNT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			bad("REMEDY_MAX_RECEIVE_COUNT", "want a count (the queue's redrive maxReceiveCount)")
		}
		c.MaxReceiveCount = n
	}
	if v := getenv("REMEDY_CONCURRENCY"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1024 {
			bad("REMEDY_CONCURRENCY", "want 1 to 1024")
		}
		c.Concurrency = n
	}
	if v := getenv("REMEDY_S3_PATH_STYLE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad("REMEDY_S3_PATH_STYLE", "want true or false")
		}
		c.PathStyleS3 = b
	}
	if v := getenv("REMEDY_RETRY_BASE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			bad("REMEDY_RETRY_BASE", "want a positive duration such as 10s")
		}
		c.RetryBase = d
	}
	if v := getenv("REMEDY_CLAIM_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			bad("REMEDY_CLAIM_TTL", "want a duration of at least 1s such as 5m")
		}
		c.ClaimTTL = d
	}
	if v := getenv("REMEDY_VISIBILITY_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > 12*time.Hour {
			bad("REMEDY_VISIBILITY_TIMEOUT", "want a duration from 1s to 12h (SQS's limits) such as 60s")
		}
		c.VisibilityTimeout = d
	}
	if v := getenv("REMEDY_SNS_TOPIC_ARNS"); v != "" {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				c.SNSTopicARNs = append(c.SNSTopicARNs, t)
			}
		}
		if _, err := snsverify.New(snsverify.Options{TopicARNs: c.SNSTopicARNs}); err != nil {
			bad("REMEDY_SNS_TOPIC_ARNS", "want SNS topic ARNs separated by commas: %v", err)
		}
	}
	if v := getenv("REMEDY_IDEMPOTENCY_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < MinIdempotencyTTL {
			bad("REMEDY_IDEMPOTENCY_TTL", "want a duration of at least %s (SQS's longest message retention), such as 336h: a finding forgotten while its message can still be delivered is processed again", fmtHours(MinIdempotencyTTL))
		} else {
			c.IdempotencyTTL = d
		}
	}
	if v := getenv("REMEDY_SNS_MAX_AGE"); v != "" {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil || d < 0:
			bad("REMEDY_SNS_MAX_AGE", "want a duration such as 1h, or 0 to check no age")
		case d > c.IdempotencyTTL:
			bad("REMEDY_SNS_MAX_AGE", "want at most REMEDY_IDEMPOTENCY_TTL (%s): a notification replayed after its finding was forgotten would be processed again", fmtHours(c.IdempotencyTTL))
		default:
			c.SNSMaxAge = d
		}
	}
	if v := getenv("REMEDY_SNS_ALLOW_SIGNATURE_V1"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad("REMEDY_SNS_ALLOW_SIGNATURE_V1", "want true or false")
		}
		c.SNSAllowSignatureV1 = b
	}
	if v := getenv("REMEDY_EXIT_WHEN_IDLE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad("REMEDY_EXIT_WHEN_IDLE", "want true or false")
		}
		c.ExitWhenIdle = b
	}
	if v := getenv("REMEDY_THROTTLE_MIN_RATE"); v == "off" {
		c.ThrottleMinRate = -1
	} else if v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || !(r > 0) || r > 1e6 {
			bad("REMEDY_THROTTLE_MIN_RATE", "want calls per second above 0, such as 0.5, or off")
		}
		c.ThrottleMinRate = r
	}
	if v := getenv("REMEDY_MAX_REQUEUES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			bad("REMEDY_MAX_REQUEUES", "want a count such as 10, or 0 never to requeue")
		}
		c.MaxRequeues = n
		if n == 0 {
			c.MaxRequeues = -1
		}
	}
	if v := getenv("REMEDY_LOG_LEVEL"); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			bad("REMEDY_LOG_LEVEL", "want debug, info, warn or error")
		}
	}
	c.approvalsFromEnv(getenv, bad)
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("deploy: configuration: %w", errors.Join(errs...))
	}
	c.Remediators = Builtins(c)
	return c, nil
}

// MinIdempotencyTTL is the shortest IdempotencyTTL: SQS's longest
// message retention (1,209,600 seconds), so a message still in the queue
// (redelivered, or held back by failures) always finds its finding
// remembered, whatever the queue's MessageRetentionPeriod.
const MinIdempotencyTTL = 14 * 24 * time.Hour

// fmtHours prints d as Go durations parse it, without trailing zero units.
func fmtHours(d time.Duration) string {
	return strings.TrimSuffix(strings.TrimSuffix(d.String(), "0s"), "0m")
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Deployment is a built engine and what it was built with.
type Deployment struct {
	// Engine processes messages; hand it to an adapter.
	Engine *remediate.Engine
	// AWS is the platform account's configuration (the function's or
	// worker's own credentials).
	AWS aws.Config
	// Logger writes JSON lines to the log writer given to Build.
	Logger *slog.Logger
	// Config is what the deployment was built from.
	Config Config

	review *snsreview.Sink // nil without a review topic
}

// Flush publishes what the review route still counts: rejections of a
// reason that came within its rate-limit interval (see
// adapters/snsreview). Call it when the process stops, after the engine
// has finished.
func (d *Deployment) Flush(ctx context.Context) error {
	if d.review == nil {
		return nil
	}
	return d.review.Flush(ctx)
}

// Build loads the AWS configuration, the policy and the account registry
// and returns the engine. Audit records are written as JSON lines to
// auditOut (stdout on Lambda, where CloudWatch Logs keeps them) and to
// the DynamoDB audit table when one is configured; logs go to logOut.
func (c Config) Build(ctx context.Context, auditOut, logOut io.Writer) (*Deployment, error) {
	logger := slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: c.LogLevel}))
	// Every AWS call of the process shares one connection pool. The SDK's
	// default keeps 10 idle connections per host, fewer than the calls in
	// flight at REMEDY_CONCURRENCY 8 or more (each finding makes several,
	// besides the receives and deletes), so connections would be closed and
	// dialled again — a TLS handshake each on AWS.
	idle := max(32, 4*c.Concurrency)
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = max(t.MaxIdleConns, 4*idle)
		t.MaxIdleConnsPerHost = idle
	})
	awsCfg, err := config.LoadDefaultConfig(ctx, config.WithHTTPClient(httpClient))
	if err != nil {
		return nil, fmt.Errorf("deploy: load AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		return nil, errors.New("deploy: no AWS region: set AWS_REGION")
	}
	f, err := os.Open(c.AccountsFile)
	if err != nil {
		return nil, fmt.Errorf("deploy: account registry: %w", err)
	}
	accounts, err := crossaccount.ReadAccounts(ctx, f, func(o *crossaccount.LoadOptions) {
		o.Resolvers = map[string]crossaccount.Resolver{"ssm": crossaccount.SSMResolver{Client: ssm.NewFromConfig(awsCfg)}}
	})
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("deploy: %s: %w", c.AccountsFile, err)
	}
	var db *dynamodb.Client
	if c.AuditTable != "" || c.IdempotencyTable != "" || c.ExceptionTable != "" || c.ApprovalTable != "" {
		db = dynamodb.NewFromConfig(awsCfg)
	}
	// The environment an account entry states is the policy's to weigh.
	policy, err := eligibility.Load(c.PolicyFile, func(o *eligibility.Options) {
		o.AccountEnvironments = accounts
		if c.ExceptionTable != "" {
			o.Exceptions = dynamo.NewExceptions(db, c.ExceptionTable)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	creds, err := crossaccount.New(sts.NewFromConfig(awsCfg), accounts, func(o *crossaccount.Options) {
		o.Mode = c.SessionMode
		o.Region = c.STSRegion
		o.Logger = logger
		// Customer-account calls share the platform's transport, retry
		// settings and endpoint (AWS_ENDPOINT_URL), nothing else.
		o.Base = aws.Config{
			HTTPClient: awsCfg.HTTPClient, Retryer: awsCfg.Retryer, RetryMaxAttempts: awsCfg.RetryMaxAttempts,
			RetryMode: awsCfg.RetryMode, BaseEndpoint: awsCfg.BaseEndpoint, AppID: awsCfg.AppID,
		}
	})
	if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	if len(c.Remediators) == 0 {
		return nil, errors.New("deploy: Config.Remediators is empty: start from FromEnv, which sets the built-ins, or list your own")
	}
	reg, err := remediate.NewRegistry(c.Remediators...)
	if err != nil {
		return nil, fmt.Errorf("deploy: remediators: %w", err)
	}
	sinks := []audit.Sink{audit.NewJSONLines(auditOut)}
	if c.AuditTable != "" {
		sinks = append(sinks, dynamo.NewAuditSink(db, c.AuditTable))
	}
	var credSource remediate.CredentialSource = creds
	if c.ThrottleMinRate >= 0 {
		// One limiter per (account, service) for the whole process.
		credSource = crossaccount.NewThrottle(func(o *crossaccount.ThrottleOptions) {
			o.MinRate = c.ThrottleMinRate // zero: the default
		}).Source(creds)
	}
	opts := remediate.Options{
		Parser:          wizpayload.New(),
		Enricher:        policy,
		Policy:          policy,
		Registry:        reg,
		Credentials:     credSource,
		Audit:           audit.Multi(sinks...),
		Mode:            c.Mode,
		MaxReceiveCount: c.MaxReceiveCount,
		Logger:          logger,
	}
	if len(c.SNSTopicARNs) > 0 {
		var o snsverify.Options
		c.snsOptions(&o)
		v, err := snsverify.New(o)
		if err != nil {
			return nil, fmt.Errorf("deploy: %w", err)
		}
		opts.Authenticator = v
		if c.SNSMaxAge == 0 {
			logger.Warn("REMEDY_SNS_MAX_AGE is 0: signed notifications of any age are accepted")
		}
	} else {
		logger.Warn("REMEDY_SNS_TOPIC_ARNS is not set: message bodies are accepted without an SNS signature check")
	}
	opts.Idempotency = c.idempotency(db, nil)
	if err := c.approvals(ctx, &opts, db, ssm.NewFromConfig(awsCfg), logger); err != nil {
		return nil, err
	}
	var review *snsreview.Sink
	if c.ReviewTopicARN != "" {
		review = snsreview.New(sns.NewFromConfig(awsCfg), c.ReviewTopicARN, func(o *snsreview.Options) {
			// A message about to be dead-lettered needs a person too, and
			// so do rejections (grouped by reason and rate-limited).
			o.Outcomes = []string{
				string(remediate.OutcomeReview), string(remediate.OutcomeFailed),
				string(remediate.OutcomeAppliedUnverified),
				string(remediate.OutcomeDeadLettered), string(remediate.OutcomeRejected),
			}
		})
		opts.Review = review
	} else {
		logger.Warn("REMEDY_REVIEW_TOPIC_ARN is not set: review and failed findings are only audited")
	}
	eng, err := remediate.NewEngine(opts)
	if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	logger.Info("remedy engine ready",
		slog.String("mode", c.Mode.String()), slog.String("policy", policy.Version()),
		slog.Any("accounts", accounts), slog.Any("actions", reg.Actions()),
		slog.Bool("durable_audit", c.AuditTable != ""), slog.Bool("shared_idempotency", c.IdempotencyTable != ""),
		slog.String("exception_table", c.ExceptionTable),
		slog.Any("sns_topics_verified", c.SNSTopicARNs))
	return &Deployment{Engine: eng, AWS: awsCfg, Logger: logger, Config: c, review: review}, nil
}

// snsOptions sets the topics, replay window and accepted signature
// versions of o from c.
func (c Config) snsOptions(o *snsverify.Options) {
	o.TopicARNs = c.SNSTopicARNs
	o.MaxAge = c.SNSMaxAge
	o.AllowSignatureV1 = c.SNSAllowSignatureV1
}

// idempotency returns the idempotency store: the DynamoDB table when one
// is configured (db is then its client), else one in this process's
// memory. Either remembers a completed finding for c.IdempotencyTTL, and
// never for less than MinIdempotencyTTL, and holds a claim for
// c.ClaimTTL. now is nil except in tests.
func (c Config) idempotency(db dynamo.IdempotencyAPI, now func() time.Time) remediate.IdempotencyStore {
	ttl := max(c.IdempotencyTTL, MinIdempotencyTTL)
	if c.IdempotencyTable != "" {
		return dynamo.NewIdempotency(db, c.IdempotencyTable, func(o *dynamo.IdempotencyOptions) {
			o.DoneTTL, o.Now = ttl, now
			o.ClaimTTL = c.ClaimTTL // zero: the default
		})
	}
	return remediate.NewMemoryIdempotency(func(o *remediate.MemoryIdempotencyOptions) {
		o.DoneTTL, o.Now = ttl, now
		o.ClaimTTL = c.ClaimTTL
	})
}

// Builtins returns Remedy's built-in remediators, configured by c (its
// PathStyleS3 addresses buckets by path, as emulators need):
// s3-block-public-access, s3-default-encryption, sg-revoke-public-ingress,
// kms-enable-rotation, ebs-snapshot-private, and the sensitive
// iam-deactivate-access-key and rds-disable-public-access, which the
// engine runs unattended only when the policy lists them under
// sensitive_approved; otherwise a finding for one of them waits for a
// person's approval of its plan (with REMEDY_APPROVAL_TABLE) or goes to
// review.
func Builtins(c Config) []remediate.Remediator {
	return []remediate.Remediator{
		s3publicaccess.New(func(o *s3publicaccess.Options) { o.UsePathStyle = c.PathStyleS3 }),
		s3encryption.New(func(o *s3encryption.Options) { o.UsePathStyle = c.PathStyleS3 }),
		sgingress.New(),
		kmsrotation.New(),
		ebssnapshot.New(),
		iamaccesskey.New(),
		rdspublic.New(),
	}
}
