package eligibility

import (
	"fmt"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"

	"github.com/remedy-sec/remedy/remediate"
)

// ruleCostLimit bounds one rule's evaluation. Rules over one finding are
// small; a rule that needs more is a mistake, and hitting the limit is an
// evaluation error, which leads to review.
const ruleCostLimit = 100_000

// rule is one compiled CEL check.
type rule struct {
	name    string
	check   string // "rule:" + name
	leadsTo remediate.Verdict
	message string
	prg     cel.Program
}

// The variables a rule sees. Field names are the CEL names (cel tags);
// doc.go lists them. They are copies: a rule cannot change the finding,
// and it never sees what the payload declares about itself.
type (
	celFinding struct {
		ID             string    `cel:"id"`
		Source         string    `cel:"source"`
		TriggerSource  string    `cel:"trigger_source"`
		TriggerType    string    `cel:"trigger_type"`
		Status         string    `cel:"status"`
		Severity       string    `cel:"severity"`
		Environment    string    `cel:"environment"`
		Owner          string    `cel:"owner"`
		Exception      string    `cel:"exception"`
		ExceptionID    string    `cel:"exception_id"`
		ProposedAction string    `cel:"proposed_action"`
		RuleID         string    `cel:"rule_id"`
		RuleName       string    `cel:"rule_name"`
		Projects       []string  `cel:"projects"`
		DetectedAt     time.Time `cel:"detected_at"`
		UpdatedAt      time.Time `cel:"updated_at"`
	}
	celResource struct {
		ID      string            `cel:"id"`
		ARN     string            `cel:"arn"`
		Name    string            `cel:"name"`
		Type    string            `cel:"type"`
		Cloud   string            `cel:"cloud"`
		Account string            `cel:"account"`
		Region  string            `cel:"region"`
		Tags    map[string]string `cel:"tags"`
	}
	celControl struct {
		ID             string `cel:"id"`
		Name           string `cel:"name"`
		Severity       string `cel:"severity"`
		SourceRuleID   string `cel:"source_rule_id"`
		SourceRuleName string `cel:"source_rule_name"`
	}
	celAccount struct {
		ID          string `cel:"id"`
		Name        string `cel:"name"`
		Environment string `cel:"environment"`
		Owner       string `cel:"owner"`
		Allowlisted bool   `cel:"allowlisted"`
	}
)

// newRuleEnv returns the CEL environment rules compile in.
func newRuleEnv() (*cel.Env, error) {
	return cel.NewEnv(
		ext.NativeTypes(
			types.ParseStructTags(true),
			types.NativeTypeFor[celFinding](types.NativeTypeAlias("remedy.Finding")),
			types.NativeTypeFor[celResource](types.NativeTypeAlias("remedy.Resource")),
			types.NativeTypeFor[celControl](types.NativeTypeAlias("remedy.Control")),
			types.NativeTypeFor[celAccount](types.NativeTypeAlias("remedy.Account")),
		),
		cel.Variable("finding", cel.ObjectType("remedy.Finding")),
		cel.Variable("resource", cel.ObjectType("remedy.Resource")),
		cel.Variable("control", cel.ObjectType("remedy.Control")),
		cel.Variable("account", cel.ObjectType("remedy.Account")),
		cel.Variable("action", cel.StringType),
		cel.Variable("now", cel.TimestampType),
		cel.OptionalTypes(),
		ext.Strings(),
	)
}

// celIssue is one compile problem, with the line inside the expression.
type celIssue struct {
	line int // 1-based line in the expression, 0 if unknown
	msg  string
}

// compileRule type-checks expr and plans it. It returns the problems
// found, if any.
func compileRule(env *cel.Env, expr string) (cel.Program, []celIssue) {
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		var out []celIssue
		for _, e := range iss.Errors() {
			msg := e.Message
			if col := e.Location.Column(); col >= 0 {
				msg += fmt.Sprintf(" (column %d)", col+1)
			}
			out = append(out, celIssue{line: e.Location.Line(), msg: msg})
		}
		return nil, out
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, []celIssue{{msg: fmt.Sprintf("expression must be a bool, not %s", ast.OutputType())}}
	}
	prg, err := env.Program(ast,
		cel.EvalOptions(cel.OptOptimize),
		cel.CostLimit(ruleCostLimit),
	)
	if err != nil {
		return nil, []celIssue{{msg: err.Error()}}
	}
	return prg, nil
}

// ruleVars is the activation rules evaluate against. It is built once
// per decision and shared by the rules, which run one after another; each
// variable is copied out of the finding the first time a rule reads it.
type ruleVars struct {
	p      *Policy
	f      *remediate.Finding
	action string
	now    time.Time

	finding  *celFinding
	resource *celResource
	control  *celControl
	account  *celAccount
}

var _ interpreter.Activation = (*ruleVars)(nil)

func (v *ruleVars) ResolveName(name string) (any, bool) {
	f := v.f
	switch name {
	case "finding":
		if v.finding == nil {
			projects := f.Projects
			if projects == nil {
				projects = []string{}
			}
			v.finding = &celFinding{
				ID:             f.ID,
				Source:         f.Source,
				TriggerSource:  f.TriggerSource,
				TriggerType:    f.TriggerType,
				Status:         f.Status,
				Severity:       string(f.Severity),
				Environment:    f.Environment,
				Owner:          f.Owner,
				Exception:      string(f.Exception),
				ExceptionID:    f.ExceptionID,
				ProposedAction: f.ProposedAction,
				RuleID:         f.Rule.ID,
				RuleName:       f.Rule.Name,
				Projects:       projects,
				DetectedAt:     f.DetectedAt,
				UpdatedAt:      f.UpdatedAt,
			}
		}
		return v.finding, true
	case "resource":
		if v.resource == nil {
			tags := f.Resource.Tags
			if tags == nil {
				tags = map[string]string{}
			}
			v.resource = &celResource{
				ID:      f.Resource.ID,
				ARN:     f.Resource.ARN,
				Name:    f.Resource.Name,
				Type:    f.Resource.Type,
				Cloud:   f.Resource.Cloud,
				Account: f.Resource.Account,
				Region:  f.Resource.Region,
				Tags:    tags,
			}
		}
		return v.resource, true
	case "control":
		if v.control == nil {
			v.control = &celControl{
				ID:             f.Control.ID,
				Name:           f.Control.Name,
				Severity:       string(f.Control.Severity),
				SourceRuleID:   f.Control.SourceRuleID,
				SourceRuleName: f.Control.SourceRuleName,
			}
		}
		return v.control, true
	case "account":
		if v.account == nil {
			a, ok := v.p.accounts[f.Resource.Account]
			v.account = &celAccount{
				ID:          f.Resource.Account,
				Name:        a.name,
				Environment: a.environment,
				Owner:       a.owner,
				Allowlisted: ok,
			}
		}
		return v.account, true
	case "action":
		return v.action, true
	case "now":
		return v.now, true
	}
	return nil, false
}

func (v *ruleVars) Parent() interpreter.Activation { return nil }

// eval runs one rule. It returns whether the finding passes; an error
// means the rule could not say.
func (r *rule) eval(vars *ruleVars) (bool, error) {
	out, _, err := r.prg.Eval(vars)
	if err != nil {
		return false, err
	}
	return asBool(out)
}

func asBool(v ref.Val) (bool, error) {
	if b, ok := v.(types.Bool); ok {
		return bool(b), nil
	}
	if types.IsError(v) {
		if err, ok := v.Value().(error); ok {
			return false, err
		}
	}
	return false, fmt.Errorf("result is %s, not bool", v.Type().TypeName())
}
