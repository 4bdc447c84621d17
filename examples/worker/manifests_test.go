package main

import (
	"bufio"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/remedy-sec/remedy/deploy"
)

// The manifests beside this file (ecs.yaml, kubernetes.yaml, Dockerfile)
// cannot be deployed in a test; these tests keep them honest instead: they
// set only variables the worker reads, with values it accepts, give the
// worker time to drain, and run it as the image's non-root user.

// minGrace is the least time, in seconds, an orchestrator must leave
// between SIGTERM and SIGKILL: the worker's drain (sqsworker's
// DrainTimeout, 20 s), then releasing what is unfinished and flushing
// deletes.
const minGrace = 30

// otherVars are the variables, besides package deploy's, that the
// manifests may set, and who reads them.
var otherVars = map[string]string{
	"AWS_REGION": "the AWS SDK",
	"GOMEMLIMIT": "the Go runtime",
}

// deployVariables returns the REMEDY_* variables package deploy both
// documents (its package comment's table, in deploy.go) and reads
// (getenv("…") calls in any of its files).
func deployVariables(t *testing.T) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../../deploy/deploy.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for line := range strings.Lines(f.Doc.Text()) {
		if fields := strings.Fields(line); len(fields) > 1 && strings.HasPrefix(fields[0], "REMEDY_") {
			documented[fields[0]] = true
		}
	}
	read := map[string]bool{}
	files, err := filepath.Glob("../../deploy/*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		g, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		collectGetenv(g, documented, read)
	}
	if !read["REMEDY_QUEUE_URL"] || !read["REMEDY_MODE"] {
		t.Fatalf("found only %v in deploy.go's variable table and getenv calls: has its layout changed?", read)
	}
	return read
}

// collectGetenv adds to read the documented names f reads with
// getenv("…").
func collectGetenv(f *ast.File, documented, read map[string]bool) {
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) != 1 {
			return true
		}
		if fn, ok := call.Fun.(*ast.Ident); !ok || fn.Name != "getenv" {
			return true
		}
		if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
			if name, err := strconv.Unquote(lit.Value); err == nil && documented[name] {
				read[name] = true
			}
		}
		return true
	})
}

// checkEnv checks the environment a manifest sets: each variable is one
// the worker reads, REMEDY_QUEUE_URL is among them, and deploy.FromEnv
// accepts the values. A nil value is one the manifest leaves to deploy
// time (a CloudFormation parameter without a default).
func checkEnv(t *testing.T, manifest string, env map[string]*string) {
	t.Helper()
	known := deployVariables(t)
	for name := range env {
		if !known[name] && otherVars[name] == "" {
			t.Errorf("%s sets %s: package deploy does not read it (or does not document it), and it is not one of %v", manifest, name, slices.Sorted(maps.Keys(otherVars)))
		}
	}
	if _, ok := env["REMEDY_QUEUE_URL"]; !ok {
		t.Errorf("%s does not set REMEDY_QUEUE_URL, without which the worker does not start", manifest)
	}
	if _, err := deploy.FromEnv(func(name string) string {
		if v := env[name]; v != nil {
			return *v
		}
		return ""
	}); err != nil {
		t.Errorf("%s: %v", manifest, err)
	}
}

// checkMemoryLimit checks that GOMEMLIMIT is set below the memory limit,
// so the Go runtime collects before the kernel kills the process.
func checkMemoryLimit(t *testing.T, manifest string, env map[string]*string, limit int64) {
	t.Helper()
	v := env["GOMEMLIMIT"]
	if v == nil {
		t.Errorf("%s does not set GOMEMLIMIT", manifest)
		return
	}
	soft, err := byteSize(*v, map[string]int64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30})
	if err != nil {
		t.Errorf("%s: GOMEMLIMIT: %v", manifest, err)
		return
	}
	// Not so close to the limit that memory outside the Go heap (stacks,
	// binary, page cache) crosses it first, nor far below it.
	if soft >= limit*95/100 || soft < limit*70/100 {
		t.Errorf("%s: GOMEMLIMIT=%s is %d%% of the memory limit (%d MiB); want 70-95%%", manifest, *v, 100*soft/limit, limit>>20)
	}
}

// byteSize parses an integer followed by one of units.
func byteSize(s string, units map[string]int64) (int64, error) {
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if i < 0 {
		i = len(s)
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	unit, ok := units[s[i:]]
	if err != nil || !ok {
		return 0, errors.New(strconv.Quote(s) + " is not a size")
	}
	return n * unit, nil
}

// imageUser returns the user of the Dockerfile's final stage.
func imageUser(t *testing.T) string {
	t.Helper()
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var user string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		switch fields := strings.Fields(sc.Text()); {
		case len(fields) > 0 && strings.EqualFold(fields[0], "FROM"):
			user = "" // a new stage starts as root
		case len(fields) == 2 && strings.EqualFold(fields[0], "USER"):
			user = fields[1]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return user
}

// TestDockerfile: the image runs as a numeric non-root user (so that
// runAsNonRoot can verify it) and copies only files that exist.
func TestDockerfile(t *testing.T) {
	user := imageUser(t)
	uid, _, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("the final stage runs as %q; want a numeric non-root user", user)
	}
	src, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(src)) {
		fields := strings.Fields(line)
		if len(fields) < 3 || !strings.EqualFold(fields[0], "COPY") || strings.HasPrefix(fields[1], "--") {
			continue
		}
		// Paths are relative to the build context, the repository root.
		for _, p := range fields[1 : len(fields)-1] {
			if _, err := os.Stat(filepath.Join("../..", p)); err != nil {
				t.Errorf("Dockerfile copies %s: %v", p, err)
			}
		}
	}
}

// stringList is a YAML string or list of strings, as in IAM policies.
type stringList []string

func (l *stringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = stringList{n.Value}
		return nil
	}
	return n.Decode((*[]string)(l))
}

// cfnTemplate is the part of a CloudFormation template the tests read;
// each resource's properties are decoded by type.
type cfnTemplate struct {
	Parameters map[string]struct {
		Default yaml.Node `yaml:"Default"`
	} `yaml:"Parameters"`
	Resources map[string]struct {
		Type       string    `yaml:"Type"`
		Properties yaml.Node `yaml:"Properties"`
	} `yaml:"Resources"`
}

func readTemplate(t *testing.T, path string) cfnTemplate {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var tmpl cfnTemplate
	if err := yaml.Unmarshal(src, &tmpl); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return tmpl
}

// resources decodes the properties of every resource of type typ, by name.
func resources[P any](t *testing.T, tmpl cfnTemplate, typ string) map[string]P {
	t.Helper()
	out := map[string]P{}
	for name, r := range tmpl.Resources {
		if r.Type != typ {
			continue
		}
		var p P
		if err := r.Properties.Decode(&p); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = p
	}
	return out
}

// roleStatements returns the actions of a role's inline policies, by Sid.
func roleStatements(t *testing.T, tmpl cfnTemplate, role string) map[string][]string {
	t.Helper()
	type rolePolicies struct {
		Policies []struct {
			PolicyDocument struct {
				Statement []struct {
					Sid    string     `yaml:"Sid"`
					Action stringList `yaml:"Action"`
				} `yaml:"Statement"`
			} `yaml:"PolicyDocument"`
		} `yaml:"Policies"`
	}
	r, ok := resources[rolePolicies](t, tmpl, "AWS::IAM::Role")[role]
	if !ok {
		t.Fatalf("no role %s", role)
	}
	out := map[string][]string{}
	for _, p := range r.Policies {
		for _, st := range p.PolicyDocument.Statement {
			out[st.Sid] = append(out[st.Sid], st.Action...)
		}
	}
	return out
}

// TestECSTemplate: ecs.yaml's container gets the worker's variables,
// time to drain, a non-root user and a read-only root file system, and its
// task role allows what the Lambda function's role does.
func TestECSTemplate(t *testing.T) {
	tmpl := readTemplate(t, "ecs.yaml")
	type taskDefinition struct {
		Memory               string `yaml:"Memory"`
		ContainerDefinitions []struct {
			Name                   string `yaml:"Name"`
			User                   string `yaml:"User"`
			ReadonlyRootFilesystem bool   `yaml:"ReadonlyRootFilesystem"`
			StopTimeout            int    `yaml:"StopTimeout"`
			LinuxParameters        struct {
				Capabilities struct {
					Drop []string `yaml:"Drop"`
				} `yaml:"Capabilities"`
			} `yaml:"LinuxParameters"`
			Environment []struct {
				Name  string    `yaml:"Name"`
				Value yaml.Node `yaml:"Value"`
			} `yaml:"Environment"`
		} `yaml:"ContainerDefinitions"`
	}
	tasks := resources[taskDefinition](t, tmpl, "AWS::ECS::TaskDefinition")
	if len(tasks) != 1 {
		t.Fatalf("%d task definitions; want 1", len(tasks))
	}
	user := imageUser(t)
	for name, task := range tasks {
		if len(task.ContainerDefinitions) != 1 {
			t.Fatalf("%s: %d containers; want the worker alone", name, len(task.ContainerDefinitions))
		}
		c := task.ContainerDefinitions[0]
		if c.StopTimeout < minGrace {
			t.Errorf("%s: StopTimeout %d s; want at least %d s for the worker to drain", name, c.StopTimeout, minGrace)
		}
		if c.User != user {
			t.Errorf("%s: User %q; want the image's non-root user %q", name, c.User, user)
		}
		if !c.ReadonlyRootFilesystem {
			t.Errorf("%s: ReadonlyRootFilesystem is not true", name)
		}
		if !slices.Contains(c.LinuxParameters.Capabilities.Drop, "ALL") {
			t.Errorf("%s: capabilities drop %v; want ALL", name, c.LinuxParameters.Capabilities.Drop)
		}
		env := map[string]*string{}
		for _, e := range c.Environment {
			if _, dup := env[e.Name]; dup {
				t.Errorf("%s: %s is set twice", name, e.Name)
			}
			env[e.Name] = cfnValue(tmpl, &e.Value)
		}
		checkEnv(t, "ecs.yaml", env)
		mib, err := strconv.ParseInt(task.Memory, 10, 64)
		if err != nil {
			t.Fatalf("%s: Memory %q: %v", name, task.Memory, err)
		}
		checkMemoryLimit(t, "ecs.yaml", env, mib<<20)
	}

	// The task role is the Lambda function's role, less the function's
	// own log writes: ECS ships the logs with the execution role.
	want := roleStatements(t, readTemplate(t, "../lambda/template.yaml"), "FunctionRole")
	delete(want, "Logs")
	if d := cmp.Diff(want, roleStatements(t, tmpl, "TaskRole")); d != "" {
		t.Errorf("the task role's actions differ from the Lambda function's role (-lambda/template.yaml +ecs.yaml):\n%s", d)
	}
}

// cfnValue resolves a plain value or a !Ref to a parameter's default or
// to AWS::Region; it returns nil for anything known only at deploy time.
func cfnValue(tmpl cfnTemplate, n *yaml.Node) *string {
	if n.Kind != yaml.ScalarNode {
		return nil
	}
	switch n.Tag {
	case "!Ref":
		if n.Value == "AWS::Region" {
			region := "eu-west-1"
			return &region
		}
		if p, ok := tmpl.Parameters[n.Value]; ok {
			return cfnValue(tmpl, &p.Default) // nil without a default (Kind 0)
		}
		return nil
	case "!!str", "!!int", "!!bool", "!!float":
		return &n.Value
	}
	return nil
}

// k8sObject is the part of a Kubernetes object the tests read.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name        string            `yaml:"name"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	Data map[string]yaml.Node `yaml:"data"`
	Spec struct {
		Template struct {
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type podSpec struct {
	ServiceAccountName            string          `yaml:"serviceAccountName"`
	TerminationGracePeriodSeconds *int            `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               securityContext `yaml:"securityContext"`
	Containers                    []struct {
		Name    string `yaml:"name"`
		EnvFrom []struct {
			ConfigMapRef *struct {
				Name string `yaml:"name"`
			} `yaml:"configMapRef"`
		} `yaml:"envFrom"`
		Env []struct {
			Name      string    `yaml:"name"`
			Value     yaml.Node `yaml:"value"`
			ValueFrom yaml.Node `yaml:"valueFrom"`
		} `yaml:"env"`
		Resources struct {
			Limits map[string]string `yaml:"limits"`
		} `yaml:"resources"`
		SecurityContext securityContext `yaml:"securityContext"`
		LivenessProbe   yaml.Node       `yaml:"livenessProbe"`
	} `yaml:"containers"`
}

type securityContext struct {
	RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
	RunAsUser                *int  `yaml:"runAsUser"`
	AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
	ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
	Capabilities             struct {
		Drop []string `yaml:"drop"`
	} `yaml:"capabilities"`
}

// TestKubernetesManifest: kubernetes.yaml's Deployment gets the worker's
// variables (from its ConfigMap and env), time to drain, the restricted
// pod security settings, a memory limit above GOMEMLIMIT, an IRSA
// ServiceAccount, and no liveness probe to kill it while it drains.
func TestKubernetesManifest(t *testing.T) {
	f, err := os.Open("kubernetes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	objects := map[string]k8sObject{} // by kind/name
	var deployments []string
	for dec := yaml.NewDecoder(f); ; {
		var o k8sObject
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("kubernetes.yaml: %v", err)
		}
		objects[o.Kind+"/"+o.Metadata.Name] = o
		if o.Kind == "Deployment" {
			deployments = append(deployments, o.Metadata.Name)
		}
	}
	if len(deployments) != 1 {
		t.Fatalf("deployments %v; want one", deployments)
	}
	name := deployments[0]
	pod := objects["Deployment/"+name].Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%s: %d containers; want the worker alone", name, len(pod.Containers))
	}
	c := pod.Containers[0]

	// ConfigMap data and env values must be strings: Kubernetes rejects
	// an unquoted 8 or true.
	str := func(where string, n *yaml.Node) *string {
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			t.Errorf("%s is not a string; quote it", where)
		}
		return &n.Value
	}
	env := map[string]*string{}
	set := func(k string, v *string) {
		if _, dup := env[k]; dup {
			t.Errorf("%s: %s is set twice", name, k)
		}
		env[k] = v
	}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			t.Errorf("%s: envFrom other than a ConfigMap", name)
			continue
		}
		cm, ok := objects["ConfigMap/"+from.ConfigMapRef.Name]
		if !ok {
			t.Fatalf("%s: no ConfigMap %s", name, from.ConfigMapRef.Name)
		}
		for k, v := range cm.Data {
			set(k, str("ConfigMap "+cm.Metadata.Name+" "+k, &v))
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom.Kind != 0 {
			set(e.Name, nil) // a Secret's or a field's, known when the pod runs
			continue
		}
		set(e.Name, str(e.Name, &e.Value))
	}
	checkEnv(t, "kubernetes.yaml", env)
	limit, err := byteSize(c.Resources.Limits["memory"], map[string]int64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30})
	if err != nil {
		t.Fatalf("%s: memory limit: %v", name, err)
	}
	checkMemoryLimit(t, "kubernetes.yaml", env, limit)

	if g := pod.TerminationGracePeriodSeconds; g == nil || *g < minGrace {
		t.Errorf("%s: terminationGracePeriodSeconds %s; want at least %d s for the worker to drain", name, show(g), minGrace)
	}
	if c.LivenessProbe.Kind != 0 {
		t.Errorf("%s: a liveness probe; a failing one would kill a draining worker", name)
	}
	isTrue := func(b *bool) bool { return b != nil && *b }
	if !isTrue(c.SecurityContext.RunAsNonRoot) && !isTrue(pod.SecurityContext.RunAsNonRoot) {
		t.Errorf("%s: runAsNonRoot is not true", name)
	}
	user := c.SecurityContext.RunAsUser
	if user == nil {
		user = pod.SecurityContext.RunAsUser
	}
	if uid, _, _ := strings.Cut(imageUser(t), ":"); user == nil || strconv.Itoa(*user) != uid {
		t.Errorf("%s: runAsUser %s; want the image's user %s", name, show(user), uid)
	}
	if p := c.SecurityContext.AllowPrivilegeEscalation; p == nil || *p {
		t.Errorf("%s: allowPrivilegeEscalation is not false", name)
	}
	if !isTrue(c.SecurityContext.ReadOnlyRootFilesystem) {
		t.Errorf("%s: readOnlyRootFilesystem is not true", name)
	}
	if !slices.Contains(c.SecurityContext.Capabilities.Drop, "ALL") {
		t.Errorf("%s: capabilities drop %v; want ALL", name, c.SecurityContext.Capabilities.Drop)
	}

	sa, ok := objects["ServiceAccount/"+pod.ServiceAccountName]
	if !ok {
		t.Fatalf("%s: no ServiceAccount %q", name, pod.ServiceAccountName)
	}
	if arn := sa.Metadata.Annotations["eks.amazonaws.com/role-arn"]; !strings.HasPrefix(arn, "arn:aws:iam::") {
		t.Errorf("ServiceAccount %s: eks.amazonaws.com/role-arn %q; want the worker's IAM role", sa.Metadata.Name, arn)
	}
}

// show formats an optional field of a manifest.
func show[T any](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}
