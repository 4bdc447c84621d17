package soak

import (
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"

	"github.com/remedy-sec/remedy/internal/faultproxy"
)

// services are the AWS services the worker calls, by signing name: STS
// for the customer accounts, S3, EC2 and KMS in them, DynamoDB for the
// audit and idempotency tables, SNS for the review route, SQS for the
// queue.
var services = []string{"sts", "s3", "ec2", "kms", "dynamodb", "sns", "sqs"}

// kind is a kind of injected fault.
type kind int

const (
	throttled   kind = iota // the service's throttling error, before the call reaches moto
	unavailable             // the service's internal error, before the call reaches moto
	reset                   // the connection is reset, before the call reaches moto
	lost                    // the call reaches moto, its answer is lost (an error or a reset instead)
	kinds
)

func (k kind) String() string {
	return [...]string{"throttled", "5xx", "reset", "lost answer"}[k]
}

// chaos injects random faults into the worker's calls: each call to a
// service is faulted with that service's rate, the kinds taking turns
// per service so that every service sees every kind. It also answers
// every call about a poison finding's resource with that finding's
// fault.
type chaos struct {
	rng  *rand.Rand
	rate map[string]float64
	plan *plan

	mu     sync.Mutex
	next   map[string]kind
	counts map[string]*[kinds]int // per service
	poison int                    // calls failed for poison resources
	// retries counts the SDK's attempts after the first of a call.
	retries int
	// calls counts the calls per service.
	calls map[string]int
}

// faults returns the faults injected into service so far; c.mu is held.
func (c *chaos) faults(service string) int {
	n := 0
	for _, k := range c.counts[service] {
		n += k
	}
	return n
}

// newChaos faults rate of the calls of each service, and stsRate of the
// STS calls (there are few: sessions are shared per account and action).
func newChaos(p *plan, seed uint64, rate, stsRate float64) *chaos {
	c := &chaos{rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), rate: map[string]float64{}, plan: p, next: map[string]kind{}, counts: map[string]*[kinds]int{}, calls: map[string]int{}}
	for _, s := range services {
		c.rate[s] = rate
		c.counts[s] = new([kinds]int)
	}
	c.rate["sts"] = stsRate
	return c
}

// install adds the rules to the proxy: poison resources first, then the
// random faults. Rules added before come first.
func (c *chaos) install(px *faultproxy.Proxy) {
	px.Add(faultproxy.Rule{Choose: c.choosePoison})
	px.Add(faultproxy.Rule{Choose: c.choose})
}

func (c *chaos) choosePoison(r faultproxy.Request) (faultproxy.Rule, bool) {
	it := c.plan.byResource[c.plan.resourceOf(r)]
	if it == nil || it.cat != casePoison {
		return faultproxy.Rule{}, false
	}
	c.mu.Lock()
	c.poison++
	c.mu.Unlock()
	return faultproxy.Rule{Status: it.status, Code: it.code}, true
}

// choose runs under the proxy's lock, which serializes the use of rng.
func (c *chaos) choose(r faultproxy.Request) (faultproxy.Rule, bool) {
	if a := r.Header.Get("Amz-Sdk-Request"); a != "" && !strings.HasPrefix(a, "attempt=1;") {
		c.mu.Lock()
		c.retries++
		c.mu.Unlock()
	}
	rate, ok := c.rate[r.Service]
	if !ok || strings.Contains(r.Header.Get("User-Agent"), "app/"+publisher) {
		return faultproxy.Rule{}, false
	}
	c.mu.Lock()
	c.calls[r.Service]++
	// A service with few calls (SNS carries only reviews, STS only new
	// sessions) still gets each kind of fault once: after its tenth call,
	// until it had one of each.
	force := c.calls[r.Service] > 10 && c.faults(r.Service) < int(kinds)
	if !force && c.rng.Float64() >= rate {
		c.mu.Unlock()
		return faultproxy.Rule{}, false
	}
	k := c.next[r.Service]
	if k == lost && r.Operation == "ReceiveMessage" {
		// Not on a receive: the delivery would count without the worker
		// ever seeing it, and on a message's last delivery send it to the
		// dead-letter queue unaudited — SQS's doing, which no consumer
		// can audit (as for one that dies holding it, which the kills
		// cover). The next SQS call loses its answer instead.
		c.mu.Unlock()
		return faultproxy.Rule{}, false
	}
	c.next[r.Service] = (k + 1) % kinds
	c.counts[r.Service][k]++
	n := c.counts[r.Service][k]
	c.mu.Unlock()
	switch k {
	case throttled:
		s, code := faultproxy.Throttled(r.Service)
		return faultproxy.Rule{Status: s, Code: code}, true
	case unavailable:
		s, code := faultproxy.Unavailable(r.Service)
		return faultproxy.Rule{Status: s, Code: code}, true
	case reset:
		return faultproxy.Rule{Reset: true}, true
	}
	// A lost answer: the service's internal error or, every other time,
	// a reset after the call took effect.
	s, code := faultproxy.Unavailable(r.Service)
	return faultproxy.Rule{Status: s, Code: code, AfterForward: true, Reset: n%2 == 0}, true
}

// injected returns the faults injected so far, per service and kind, the
// calls failed for poison resources and the SDK retries seen.
func (c *chaos) injected() (faults map[string][kinds]int, poison, retries int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	faults = map[string][kinds]int{}
	for s, n := range c.counts {
		faults[s] = *n
	}
	return faults, c.poison, c.retries
}

// missing lists "service kind" pairs that got no fault: a soak that
// injected none proves nothing about them.
func missing(counts map[string][kinds]int) []string {
	var out []string
	for _, s := range slices.Sorted(maps.Keys(counts)) {
		for k := range kinds {
			if counts[s][k] == 0 {
				out = append(out, s+" "+k.String())
			}
		}
	}
	return out
}
