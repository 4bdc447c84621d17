package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/remedy-sec/remedy/deploy"
)

// The template cannot be deployed in a test; these tests read it as
// CloudFormation would, with the intrinsic functions it uses resolved
// for one account and region, and check what it grants and configures.

const (
	testAccount = "111122223333"
	testRegion  = "eu-west-1"
)

// stack is template.yaml with its intrinsic functions resolved for given
// condition values.
type stack struct {
	t          *testing.T
	params     map[string]any            // parameter defaults
	resources  map[string]map[string]any // logical id → Type and Properties
	conditions map[string]bool
}

// noValue is what AWS::NoValue resolves to: the key or item is dropped.
type noValue struct{}

// readStack reads template.yaml, taking conditions as given (a test sets
// the ones it depends on).
func readStack(t *testing.T, conditions map[string]bool) *stack {
	t.Helper()
	src, err := os.ReadFile("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	raw, ok := plain(t, doc.Content[0]).(map[string]any)
	if !ok {
		t.Fatal("template.yaml is not a mapping")
	}
	s := &stack{t: t, params: map[string]any{}, resources: map[string]map[string]any{}, conditions: conditions}
	for name, p := range raw["Parameters"].(map[string]any) {
		s.params[name] = p.(map[string]any)["Default"]
	}
	for name, r := range raw["Resources"].(map[string]any) {
		s.resources[name] = r.(map[string]any)
	}
	return s
}

// plain converts a YAML node to maps, slices and strings; a short-form
// intrinsic function (!Ref X, !GetAtt X.Arn, !If [...]) becomes the long
// form ({"Ref": "X"}, {"Fn::GetAtt": [X, Arn]}, {"Fn::If": [...]}).
func plain(t *testing.T, n *yaml.Node) any {
	t.Helper()
	var v any
	switch n.Kind {
	case yaml.ScalarNode:
		v = n.Value
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			l = append(l, plain(t, c))
		}
		v = l
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i < len(n.Content); i += 2 {
			m[n.Content[i].Value] = plain(t, n.Content[i+1])
		}
		v = m
	default:
		t.Fatalf("template.yaml line %d: unexpected YAML node kind %v", n.Line, n.Kind)
	}
	switch tag := n.Tag; {
	case tag == "!Ref":
		return map[string]any{"Ref": v}
	case tag == "!GetAtt":
		name, attr, _ := strings.Cut(v.(string), ".")
		return map[string]any{"Fn::GetAtt": []any{name, attr}}
	case strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!"): // !!str, !!map… are YAML's own
		return map[string]any{"Fn::" + tag[1:]: v}
	}
	return v
}

// resolve evaluates the intrinsic functions in v: Ref, Fn::GetAtt and
// Fn::If. Any other function fails the test, so that a template edit
// that this reader cannot follow is noticed rather than misread.
func (s *stack) resolve(v any) any {
	s.t.Helper()
	switch v := v.(type) {
	case []any:
		out := []any{}
		for _, it := range v {
			if r := s.resolve(it); r != (noValue{}) {
				out = append(out, r)
			}
		}
		return out
	case map[string]any:
		if len(v) == 1 {
			for k, arg := range v {
				switch k {
				case "Ref":
					return s.ref(arg.(string))
				case "Fn::GetAtt":
					a := arg.([]any)
					return s.getAtt(a[0].(string), a[1].(string))
				case "Fn::If":
					a := arg.([]any)
					cond, ok := s.conditions[a[0].(string)]
					if !ok {
						s.t.Fatalf("Fn::If on condition %v, which the test does not set", a[0])
					}
					if cond {
						return s.resolve(a[1])
					}
					return s.resolve(a[2])
				}
				if strings.HasPrefix(k, "Fn::") {
					s.t.Fatalf("%s is not resolved by this test; extend stack.resolve", k)
				}
			}
		}
		out := map[string]any{}
		for k, it := range v {
			if r := s.resolve(it); r != (noValue{}) {
				out[k] = r
			}
		}
		return out
	}
	return v
}

func (s *stack) ref(name string) any {
	s.t.Helper()
	switch name {
	case "AWS::NoValue":
		return noValue{}
	case "AWS::Region":
		return testRegion
	case "AWS::AccountId":
		return testAccount
	case "AWS::Partition":
		return "aws"
	}
	if d, ok := s.params[name]; ok {
		if d == nil {
			s.t.Fatalf("parameter %s has no default", name)
		}
		return d
	}
	typ, props := s.resource(name)
	switch typ {
	case "AWS::SNS::Topic":
		return "arn:aws:sns:" + testRegion + ":" + testAccount + ":" + props["TopicName"].(string)
	case "AWS::SQS::Queue":
		return "https://sqs." + testRegion + ".amazonaws.com/" + testAccount + "/" + props["QueueName"].(string)
	case "AWS::DynamoDB::Table":
		return props["TableName"].(string)
	}
	return name
}

func (s *stack) getAtt(name, attr string) any {
	s.t.Helper()
	typ, props := s.resource(name)
	switch {
	case typ == "AWS::SQS::Queue" && attr == "Arn":
		return "arn:aws:sqs:" + testRegion + ":" + testAccount + ":" + props["QueueName"].(string)
	case typ == "AWS::IAM::Role" && attr == "Arn":
		roleName := name // CloudFormation generates one when RoleName is unset
		if n, ok := props["RoleName"]; ok {
			roleName = fmt.Sprint(s.resolve(n))
		}
		return "arn:aws:iam::" + testAccount + ":role/" + roleName
	}
	s.t.Fatalf("Fn::GetAtt %s.%s (%s) is not resolved by this test; extend stack.getAtt", name, attr, typ)
	return nil
}

// resource returns the type and unresolved properties of a resource.
func (s *stack) resource(name string) (string, map[string]any) {
	s.t.Helper()
	r, ok := s.resources[name]
	if !ok {
		s.t.Fatalf("template.yaml has no resource or parameter %s", name)
	}
	props, _ := r["Properties"].(map[string]any)
	return r["Type"].(string), props
}

// props returns the resolved properties of a resource.
func (s *stack) props(name string) map[string]any {
	s.t.Helper()
	_, p := s.resource(name)
	return s.resolve(p).(map[string]any)
}

// ofType returns the logical ids of the resources of type typ.
func (s *stack) ofType(typ string) []string {
	var out []string
	for name, r := range s.resources {
		if r["Type"] == typ {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// request is one call a topic policy is asked about.
type request struct {
	action    string
	principal string            // the caller's aws:PrincipalArn
	context   map[string]string // condition keys: sns:Protocol, sns:Endpoint
}

// evaluate returns "deny" if a Deny statement of doc matches r, else
// "allow" if an Allow statement does, else "none" (the caller's own IAM
// policies decide). It knows the condition operators the template uses
// and fails the test on any other.
func evaluate(t *testing.T, doc map[string]any, resource string, r request) string {
	t.Helper()
	list := func(v any) []string {
		switch v := v.(type) {
		case string:
			return []string{v}
		case []any:
			var out []string
			for _, it := range v {
				out = append(out, it.(string))
			}
			return out
		}
		t.Fatalf("policy value %v is neither a string nor a list", v)
		return nil
	}
	verdict := "none"
	for _, st := range doc["Statement"].([]any) {
		st := st.(map[string]any)
		switch p := st["Principal"].(type) {
		case string:
			if p != "*" {
				t.Fatalf("statement %v: Principal %q", st["Sid"], p)
			}
		case map[string]any:
			if !slices.Contains(list(p["AWS"]), r.principal) {
				continue
			}
		default:
			t.Fatalf("statement %v: no Principal", st["Sid"])
		}
		if !slices.Contains(list(st["Action"]), r.action) && !slices.Contains(list(st["Action"]), "sns:*") {
			continue
		}
		if !slices.Contains(list(st["Resource"]), resource) {
			continue
		}
		match := true
		cond, _ := st["Condition"].(map[string]any)
		for op, keys := range cond {
			for key, want := range keys.(map[string]any) {
				got, present := r.context[key]
				if key == "aws:PrincipalArn" {
					got, present = r.principal, true
				}
				in := present && slices.Contains(list(want), got)
				switch op {
				case "StringEquals", "ArnEquals":
					match = match && in
				case "StringNotEquals", "ArnNotEquals":
					match = match && !in
				default:
					t.Fatalf("statement %v: condition operator %s is not evaluated by this test", st["Sid"], op)
				}
			}
		}
		if !match {
			continue
		}
		switch st["Effect"] {
		case "Deny":
			return "deny"
		case "Allow":
			verdict = "allow"
		default:
			t.Fatalf("statement %v: Effect %v", st["Sid"], st["Effect"])
		}
	}
	return verdict
}

// TestFindingsTopicPolicy: the findings topic has a policy under which
// only the Wiz publisher role may publish (nobody, until the stack knows
// Wiz's principal), and only the stack's queue, over SQS, may subscribe;
// the stack's own subscription passes it. Its notifications are signed
// with signature version 2, the only one the function accepts.
func TestFindingsTopicPolicy(t *testing.T) {
	for _, hasWiz := range []bool{true, false} {
		t.Run(fmt.Sprintf("HasWiz=%v", hasWiz), func(t *testing.T) {
			s := readStack(t, map[string]bool{"HasWiz": hasWiz, "HasReviewEmail": true})
			topic := s.ref("FindingsTopic").(string)
			queue := s.getAtt("FindingsQueue", "Arn").(string)
			if v := s.props("FindingsTopic")["SignatureVersion"]; v != "2" {
				t.Errorf("FindingsTopic SignatureVersion %v; want \"2\" (SHA256): the function rejects version 1", v)
			}

			var doc map[string]any
			for _, name := range s.ofType("AWS::SNS::TopicPolicy") {
				p := s.props(name)
				if slices.Contains(p["Topics"].([]any), any(topic)) {
					if doc != nil {
						t.Fatalf("two topic policies for the findings topic")
					}
					doc = p["PolicyDocument"].(map[string]any)
				}
			}
			if doc == nil {
				t.Fatal("no AWS::SNS::TopicPolicy for FindingsTopic")
			}

			wiz := "arn:aws:iam::" + testAccount + ":role/WizPublisherRole"
			if hasWiz {
				wiz = s.getAtt("WizPublisherRole", "Arn").(string)
			}
			function := s.getAtt("FunctionRole", "Arn").(string)
			admin := "arn:aws:iam::" + testAccount + ":role/Admin"
			outsider := "arn:aws:iam::999999999999:role/Attacker"
			sub := func(protocol, endpoint string) map[string]string {
				return map[string]string{"sns:Protocol": protocol, "sns:Endpoint": endpoint}
			}
			wizPublishes := "deny"
			if hasWiz {
				wizPublishes = "allow"
			}
			tests := []struct {
				name string
				r    request
				want string
			}{
				{"Wiz publisher role publishes", request{"sns:Publish", wiz, nil}, wizPublishes},
				{"the function's role publishes", request{"sns:Publish", function, nil}, "deny"},
				{"an administrator publishes", request{"sns:Publish", admin, nil}, "deny"},
				{"another account publishes", request{"sns:Publish", outsider, nil}, "deny"},
				{"the queue subscribes", request{"sns:Subscribe", admin, sub("sqs", queue)}, "none"},
				{"another queue subscribes", request{"sns:Subscribe", admin, sub("sqs", "arn:aws:sqs:"+testRegion+":"+testAccount+":copy")}, "deny"},
				{"another account's queue subscribes", request{"sns:Subscribe", outsider, sub("sqs", "arn:aws:sqs:"+testRegion+":999999999999:remedy-findings")}, "deny"},
				{"an HTTPS endpoint subscribes", request{"sns:Subscribe", admin, sub("https", "https://collector.example/")}, "deny"},
				{"the queue's ARN over another protocol", request{"sns:Subscribe", admin, sub("lambda", queue)}, "deny"},
				{"an e-mail address subscribes", request{"sns:Subscribe", admin, sub("email", "someone@example.com")}, "deny"},
			}
			for _, tt := range tests {
				if got := evaluate(t, doc, topic, tt.r); got != tt.want {
					t.Errorf("%s (%s as %s): %s; want %s", tt.name, tt.r.action, tt.r.principal, got, tt.want)
				}
			}

			// Every subscription the stack itself makes to the topic passes.
			for _, name := range s.ofType("AWS::SNS::Subscription") {
				p := s.props(name)
				if p["TopicArn"] != topic {
					continue
				}
				r := request{"sns:Subscribe", admin, sub(p["Protocol"].(string), p["Endpoint"].(string))}
				if got := evaluate(t, doc, topic, r); got == "deny" {
					t.Errorf("the stack's own subscription %s (%s %s) is denied by the topic policy", name, p["Protocol"], p["Endpoint"])
				}
			}
		})
	}
}

// TestFunctionConfiguration: the function's environment is one
// package deploy accepts, with SNS signatures checked (version 2 only,
// within a replay window) and an idempotency memory at least as long as
// the queues keep a message, so that a late redelivery is recognised.
// The replay window outlasts the default deliveries of one message.
func TestFunctionConfiguration(t *testing.T) {
	s := readStack(t, map[string]bool{"HasWiz": true, "HasReviewEmail": true, "HasApprovals": false})
	_, fn := s.resource("Function")
	vars := s.resolve(fn["Environment"]).(map[string]any)["Variables"].(map[string]any)
	cfg, err := deploy.FromEnv(func(name string) string {
		if v, ok := vars[name]; ok {
			return fmt.Sprint(v)
		}
		return ""
	})
	if err != nil {
		t.Fatalf("the function's environment: %v", err)
	}
	if want := s.ref("FindingsTopic"); len(cfg.SNSTopicARNs) != 1 || cfg.SNSTopicARNs[0] != want {
		t.Errorf("verified topics %v; want the findings topic %v", cfg.SNSTopicARNs, want)
	}
	if cfg.SNSAllowSignatureV1 {
		t.Error("the function accepts SNS signature version 1")
	}
	if cfg.SNSMaxAge <= 0 {
		t.Error("the function checks no notification age (REMEDY_SNS_MAX_AGE)")
	}
	seconds := func(v any) time.Duration {
		var n int
		if _, err := fmt.Sscan(fmt.Sprint(v), &n); err != nil {
			t.Fatalf("%v is not a number of seconds", v)
		}
		return time.Duration(n) * time.Second
	}
	for _, q := range s.ofType("AWS::SQS::Queue") {
		retention := 4 * 24 * time.Hour // SQS's default
		if v, ok := s.props(q)["MessageRetentionPeriod"]; ok {
			retention = seconds(v)
		}
		if cfg.IdempotencyTTL < retention {
			t.Errorf("idempotency memory %s is shorter than %s's retention %s", cfg.IdempotencyTTL, q, retention)
		}
	}
	// The last delivery comes (maxReceiveCount-1) visibility timeouts
	// after the first; a window shorter than that rejects it as a replay.
	queue := s.props("FindingsQueue")
	lastDelivery := time.Duration(cfg.MaxReceiveCount-1) * seconds(queue["VisibilityTimeout"])
	if cfg.SNSMaxAge != 0 && cfg.SNSMaxAge <= lastDelivery {
		t.Errorf("replay window %s; the last of %d deliveries comes %s after the first", cfg.SNSMaxAge, cfg.MaxReceiveCount, lastDelivery)
	}
}

// TestFunctionApprovals: without ApprovalKeyParameter the function has no
// approval store (findings that need approval go to review); with it,
// the function's environment names the approval table and the key's
// parameter, which deploy accepts, and its role may use the table and
// read the parameter.
func TestFunctionApprovals(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprintf("HasApprovals=%v", on), func(t *testing.T) {
			s := readStack(t, map[string]bool{"HasWiz": true, "HasReviewEmail": true, "HasApprovals": on})
			const param = "/remedy/approval-key"
			s.params["ApprovalKeyParameter"] = param
			_, fn := s.resource("Function")
			vars := s.resolve(fn["Environment"]).(map[string]any)["Variables"].(map[string]any)
			cfg, err := deploy.FromEnv(func(name string) string {
				if v, ok := vars[name]; ok {
					return fmt.Sprint(v)
				}
				return ""
			})
			if err != nil {
				t.Fatalf("the function's environment: %v", err)
			}
			if !on {
				if cfg.ApprovalTable != "" || cfg.ApprovalKeyParam != "" {
					t.Errorf("approvals are off, yet the function has table %q and key %q", cfg.ApprovalTable, cfg.ApprovalKeyParam)
				}
				return
			}
			if cfg.ApprovalTable != s.ref("ApprovalTable") || cfg.ApprovalKeyParam != param {
				t.Errorf("approval table %q key %q; want %v and %s", cfg.ApprovalTable, cfg.ApprovalKeyParam, s.ref("ApprovalTable"), param)
			}
			_, role := s.resource("FunctionRole")
			doc := fmt.Sprint(role["Policies"])
			for _, want := range []string{"Sid:Approvals", "dynamodb:UpdateItem", "ApprovalTable", "ssm:GetParameter", "parameter/remedy/*"} {
				if !strings.Contains(doc, want) {
					t.Errorf("the function's role lacks %s", want)
				}
			}
		})
	}
}
