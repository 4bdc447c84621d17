package resource

import (
	"errors"
	"fmt"
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
	// Sep separates Type from the identifier: "/" when empty, ":" for
	// RDS ("db:mydb").
	Sep string
	// Valid reports whether s is a well-formed bare identifier.
	Valid func(s string) bool
	// ByName means Resource.Name is also the identifier (S3 buckets).
	ByName bool
}

// ID returns the identifier of the resource f is about. region is the
// region the caller's AWS configuration acts in; an ARN in another region,
// or in another partition than region's (see Partition), is rejected,
// so a fix never lands where nobody asked for it.
//
// Every identifier the finding gives is read: its ARN, its id and, for a
// kind named by name, its name. One that is present but cannot be read
// (an object key, a URL, an upper-case "ARN:" prefix, an id of another
// form) is an error, as are two that disagree: the others are never used
// in its place. Every error is permanent: a finding that does not say
// which resource it means does not get better on retry.
func (k Kind) ID(f *remediate.Finding, region string) (string, error) {
	if f == nil {
		return "", remediate.Permanentf("%s: no finding", k.Service)
	}
	r := f.Resource
	if r.Cloud != "" && !strings.EqualFold(r.Cloud, "AWS") {
		return "", remediate.Permanentf("%s: resource is in cloud %q, not AWS", k.Service, r.Cloud)
	}
	type field struct{ name, value string }
	fields := []field{{"ARN", r.ARN}, {"id", r.ID}}
	if k.ByName {
		fields = append(fields, field{"name", r.Name})
	}
	var id, from string
	for _, fl := range fields {
		if fl.value == "" {
			continue
		}
		got, err := k.read(fl.value, r.Account, region)
		if err != nil {
			return "", remediate.Permanentf("%s: resource %s %q %s", k.Service, fl.name, fl.value, err)
		}
		if id != "" && got != id {
			return "", remediate.Permanentf("%s: finding names two resources: %s %q and %s %q", k.Service, from, id, fl.name, got)
		}
		id, from = got, fl.name
	}
	if id == "" {
		return "", remediate.Permanentf("%s: finding names no resource", k.Service)
	}
	return id, nil
}

// Account returns the account f says its resource is in. S3 calls name
// it as the expected bucket owner, so that S3 itself refuses a bucket of
// that name in any other account (one deleted and created again by
// someone else), however broad the role. A finding that names no account,
// or not a 12-digit one, gets a permanent error.
func (k Kind) Account(f *remediate.Finding) (string, error) {
	if f == nil {
		return "", remediate.Permanentf("%s: no finding", k.Service)
	}
	a := f.Resource.Account
	if a == "" {
		return "", remediate.Permanentf("%s: finding names no account, so the resource's owner cannot be checked", k.Service)
	}
	if len(a) != 12 || strings.Trim(a, "0123456789") != "" {
		return "", remediate.Permanentf("%s: account %q is not 12 digits", k.Service, a)
	}
	return a, nil
}

// read returns the identifier s names, an ARN or a bare identifier, or
// why it names none. s is read exactly as given: a value with spaces
// around it is not trimmed into one that reads.
func (k Kind) read(s, account, region string) (string, error) {
	if !strings.HasPrefix(s, "arn:") {
		if !k.Valid(s) {
			return "", errors.New("is neither an ARN nor a well-formed bare identifier")
		}
		return s, nil
	}
	a, err := arn.Parse(s)
	if err != nil {
		return "", fmt.Errorf("is not a well-formed ARN (%v)", err)
	}
	if want := Partition(region); a.Partition != want {
		return "", fmt.Errorf("is in partition %q, but the target acts in %q", a.Partition, want)
	}
	if a.Service != k.Service {
		return "", fmt.Errorf("is for service %q", a.Service)
	}
	if a.Region != "" && region != "" && a.Region != region {
		return "", fmt.Errorf("is in region %s, but the target acts in %s", a.Region, region)
	}
	if a.AccountID != "" && account != "" && a.AccountID != account {
		return "", fmt.Errorf("is in account %s, but the finding says %s", a.AccountID, account)
	}
	id := a.Resource
	if k.Type != "" {
		var ok bool
		sep := k.Sep
		if sep == "" {
			sep = "/"
		}
		if id, ok = strings.CutPrefix(id, k.Type+sep); !ok {
			return "", fmt.Errorf("is not a %s", k.Type)
		}
	}
	if !k.Valid(id) {
		return "", fmt.Errorf("does not name one %s", k.describe())
	}
	return id, nil
}

// Partition returns the ARN partition of region: the only partition whose
// resources a client acting in region reaches. It follows the region
// patterns of the SDK's partition table; a region of no other partition,
// and the empty region, are in "aws".
func Partition(region string) string {
	for _, p := range [...]struct{ prefix, id string }{
		{"cn-", "aws-cn"},
		{"us-gov-", "aws-us-gov"},
		{"us-iso-", "aws-iso"},
		{"us-isob-", "aws-iso-b"},
		{"eu-isoe-", "aws-iso-e"},
		{"us-isof-", "aws-iso-f"},
		{"eusc-", "aws-eusc"},
	} {
		if strings.HasPrefix(region, p.prefix) {
			return p.id
		}
	}
	return "aws"
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

// DBInstance is an RDS DB instance: arn:aws:rds:REGION:ACCOUNT:db:NAME,
// or its identifier, in lower case as RDS stores it.
func DBInstance() Kind { return Kind{Service: "rds", Type: "db", Sep: ":", Valid: validDBInstance} }

// validDBInstance accepts an RDS DB instance identifier as RDS stores
// it: 1 to 63 lower-case letters, digits and hyphens, starting with a
// letter, with no two hyphens in a row and none at the end.
func validDBInstance(s string) bool {
	if s == "" || len(s) > 63 || !(s[0] >= 'a' && s[0] <= 'z') || strings.HasSuffix(s, "-") || strings.Contains(s, "--") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

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
