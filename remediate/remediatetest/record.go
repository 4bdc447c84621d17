package remediatetest

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// Operation is one AWS API call as seen on the wire.
type Operation struct {
	// Service is the SigV4 signing name, such as "s3", "ec2" or "kms",
	// which is also the IAM service prefix for those services. It is
	// empty for an unsigned request.
	Service string
	// Name is the API operation, such as "GetPublicAccessBlock". It is
	// empty when the request could not be named.
	Name string
	// Method and URL are the request's, for messages.
	Method string
	URL    string
}

// String returns "service:Name", or the method and URL when the
// operation could not be named.
func (o Operation) String() string {
	if o.Name == "" {
		return o.Method + " " + o.URL
	}
	return o.Service + ":" + o.Name
}

// ReadOnly reports whether o only reads: its name starts with Get,
// Describe, List or Head.
func (o Operation) ReadOnly() bool {
	for _, p := range []string{"Get", "Describe", "List", "Head"} {
		if strings.HasPrefix(o.Name, p) {
			return true
		}
	}
	return false
}

// IAMAction returns the IAM action that authorizes o: "service:Name",
// except for the S3 operations whose IAM action has another name (such
// as GetBucketEncryption, authorized by s3:GetEncryptionConfiguration).
// It returns "" when o could not be named.
func (o Operation) IAMAction() string {
	if o.Service == "" || o.Name == "" {
		return ""
	}
	if o.Service == "s3" {
		if a := s3Actions(o.Name); a != "" {
			return "s3:" + a
		}
	}
	return o.Service + ":" + o.Name
}

// s3Actions maps S3 operations to IAM actions where the names differ.
func s3Actions(op string) string {
	switch op {
	case "GetPublicAccessBlock":
		return "GetBucketPublicAccessBlock"
	case "PutPublicAccessBlock", "DeletePublicAccessBlock":
		return "PutBucketPublicAccessBlock"
	case "GetBucketEncryption":
		return "GetEncryptionConfiguration"
	case "PutBucketEncryption", "DeleteBucketEncryption":
		return "PutEncryptionConfiguration"
	case "HeadBucket", "ListObjects", "ListObjectsV2", "ListMultipartUploads":
		return "ListBucket"
	case "ListObjectVersions":
		return "ListBucketVersions"
	case "HeadObject":
		return "GetObject"
	case "ListBuckets":
		return "ListAllMyBuckets"
	case "CopyObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload":
		return "PutObject"
	case "DeleteObjects":
		return "DeleteObject"
	case "GetBucketLifecycleConfiguration":
		return "GetLifecycleConfiguration"
	case "PutBucketLifecycleConfiguration", "DeleteBucketLifecycle":
		return "PutLifecycleConfiguration"
	case "GetBucketCors":
		return "GetBucketCORS"
	case "PutBucketCors", "DeleteBucketCors":
		return "PutBucketCORS"
	case "GetBucketNotificationConfiguration":
		return "GetBucketNotification"
	case "PutBucketNotificationConfiguration":
		return "PutBucketNotification"
	case "GetBucketReplication":
		return "GetReplicationConfiguration"
	case "PutBucketReplication", "DeleteBucketReplication":
		return "PutReplicationConfiguration"
	case "DeleteBucketTagging":
		return "PutBucketTagging"
	case "DeleteBucketOwnershipControls":
		return "PutBucketOwnershipControls"
	case "GetObjectLockConfiguration":
		return "GetBucketObjectLockConfiguration"
	case "PutObjectLockConfiguration":
		return "PutBucketObjectLockConfiguration"
	case "GetBucketAccelerateConfiguration":
		return "GetAccelerateConfiguration"
	case "PutBucketAccelerateConfiguration":
		return "PutAccelerateConfiguration"
	}
	return ""
}

// Recorder is an aws.HTTPClient that records the operation of every
// request it sends, then passes the request to the client it wraps. It is
// safe for concurrent use.
type Recorder struct {
	next aws.HTTPClient
	mu   sync.Mutex
	ops  []Operation
}

// Record returns a copy of cfg whose HTTPClient records every request in
// the returned Recorder. Every SDK client built from the copy is recorded.
// A nil cfg.HTTPClient is replaced by the SDK's default client.
func Record(cfg aws.Config) (aws.Config, *Recorder) {
	next := cfg.HTTPClient
	if next == nil {
		next = awshttp.NewBuildableClient()
	}
	r := &Recorder{next: next}
	cfg = cfg.Copy()
	cfg.HTTPClient = r
	return cfg, r
}

// Do records req's operation and sends it.
func (r *Recorder) Do(req *http.Request) (*http.Response, error) {
	op := OperationOf(req)
	r.mu.Lock()
	r.ops = append(r.ops, op)
	r.mu.Unlock()
	return r.next.Do(req)
}

// Operations returns the operations recorded since the last Reset, in
// the order they were sent.
func (r *Recorder) Operations() []Operation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Operation(nil), r.ops...)
}

// Reset forgets the operations recorded so far.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.ops = nil
	r.mu.Unlock()
}

// OperationOf names the AWS operation req calls. The service comes from
// the SigV4 credential scope; the name from the X-Amz-Target header (JSON
// protocols such as KMS), the Action parameter (query protocols such as
// EC2 and STS), the path of RPCv2 CBOR requests, or, for S3, the x-id
// parameter or the method and sub-resource. It reads a form body and puts
// it back, so req can still be sent.
func OperationOf(req *http.Request) Operation {
	op := Operation{Service: signingName(req), Method: req.Method, URL: redactURL(req.URL)}
	if t := req.Header.Get("X-Amz-Target"); t != "" {
		op.Name = t[strings.LastIndex(t, ".")+1:]
		return op
	}
	if a := req.URL.Query().Get("Action"); a != "" {
		op.Name = a
		return op
	}
	if strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") && req.Body != nil && req.Body != http.NoBody {
		if body, err := io.ReadAll(req.Body); err == nil {
			req.Body.Close()
			req.Body = io.NopCloser(bytes.NewReader(body))
			req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
			if v, err := url.ParseQuery(string(body)); err == nil && v.Get("Action") != "" {
				op.Name = v.Get("Action")
				return op
			}
		}
	}
	if _, after, ok := strings.Cut(req.URL.Path, "/operation/"); ok && req.Header.Get("Smithy-Protocol") != "" {
		op.Name = after
		return op
	}
	if op.Service == "s3" {
		op.Name = s3Operation(req)
	}
	return op
}

// signingName returns the service of the SigV4 credential scope
// (AKID/DATE/REGION/SERVICE/aws4_request), from the Authorization header
// or a presigned URL.
func signingName(req *http.Request) string {
	scope := ""
	if a := req.Header.Get("Authorization"); a != "" {
		if _, after, ok := strings.Cut(a, "Credential="); ok {
			scope, _, _ = strings.Cut(after, ",")
		}
	} else {
		scope = req.URL.Query().Get("X-Amz-Credential")
	}
	parts := strings.Split(strings.TrimSpace(scope), "/")
	if len(parts) != 5 {
		return ""
	}
	return parts[3]
}

// redactURL drops the query of presigned URLs, which carries a signature.
func redactURL(u *url.URL) string {
	c := *u
	if c.Query().Has("X-Amz-Signature") {
		c.RawQuery = ""
	}
	return c.String()
}

// s3Sub maps a bucket or object sub-resource to the operation noun that
// follows Get, Put or Delete.
func s3Sub(sub string, object bool) string {
	switch sub {
	case "publicAccessBlock":
		return "PublicAccessBlock"
	case "encryption":
		return "BucketEncryption"
	case "policy":
		return "BucketPolicy"
	case "policyStatus":
		return "BucketPolicyStatus"
	case "acl":
		if object {
			return "ObjectAcl"
		}
		return "BucketAcl"
	case "tagging":
		if object {
			return "ObjectTagging"
		}
		return "BucketTagging"
	case "versioning":
		return "BucketVersioning"
	case "logging":
		return "BucketLogging"
	case "lifecycle":
		return "BucketLifecycleConfiguration"
	case "cors":
		return "BucketCors"
	case "website":
		return "BucketWebsite"
	case "ownershipControls":
		return "BucketOwnershipControls"
	case "notification":
		return "BucketNotificationConfiguration"
	case "replication":
		return "BucketReplication"
	case "object-lock":
		return "ObjectLockConfiguration"
	case "accelerate":
		return "BucketAccelerateConfiguration"
	case "requestPayment":
		return "BucketRequestPayment"
	case "location":
		return "BucketLocation"
	}
	return ""
}

// s3Operation names an S3 REST request. The SDK names many operations in
// an x-id parameter; the rest are told apart by method and sub-resource.
func s3Operation(req *http.Request) string {
	q := req.URL.Query()
	if id := q.Get("x-id"); id != "" {
		return id
	}
	bucket, key := s3BucketKey(req)
	object := key != ""
	verb := map[string]string{http.MethodGet: "Get", http.MethodPut: "Put", http.MethodDelete: "Delete", http.MethodHead: "Head", http.MethodPost: "Post"}[req.Method]
	for k := range q {
		if noun := s3Sub(k, object); noun != "" {
			if req.Method == http.MethodDelete && noun == "BucketLifecycleConfiguration" {
				return "DeleteBucketLifecycle"
			}
			return verb + noun
		}
	}
	switch {
	case bucket == "" && req.Method == http.MethodGet:
		return "ListBuckets"
	case req.Method == http.MethodPost && q.Has("delete"):
		return "DeleteObjects"
	case q.Has("uploads"):
		if req.Method == http.MethodPost {
			return "CreateMultipartUpload"
		}
		return "ListMultipartUploads"
	case q.Has("versions"):
		return "ListObjectVersions"
	case object && req.Method == http.MethodPut && req.Header.Get("X-Amz-Copy-Source") != "":
		return "CopyObject"
	case object && verb != "" && verb != "Post":
		return verb + "Object"
	case !object && req.Method == http.MethodGet && q.Get("list-type") == "2":
		return "ListObjectsV2"
	case !object && req.Method == http.MethodGet:
		return "ListObjects"
	case !object && req.Method == http.MethodHead:
		return "HeadBucket"
	case !object && req.Method == http.MethodPut:
		return "CreateBucket"
	case !object && req.Method == http.MethodDelete:
		return "DeleteBucket"
	}
	return ""
}

// s3BucketKey splits an S3 request into bucket and key. Requests to an
// IP address, localhost, or a host whose first label is "s3" (or
// "s3-REGION") are path-style; others are virtual-hosted.
func s3BucketKey(req *http.Request) (bucket, key string) {
	host := req.URL.Hostname()
	path := strings.TrimPrefix(req.URL.Path, "/")
	first, _, _ := strings.Cut(host, ".")
	pathStyle := net.ParseIP(host) != nil || host == "localhost" || !strings.Contains(host, ".") ||
		first == "s3" || strings.HasPrefix(first, "s3-")
	if !pathStyle {
		return first, path
	}
	bucket, key, _ = strings.Cut(path, "/")
	return bucket, key
}
