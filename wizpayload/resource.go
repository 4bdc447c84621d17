package wizpayload

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/remedy-sec/remedy/internal/clip"
	"github.com/remedy-sec/remedy/internal/strictjson"
	"github.com/remedy-sec/remedy/remediate"
)

// resourceIn holds the resource members of either shape.
type resourceIn struct {
	id, name, typ, cloud, account, region, tags strictjson.Value
}

// resourceFields names the resource members in one shape, for messages.
type resourceFields struct {
	id, name, typ, cloud, account, region, tags string
}

func templateFields() resourceFields {
	return resourceFields{
		id:      "resource.id",
		name:    "resource.name",
		typ:     "resource.type",
		cloud:   "resource.cloudPlatform",
		account: "resource.subscriptionId",
		region:  "resource.region",
		tags:    "resource.tags",
	}
}

func graphQLFields() resourceFields {
	return resourceFields{
		id:      "entitySnapshot.providerId",
		name:    "entitySnapshot.name",
		typ:     "entitySnapshot.nativeType",
		cloud:   "entitySnapshot.cloudPlatform",
		account: "entitySnapshot.subscriptionExternalId",
		region:  "entitySnapshot.region",
		tags:    "entitySnapshot.tags",
	}
}

// mapResource validates and maps the resource. Malformed identifiers are
// rejected; missing or conflicting ones are concerns. topTags is the
// top-level tags member a custom template may add.
func (p *parser) mapResource(f *remediate.Finding, in *resourceIn, n resourceFields, topTags strictjson.Value) error {
	r := &f.Resource
	id, err := str(in.id, n.id)
	if err != nil {
		return err
	}
	if id == "" {
		return reject(n.id, "missing")
	}
	if why := checkIdent(id, maxResourceIDBytes); why != "" {
		return reject(n.id, "resource id "+why)
	}
	if strings.ContainsAny(id, "*?") {
		return reject(n.id, "resource id "+clip.Quote(id)+" holds a wildcard; it must name one resource")
	}
	if len(id) >= 4 && equalFoldASCII(id[:4], "ARN:") && !strings.HasPrefix(id, "arn:") {
		return reject(n.id, "resource id "+clip.Quote(id)+" starts with "+clip.Quote(id[:4])+"; an ARN starts with lower-case arn:")
	}
	r.ID = id
	var arn arnParts
	if strings.HasPrefix(id, "arn:") {
		var ok bool
		if arn, ok = parseARN(id); !ok {
			return reject(n.id, "resource id "+clip.Quote(id)+" starts with arn: but is not a well-formed ARN")
		}
		r.ARN = id
	}

	if r.Name, err = text(in.name, n.name); err != nil {
		return err
	}
	if r.Type, err = ident(in.typ, n.typ, maxTokenBytes); err != nil {
		return err
	}
	if r.Type == "" {
		f.AddConcern(n.typ, "The resource has no type, so no remediation can be chosen for it.")
	}

	cloud, err := enumText(in.cloud, n.cloud)
	if err != nil {
		return err
	}
	if aws, ok := matchEnum(cloud, "AWS"); ok {
		r.Cloud = aws
	} else if other, ok := upperASCII(cloud); !ok || checkToken(other, maxEnumBytes) != "" {
		f.AddConcern(n.cloud, "The cloud platform "+clip.Quote(cloud)+" is not one Remedy knows.")
	} else if other == "" {
		f.AddConcern(n.cloud, "The resource has no cloud platform, so it is not known to be in AWS.")
	} else {
		r.Cloud = other
		f.AddConcern(n.cloud, "The resource is in "+other+", not AWS; Remedy acts only in AWS.")
	}
	// Validate AWS identifiers when the payload says AWS, or says nothing
	// and the id is an AWS ARN.
	aws := r.Cloud == "AWS" || (cloud == "" && isPartition(arn.partition))

	account, err := str(in.account, n.account)
	if err != nil {
		return err
	}
	switch {
	case account == "":
		f.AddConcern(n.account, "The resource has no account id.")
	case aws && !isAccountID(account):
		return reject(n.account, "account id "+clip.Quote(account)+" is not exactly 12 digits")
	default:
		if why := checkIdent(account, maxTokenBytes); why != "" {
			return reject(n.account, "account id "+why)
		}
		r.Account = account
	}

	region, err := str(in.region, n.region)
	if err != nil {
		return err
	}
	switch {
	case region == "":
		f.AddConcern(n.region, "The resource has no region.")
	case aws && region == "global":
		f.AddConcern(n.region, "The resource is reported as global, with no region to act in.")
	case aws && !isRegion(region):
		return reject(n.region, "region "+clip.Quote(region)+" is not shaped like an AWS region")
	default:
		if why := checkIdent(region, maxTokenBytes); why != "" {
			return reject(n.region, "region "+why)
		}
		r.Region = region
	}

	if r.ARN != "" {
		// A platform other than AWS is a concern already.
		switch {
		case r.Cloud != "" && r.Cloud != "AWS":
		case !isPartition(arn.partition):
			f.AddConcern(n.id, "The resource ARN's partition "+clip.Quote(arn.partition)+" is not an AWS partition.")
		case arn.partition != "aws":
			f.AddConcern(n.id, "The resource ARN is in partition "+clip.Quote(arn.partition)+", not the commercial partition \"aws\".")
		}
		if arn.account != "" && r.Account != "" && arn.account != r.Account {
			f.AddConcern(n.account, "The resource ARN names account "+clip.Quote(arn.account)+" but the payload says "+clip.Quote(r.Account)+".")
		}
		if arn.region != "" && r.Region != "" && arn.region != r.Region {
			f.AddConcern(n.region, "The resource ARN names region "+clip.Quote(arn.region)+" but the payload says "+clip.Quote(r.Region)+".")
		}
		if arn.service == "s3" && strings.Contains(arn.resource, "/") {
			f.AddConcern(n.id, "The resource ARN names an object inside a bucket, not the bucket itself.")
		}
	}
	switch {
	case strings.Contains(id, "##"):
		f.AddConcern(n.id, "The resource id is composite and names a sub-resource, not the resource to change.")
	case aws && r.ARN == "" && !isBareID(id):
		f.AddConcern(n.id, "The resource id "+clip.Quote(id)+" is neither an ARN nor a bare AWS identifier, so which resource it names is unclear.")
	}

	return p.mapTags(f, in.tags, n.tags, topTags)
}

// mapTags reads resource tags from the resource (or entitySnapshot) or
// the top level. Both at once is ambiguous: neither is used.
func (p *parser) mapTags(f *remediate.Finding, inner strictjson.Value, innerField string, outer strictjson.Value) error {
	a, err := p.tags(inner, innerField)
	if err != nil {
		return err
	}
	b, err := p.tags(outer, "tags")
	if err != nil {
		return err
	}
	switch {
	case a != nil && b != nil:
		f.AddConcern("tags", "The payload has tags both at the top level and in "+innerField+"; neither is used.")
	case a != nil:
		f.Resource.Tags = a
	default:
		f.Resource.Tags = b
	}
	return nil
}

// tags reads a tags member: an object of strings, or a string holding
// one as JSON (parsed as strictly as the payload). Missing, null and an
// empty string (a template that rendered nothing) are nil; "{}" is an
// empty, non-nil map.
func (p *parser) tags(v strictjson.Value, field string) (map[string]string, error) {
	switch v.Kind() {
	case strictjson.Invalid, strictjson.Null:
		return nil, nil
	case strictjson.Object:
		return p.tagObject(v, field)
	case strictjson.String:
		s := strings.TrimSpace(v.Text())
		if s == "" {
			return nil, nil
		}
		doc := p.getDoc()
		defer p.putDoc(doc)
		if err := doc.ParseString(s, p.lim); err != nil {
			return nil, jsonReject(field, "", "in the tags string: ", err)
		}
		return p.tagObject(doc.Root(), field)
	}
	return nil, reject(field, "want an object or a string holding one, got "+kindName(v.Kind()))
}

// tagObject reads an object of tags. Tags decide (environment, owner,
// CEL rules), so keys and values longer than MaxStringBytes are rejected,
// not cut. A tag whose value is null is missing, like any null member:
// it is left out, so that a policy sees no such tag.
func (p *parser) tagObject(v strictjson.Value, field string) (map[string]string, error) {
	m := make(map[string]string, v.Len())
	for k, val := range v.Members() {
		if k == "" {
			return nil, reject(field, "a tag key is empty")
		}
		if len(k) > p.maxString {
			return nil, reject(field, "a tag key is "+strconv.Itoa(len(k))+" bytes, over the limit of "+strconv.Itoa(p.maxString))
		}
		if why := checkText(k); why != "" {
			return nil, reject(childField(field, k), "tag key "+why)
		}
		switch val.Kind() {
		case strictjson.Null:
			continue
		case strictjson.String:
		default:
			return nil, reject(childField(field, k), "want a string, got "+kindName(val.Kind()))
		}
		s := val.Text()
		if len(s) > p.maxString {
			return nil, reject(childField(field, k), "tag value is "+strconv.Itoa(len(s))+" bytes, over the limit of "+strconv.Itoa(p.maxString))
		}
		if why := checkText(s); why != "" {
			return nil, reject(childField(field, k), "tag value "+why)
		}
		m[k] = s
	}
	return m, nil
}

// checkText returns why s, free text such as a tag, is malformed: it
// holds a control character or, outside printable text, a line or
// paragraph separator. Spaces are allowed.
func checkText(s string) string {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < ' ' || c == 0x7f {
				return clip.Quote(s) + " contains " + strconv.QuoteRune(rune(c))
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return clip.Quote(s) + " contains " + strconv.QuoteRuneToASCII(r)
		}
		i += size
	}
	return ""
}

// childField names a member of field, quoting a key that is not a plain
// name: tags.env, tags["cost center"]. A long key is cut, as clip.Quote
// cuts it: tags["aaa…"]….
func childField(field, key string) string {
	if len(key) > clip.MaxQuoted {
		return field + "[" + clip.Quote(key) + "]"
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return field + "[" + strconv.Quote(key) + "]"
		}
	}
	return field + "." + key
}

// isPartition reports whether p is, exactly, an AWS partition Remedy
// knows.
func isPartition(p string) bool {
	return p == "aws" || p == "aws-cn" || p == "aws-us-gov"
}

// isBareID reports whether s looks like a bare AWS identifier (a bucket
// name, sg-…, a key id): letters, digits and . _ - only. A path, a URL
// (s3://bucket) or an object key (bucket/key) is not one.
func isBareID(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return s != ""
}

// arnParts are the fields of arn:partition:service:region:account:resource.
type arnParts struct {
	partition, service, region, account, resource string
}

// parseARN splits an ARN. It requires all six fields and a non-empty
// partition, service and resource; it does not judge their values.
func parseARN(s string) (arnParts, bool) {
	var a arnParts
	rest, ok := strings.CutPrefix(s, "arn:")
	if !ok {
		return a, false
	}
	fields := [4]*string{&a.partition, &a.service, &a.region, &a.account}
	for _, dst := range fields {
		var part string
		if part, rest, ok = strings.Cut(rest, ":"); !ok {
			return arnParts{}, false
		}
		*dst = part
	}
	a.resource = rest
	if a.partition == "" || a.service == "" || a.resource == "" {
		return arnParts{}, false
	}
	return a, true
}
