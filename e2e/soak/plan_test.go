package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/remedy-sec/remedy/internal/faultproxy"
	"github.com/remedy-sec/remedy/internal/scenario"
	"github.com/remedy-sec/remedy/remediators/ebssnapshot"
	"github.com/remedy-sec/remedy/remediators/kmsrotation"
	"github.com/remedy-sec/remedy/remediators/s3encryption"
	"github.com/remedy-sec/remedy/remediators/s3publicaccess"
	"github.com/remedy-sec/remedy/remediators/sgingress"
)

// category is what a finding of the soak is made to end in.
type category string

const (
	caseRemediate category = "remediate" // eligible, resource needs the fix: applied
	caseCompliant category = "compliant" // eligible, resource already fixed: compliant, no write
	caseReview    category = "review"    // restricted account or no owner: review, no write
	caseSkip      category = "skip"      // LOW severity: skipped, no write
	caseReject    category = "reject"    // malformed payload: rejected, no write
	casePoison    category = "poison"    // eligible, but every call about its resource fails: dead-lettered
)

// shares are the parts of the findings in each category; remediate
// takes the rest.
var shares = []struct {
	cat   category
	share float64
}{{casePoison, 0.01}, {caseReject, 0.05}, {caseSkip, 0.10}, {caseReview, 0.20}, {caseCompliant, 0.15}}

// duplicated is the part of the findings (poison excepted) published
// twice.
const duplicated = 0.10

// fixes are the five built-in actions, one per kind of resource.
var fixes = []string{s3publicaccess.Action, s3encryption.Action, sgingress.Action, kmsrotation.Action, ebssnapshot.Action}

// Accounts: production and staging are eligible, the third is
// restricted-production, where Remedy must never act on its own.
const (
	prod       = "111111111111"
	staging    = "222222222222"
	restricted = "333333333333"
)

// item is one finding of the soak and its resource.
type item struct {
	n   int
	id  string // the Wiz issue id
	cat category
	// action is the fix its resource needs (or would need); empty for a
	// rejected payload.
	action, account string
	// resource names the resource as the remediator's calls do (bucket
	// name, security-group id, KMS key id, snapshot id); arn is the
	// finding's resource id for keys.
	resource, arn string
	// noOwner marks a review finding without an Owner tag (the others in
	// review are in the restricted account).
	noOwner bool
	// copies is how often it is published (2 when duplicated).
	copies int
	body   []byte
	// status and code are the fault every call about a poison finding's
	// resource gets.
	status int
	code   string
}

// plan is the soak's findings, their resources and the messages that
// carry them.
type plan struct {
	name  string
	items []*item
	// byResource finds the item of a resource named in a call.
	byResource map[string]*item
	// messages are the bodies published, duplicates included, shuffled.
	messages [][]byte
}

// newPlan lays out n findings: categories, accounts, fixes, duplicates
// and poison faults, all drawn from rng. Resources and bodies come with
// create.
func newPlan(name string, n int, rng *rand.Rand) *plan {
	p := &plan{name: name, byResource: map[string]*item{}}
	cats := make([]category, 0, n)
	for _, s := range shares {
		k := int(float64(n)*s.share + 0.5)
		if s.cat == casePoison && n >= 100 {
			k = max(k, 1)
		}
		for range k {
			cats = append(cats, s.cat)
		}
	}
	for len(cats) < n {
		cats = append(cats, caseRemediate)
	}
	cats = cats[:n]
	rng.Shuffle(len(cats), func(i, j int) { cats[i], cats[j] = cats[j], cats[i] })
	seen := map[category]int{}
	for i, c := range cats {
		k := seen[c]
		seen[c]++
		it := &item{n: i, id: fmt.Sprintf("%s-%05d", name, i), cat: c, copies: 1}
		if c != caseReject {
			it.action = fixes[k%len(fixes)]
			it.account = []string{prod, staging}[k/len(fixes)%2]
		}
		if c == caseReview {
			if it.noOwner = k/len(fixes)%2 == 1; !it.noOwner {
				it.account = restricted
			}
		}
		p.items = append(p.items, it)
	}
	var dupable []*item
	for _, it := range p.items {
		if it.cat != casePoison {
			dupable = append(dupable, it)
		}
	}
	rng.Shuffle(len(dupable), func(i, j int) { dupable[i], dupable[j] = dupable[j], dupable[i] })
	for _, it := range dupable[:int(float64(n)*duplicated+0.5)] {
		it.copies = 2
	}
	return p
}

// count returns the number of items in category c.
func (p *plan) count(c category) int {
	n := 0
	for _, it := range p.items {
		if it.cat == c {
			n++
		}
	}
	return n
}

// rejectMessages is the number of messages carrying a rejected payload:
// each is audited on its own, a duplicate included (it is another SNS
// notification, so another body).
func (p *plan) rejectMessages() int {
	n := 0
	for _, it := range p.items {
		if it.cat == caseReject {
			n += it.copies
		}
	}
	return n
}

// terminal is the number of terminal audit records the run must end
// with.
func (p *plan) terminal() int {
	return len(p.items) - p.count(caseReject) - p.count(casePoison) + p.rejectMessages()
}

// create makes every item's resource in moto (directly, not through the
// proxy), builds the bodies and the shuffled message list. progress is
// told how many resources are done.
func (p *plan) create(ctx context.Context, w *scenario.World, rng *rand.Rand, progress func(done int)) error {
	work := make(chan *item)
	errs := make(chan error, 8)
	var done atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for it := range work {
				if err := p.createOne(ctx, w, it); err != nil {
					errs <- fmt.Errorf("finding %s (%s, %s): %w", it.id, it.cat, it.action, err)
					return
				}
				if d := done.Add(1); d%500 == 0 {
					progress(int(d))
				}
			}
		})
	}
	var err error
feed:
	for _, it := range p.items {
		select {
		case work <- it:
		case err = <-errs:
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	if err != nil {
		return err
	}
	for _, it := range p.items {
		if it.resource != "" {
			p.byResource[it.resource] = it
		}
		for range it.copies {
			p.messages = append(p.messages, it.body)
		}
	}
	rng.Shuffle(len(p.messages), func(i, j int) { p.messages[i], p.messages[j] = p.messages[j], p.messages[i] })
	return nil
}

// createOne makes one item's resource, compliant only in the compliant
// category, and its payload.
func (p *plan) createOne(ctx context.Context, w *scenario.World, it *item) error {
	f := scenario.Finding{ID: it.id, Account: it.account, Owner: "payments-team@example.com"}
	if it.noOwner {
		f.Owner = ""
	}
	switch {
	case it.cat == caseSkip:
		f.Severity = "LOW"
	case it.n%3 == 0:
		f.Severity = "CRITICAL"
	}
	if it.cat == caseReject {
		f.Account, f.Bucket = prod, it.id
		it.body = malformed(w.Payload(f), it.n)
		return nil
	}
	fixed := it.cat == caseCompliant
	var err error
	switch it.action {
	case s3publicaccess.Action, s3encryption.Action:
		it.resource, f.Bucket = it.id, it.id
		f.Encryption = it.action == s3encryption.Action
		if err = w.CreatePublicBucket(ctx, it.account, it.id); err == nil && fixed {
			if f.Encryption {
				err = w.EncryptBucket(ctx, it.account, it.id)
			} else {
				err = w.BlockPublicAccess(ctx, it.account, it.id)
			}
		}
	case sgingress.Action:
		ports := []int32{22, 443}
		if fixed {
			ports = []int32{443}
		}
		it.resource, err = w.CreateSecurityGroup(ctx, it.account, it.id, ports...)
		f.GroupID = it.resource
	case kmsrotation.Action:
		it.arn, err = w.CreateKey(ctx, it.account, fixed)
		it.resource, f.KeyARN = it.arn[strings.LastIndexByte(it.arn, '/')+1:], it.arn
	case ebssnapshot.Action:
		it.resource, err = w.CreateSnapshot(ctx, it.account, !fixed)
		f.SnapshotID = it.resource
	}
	if err != nil {
		return err
	}
	it.body = w.Payload(f)
	if it.cat == casePoison {
		svc := map[string]string{sgingress.Action: "ec2", ebssnapshot.Action: "ec2", kmsrotation.Action: "kms"}[it.action]
		if svc == "" {
			svc = "s3"
		}
		fault := faultproxy.Unavailable
		if it.n%2 == 0 {
			fault = faultproxy.Throttled
		}
		it.status, it.code = fault(svc)
	}
	return nil
}

// malformed turns a payload into one of three that Wiz's parser rejects:
// cut short, from a trigger source it does not accept, without an issue
// id.
func malformed(body []byte, n int) []byte {
	s := string(body)
	switch n % 3 {
	case 0:
		return []byte(s[:len(s)/2])
	case 1:
		return []byte(strings.Replace(s, `"source":"ISSUES"`, `"source":"CLOUD_EVENTS"`, 1))
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		panic(err) // Payload always encodes an object
	}
	delete(m["issue"].(map[string]any), "id")
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// resourceOf names the soak resource a call to S3, EC2 or KMS is about,
// or returns "".
func (p *plan) resourceOf(r faultproxy.Request) string {
	switch r.Service {
	case "s3":
		b, _, _ := strings.Cut(strings.TrimPrefix(r.Path, "/"), "/")
		if p.byResource[b] != nil {
			return b
		}
	case "ec2":
		form, err := url.ParseQuery(string(r.Body))
		if err != nil {
			return ""
		}
		for _, vs := range form {
			for _, v := range vs {
				if p.byResource[v] != nil {
					return v
				}
			}
		}
	case "kms":
		var in struct{ KeyId string }
		if json.Unmarshal(r.Body, &in) == nil {
			id := in.KeyId[strings.LastIndexByte(in.KeyId, '/')+1:]
			if p.byResource[id] != nil {
				return id
			}
		}
	}
	return ""
}

// writeOf names the resource a call changes: any call to S3, EC2 or KMS
// (the services of the customer accounts) that is not a read. A write to
// something that is no soak resource is named by its operation, so that
// it is counted too.
func (p *plan) writeOf(r faultproxy.Request) string {
	switch r.Service {
	case "s3":
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			return ""
		}
	case "ec2", "kms":
		for _, read := range []string{"Describe", "Get", "List"} {
			if strings.HasPrefix(r.Operation, read) {
				return ""
			}
		}
	default:
		return ""
	}
	if res := p.resourceOf(r); res != "" {
		return res
	}
	return "unknown resource (" + r.Service + " " + r.Operation + ")"
}
