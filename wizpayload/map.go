package wizpayload

import (
	"strconv"
	"strings"

	"github.com/remedy-sec/remedy/internal/clip"
	"github.com/remedy-sec/remedy/internal/strictjson"
	"github.com/remedy-sec/remedy/remediate"
)

// top holds the top-level members the parser reads. Members it does not
// read are ignored, after strictjson has checked them.
type top struct {
	// The automation-rule template.
	trigger, issue, resource, control strictjson.Value
	// The GraphQL issue shape.
	entitySnapshot, sourceRule                           strictjson.Value
	id, status, severity, createdAt, updatedAt, projects strictjson.Value
	// Custom-template additions, in either shape.
	tags, environment, owner, proposedAction strictjson.Value
}

func (p *parser) mapPayload(root strictjson.Value, f *remediate.Finding) error {
	var t top
	for k, v := range root.Members() {
		switch k {
		case "trigger":
			t.trigger = v
		case "issue":
			t.issue = v
		case "resource":
			t.resource = v
		case "control":
			t.control = v
		case "entitySnapshot":
			t.entitySnapshot = v
		case "sourceRule":
			t.sourceRule = v
		case "id":
			t.id = v
		case "status":
			t.status = v
		case "severity":
			t.severity = v
		case "createdAt":
			t.createdAt = v
		case "updatedAt":
			t.updatedAt = v
		case "projects":
			t.projects = v
		case "tags":
			t.tags = v
		case "environment":
			t.environment = v
		case "owner":
			t.owner = v
		case "proposedAction":
			t.proposedAction = v
		}
	}
	template := t.trigger.Exists() || t.issue.Exists() || t.resource.Exists() || t.control.Exists()
	graphql := t.entitySnapshot.Exists() || t.sourceRule.Exists()
	var err error
	switch {
	case template && graphql:
		field := "entitySnapshot"
		if !t.entitySnapshot.Exists() {
			field = "sourceRule"
		}
		return reject(field, "the payload mixes the automation template (trigger, issue, resource, control) and the GraphQL issue shape (entitySnapshot, sourceRule)")
	case template:
		err = p.mapTemplate(&t, f)
	case graphql:
		err = p.mapGraphQL(&t, f)
	default:
		return reject("issue", "missing: the payload has neither an issue object (automation template) nor an entitySnapshot (GraphQL issue shape)")
	}
	if err != nil {
		return err
	}
	if f.Declared.Environment, err = declared(f, t.environment, "environment", p.maxString); err != nil {
		return err
	}
	if f.Declared.Owner, err = declared(f, t.owner, "owner", p.maxString); err != nil {
		return err
	}
	f.ProposedAction, err = ident(t.proposedAction, "proposedAction", maxTokenBytes)
	return err
}

// mapTemplate maps the automation-rule template: trigger, issue, resource
// and control objects, every value a string.
func (p *parser) mapTemplate(t *top, f *remediate.Finding) error {
	if err := p.mapTrigger(t.trigger, f); err != nil {
		return err
	}

	issue, err := object(t.issue, "issue")
	if err != nil {
		return err
	}
	if !issue.Exists() {
		return reject("issue", "missing")
	}
	var id, st, sev, created, createdAt, updated, updatedAt, projects strictjson.Value
	for k, v := range issue.Members() {
		switch k {
		case "id":
			id = v
		case "status":
			st = v
		case "severity":
			sev = v
		case "created":
			created = v
		case "createdAt":
			createdAt = v
		case "updated":
			updated = v
		case "updatedAt":
			updatedAt = v
		case "projects":
			projects = v
		}
	}
	if f.ID, err = issueID(id, "issue.id"); err != nil {
		return err
	}
	if err := status(f, st, "issue.status"); err != nil {
		return err
	}
	if err := severity(f, sev, "issue.severity"); err != nil {
		return err
	}
	// Custom templates name the times either way; both at once is a
	// template bug, not something to pick from.
	created, createdField, err := alias(created, createdAt, "issue.created", "issue.createdAt")
	if err != nil {
		return err
	}
	updated, updatedField, err := alias(updated, updatedAt, "issue.updated", "issue.updatedAt")
	if err != nil {
		return err
	}
	if f.DetectedAt, err = timeField(created, createdField); err != nil {
		return err
	}
	if f.UpdatedAt, err = timeField(updated, updatedField); err != nil {
		return err
	}
	ps, err := str(projects, "issue.projects")
	if err != nil {
		return err
	}
	f.Projects = splitProjects(ps)

	res, err := object(t.resource, "resource")
	if err != nil {
		return err
	}
	if !res.Exists() {
		return reject("resource", "missing")
	}
	var in resourceIn
	for k, v := range res.Members() {
		switch k {
		case "id":
			in.id = v
		case "name":
			in.name = v
		case "type":
			in.typ = v
		case "cloudPlatform":
			in.cloud = v
		case "subscriptionId":
			in.account = v
		case "region":
			in.region = v
		case "tags":
			in.tags = v
		}
	}
	if err := p.mapResource(f, &in, templateFields(), t.tags); err != nil {
		return err
	}

	ctl, err := object(t.control, "control")
	if err != nil || !ctl.Exists() {
		return err
	}
	var cid, cname, csev, rid, rname strictjson.Value
	for k, v := range ctl.Members() {
		switch k {
		case "id":
			cid = v
		case "name":
			cname = v
		case "severity":
			csev = v
		case "sourceCloudConfigurationRuleId":
			rid = v
		case "sourceCloudConfigurationRuleName":
			rname = v
		}
	}
	if f.Control.ID, err = ident(cid, "control.id", maxTokenBytes); err != nil {
		return err
	}
	if f.Control.Name, err = text(cname, "control.name"); err != nil {
		return err
	}
	if f.Control.Severity, err = controlSeverity(csev, "control.severity"); err != nil {
		return err
	}
	if f.Control.SourceRuleID, err = ident(rid, "control.sourceCloudConfigurationRuleId", maxTokenBytes); err != nil {
		return err
	}
	f.Control.SourceRuleName, err = text(rname, "control.sourceCloudConfigurationRuleName")
	return err
}

// mapTrigger reads the template's trigger. Its source must be accepted;
// a missing trigger or an unknown type is a concern.
func (p *parser) mapTrigger(v strictjson.Value, f *remediate.Finding) error {
	trig, err := object(v, "trigger")
	if err != nil {
		return err
	}
	if !trig.Exists() {
		f.AddConcern("trigger", "The payload carries no trigger, so it is unknown why Wiz sent it.")
		return nil
	}
	var src, typ, ruleID, ruleName strictjson.Value
	var ok bool
	for k, v := range trig.Members() {
		switch k {
		case "source":
			src = v
		case "type":
			typ = v
		case "ruleId":
			ruleID = v
		case "ruleName":
			ruleName = v
		}
	}
	s, err := enumText(src, "trigger.source")
	if err != nil {
		return err
	}
	if s == "" {
		return reject("trigger.source", "missing; accepted trigger sources are "+p.acceptedTriggers())
	}
	if f.TriggerSource, ok = p.matchTrigger(s); !ok {
		return reject("trigger.source", "trigger source "+clip.Quote(s)+" is not accepted; accepted trigger sources are "+p.acceptedTriggers())
	}

	tt, err := enumText(typ, "trigger.type")
	if err != nil {
		return err
	}
	if tt == "" {
		f.AddConcern("trigger.type", "The trigger has no type, so it is unknown whether the issue is new.")
	} else if f.TriggerType, ok = matchEnum(tt, "CREATED", "UPDATED", "RESOLVED", "REOPENED"); !ok {
		f.AddConcern("trigger.type", "The trigger type "+clip.Quote(tt)+" is not one Remedy knows.")
	}
	if f.Rule.ID, err = text(ruleID, "trigger.ruleId"); err != nil {
		return err
	}
	f.Rule.Name, err = text(ruleName, "trigger.ruleName")
	return err
}

// mapGraphQL maps an issue as the Wiz GraphQL API returns it. It has no
// trigger: TriggerSource is "API" and TriggerType is empty, so a policy
// that acts only on CREATED or REOPENED sends it to review.
func (p *parser) mapGraphQL(t *top, f *remediate.Finding) error {
	f.TriggerSource = TriggerSourceAPI
	var err error
	if f.ID, err = issueID(t.id, "id"); err != nil {
		return err
	}
	if err := status(f, t.status, "status"); err != nil {
		return err
	}
	if err := severity(f, t.severity, "severity"); err != nil {
		return err
	}
	if f.DetectedAt, err = timeField(t.createdAt, "createdAt"); err != nil {
		return err
	}
	if f.UpdatedAt, err = timeField(t.updatedAt, "updatedAt"); err != nil {
		return err
	}
	if f.Projects, err = projectNames(t.projects); err != nil {
		return err
	}

	es, err := object(t.entitySnapshot, "entitySnapshot")
	if err != nil {
		return err
	}
	if !es.Exists() {
		return reject("entitySnapshot", "missing")
	}
	var in resourceIn
	for k, v := range es.Members() {
		switch k {
		case "providerId":
			in.id = v
		case "name":
			in.name = v
		case "nativeType":
			in.typ = v
		case "cloudPlatform":
			in.cloud = v
		case "subscriptionExternalId":
			in.account = v
		case "region":
			in.region = v
		case "tags":
			in.tags = v
		}
	}
	if err := p.mapResource(f, &in, graphQLFields(), t.tags); err != nil {
		return err
	}

	rule, err := object(t.sourceRule, "sourceRule")
	if err != nil || !rule.Exists() {
		return err
	}
	var typename, rid, rname, rsev strictjson.Value
	for k, v := range rule.Members() {
		switch k {
		case "__typename":
			typename = v
		case "id":
			rid = v
		case "name":
			rname = v
		case "severity":
			rsev = v
		}
	}
	tn, err := str(typename, "sourceRule.__typename")
	if err != nil {
		return err
	}
	id, err := ident(rid, "sourceRule.id", maxTokenBytes)
	if err != nil {
		return err
	}
	name, err := text(rname, "sourceRule.name")
	if err != nil {
		return err
	}
	if f.Control.Severity, err = controlSeverity(rsev, "sourceRule.severity"); err != nil {
		return err
	}
	switch tn {
	case "CloudConfigurationRule":
		f.Control.SourceRuleID, f.Control.SourceRuleName = id, name
	case "Control":
		f.Control.ID, f.Control.Name = id, name
	default:
		f.Control.ID, f.Control.Name = id, name
		if id != "" {
			f.AddConcern("sourceRule.__typename", "The source rule's kind "+clip.Quote(tn)+" is not Control or CloudConfigurationRule, so its id cannot be matched safely.")
		}
	}
	return nil
}

// projectNames reads the GraphQL projects list: null or an array of
// objects with a name.
func projectNames(v strictjson.Value) ([]string, error) {
	switch v.Kind() {
	case strictjson.Invalid, strictjson.Null:
		return nil, nil
	case strictjson.Array:
	default:
		return nil, reject("projects", "want an array, got "+kindName(v.Kind()))
	}
	var out []string
	i := 0
	for e := range v.Elements() {
		if e.Kind() != strictjson.Object {
			return nil, reject(projectField(i, ""), "want an object, got "+kindName(e.Kind()))
		}
		n, _ := e.Get("name")
		if k := n.Kind(); k != strictjson.String && k != strictjson.Null && k != strictjson.Invalid {
			return nil, reject(projectField(i, ".name"), "want a string, got "+kindName(k))
		}
		if name := strings.TrimSpace(n.Text()); name != "" && n.Kind() == strictjson.String {
			if out == nil {
				out = make([]string, 0, v.Len())
			}
			out = append(out, clipText(name))
		}
		i++
	}
	return out, nil
}

// projectField names the i-th GraphQL project, or a member of it.
func projectField(i int, member string) string {
	return "projects[" + strconv.Itoa(i) + "]" + member
}

// issueID reads the required issue id: an opaque token of bounded length.
func issueID(v strictjson.Value, field string) (string, error) {
	s, err := str(v, field)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", reject(field, "missing")
	}
	if why := checkToken(s, maxIDBytes); why != "" {
		return "", reject(field, "issue id "+why)
	}
	return s, nil
}

// alias returns whichever of a and b exists and its field name,
// rejecting both at once.
func alias(a, b strictjson.Value, aField, bField string) (strictjson.Value, string, error) {
	switch {
	case a.Exists() && b.Exists():
		return strictjson.Value{}, "", reject(bField, "both "+aField+" and "+bField+" are present")
	case b.Exists():
		return b, bField, nil
	}
	return a, aField, nil
}
