package resource

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/remedy-sec/remedy/remediate"
)

// Kind describes how one kind of resource is named.
type Kind struct {
	// Service is the ARN service, such as "s3" or "ec2".
	Service string
	// Type is the resource-type prefix of the ARN's resource part, such
	// as "security-group" in "security-group/sg-1". Empty means the whole
	// resource part is the identifier (S3 buckets).
	Type string
	// Valid reports whether s is a well-formed bare identifier.
	Valid func(s string) bool
	// ByName means Resource.Name is also the identifier (S3 buckets).
	ByName bool
}

// ID returns the identifier of the resource f is about. region is the
// region the caller's AWS configuration acts in; an ARN in another region
// is rejected, so a fix never lands in a region nobody asked for. Every
// error is permanent: a finding that does not say which resource it means
// does not get better on retry.
func (k Kind) ID(f *remediate.Finding, region string) (string, error) {
	if f == nil {
		return "", remediate.Permanentf("%s: no finding", k.Service)
	}
	r := f.Resource
	if r.Cloud != "" && !strings.EqualFold(r.Cloud, "AWS") {
		return "", remediate.Permanentf("%s: resource is in cloud %q, not AWS", k.Service, r.Cloud)
	}
	var ids []string
	var unknown []string
	for _, s := range []string{r.ARN, r.ID} {
		s = strings.TrimSpace(s)
		switch {
		case s == "":
		case arn.IsARN(s):
			id, err := k.fromARN(s, r.Account, region)
			if err != nil {
				return "", err
			}
			ids = append(ids, id)
		case k.Valid(s):
			ids = append(ids, s)
		default:
			unknown = append(unknown, s)
		}
	}
	if k.ByName {
		if n := strings.TrimSpace(r.Name); n != "" && k.Valid(n) {
			ids = append(ids, n)
		}
	}
	if len(ids) == 0 {
		if len(unknown) > 0 {
			return "", remediate.Permanentf("%s: cannot tell which resource %q names", k.Service, unknown[0])
		}
		return "", remediate.Permanentf("%s: finding names no resource", k.Service)
	}
	for _, id := range ids[1:] {
		if id != ids[0] {
			return "", remediate.Permanentf("%s: finding names two resources, %q and %q", k.Service, ids[0], id)
		}
	}
	return ids[0], nil
}

func (k Kind) fromARN(s, account, region string) (string, error) {
	a, err := arn.Parse(s)
	if err != nil {
		return "", remediate.Permanentf("%s: resource ARN %q: %v", k.Service, s, err)
	}
	if a.Service != k.Service {
		return "", remediate.Permanentf("%s: resource ARN %q is for service %q", k.Service, s, a.Service)
	}
	if a.Region != "" && region != "" && a.Region != region {
		return "", remediate.Permanentf("%s: resource ARN %q is in region %s, but the target acts in %s", k.Service, s, a.Region, region)
	}
	if a.AccountID != "" && account != "" && a.AccountID != account {
		return "", remediate.Permanentf("%s: resource ARN %q is in account %s, but the finding says %s", k.Service, s, a.AccountID, account)
	}
	id := a.Resource
	if k.Type != "" {
		var ok bool
		id, ok = strings.CutPrefix(id, k.Type+"/")
		if !ok {
			return "", remediate.Permanentf("%s: resource ARN %q is not a %s", k.Service, s, k.Type)
		}
	}
	if !k.Valid(id) {
		return "", remediate.Permanentf("%s: resource ARN %q does not name one %s", k.Service, s, k.describe())
	}
	return id, nil
}

func (k Kind) describe() string {
	if k.Type != "" {
		return k.Type
	}
	return "resource"
}

// Bucket is an S3 bucket: arn:aws:s3:::NAME, or its name.
func Bucket() Kind { return Kind{Service: "s3", Valid: validBucket, ByName: true} }

// SecurityGroup is an EC2 security group:
// arn:aws:ec2:REGION:ACCOUNT:security-group/sg-…, or its id.
func SecurityGroup() Kind {
	return Kind{Service: "ec2", Type: "security-group", Valid: prefixedHex("sg-")}
}

// Snapshot is an EBS snapshot: arn:aws:ec2:REGION::snapshot/snap-…, or
// its id.
func Snapshot() Kind {
	return Kind{Service: "ec2", Type: "snapshot", Valid: prefixedHex("snap-")}
}

// Key is a KMS key: arn:aws:kms:REGION:ACCOUNT:key/ID, or its key id.
// Aliases are not accepted: an alias can be moved to another key between
// the finding and the fix.
func Key() Kind { return Kind{Service: "kms", Type: "key", Valid: validKeyID} }

// validBucket accepts names that follow S3's bucket naming rules closely
// enough to tell a bucket name from an object key or another identifier.
func validBucket(s string) bool {
	if len(s) < 3 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' || c == '.':
			if i == 0 || i == len(s)-1 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// prefixedHex accepts prefix followed by 8 or 17 lower-case hex digits,
// the two forms of EC2 resource ids.
func prefixedHex(prefix string) func(string) bool {
	return func(s string) bool {
		rest, ok := strings.CutPrefix(s, prefix)
		return ok && (len(rest) == 8 || len(rest) == 17) && isHex(rest)
	}
}

// validKeyID accepts a key id: a UUID, or mrk- and 32 hex digits (or a
// UUID) for a multi-Region key.
func validKeyID(s string) bool {
	if rest, ok := strings.CutPrefix(s, "mrk-"); ok {
		if len(rest) == 32 {
			return isHex(rest)
		}
		s = rest // some emulators use mrk- and a UUID
	}
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if s[i] != '-' {
				return false
			}
		} else if !isHex(s[i : i+1]) {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return s != ""
}
