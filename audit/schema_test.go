package audit_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/audit/audittest"
)

type schemaNode struct {
	Properties map[string]schemaNode `json:"properties"`
	Required   []string              `json:"required"`
	Items      *schemaNode           `json:"items"`
	Enum       []any                 `json:"enum"`
	Const      any                   `json:"const"`
}

// TestSchemaDescribesRecord checks that every field a fully populated
// Record encodes is declared in the schema (which forbids additional
// properties), and that the required ones are present, so the published
// schema cannot drift from the Go type.
func TestSchemaDescribesRecord(t *testing.T) {
	var root schemaNode
	if err := json.Unmarshal(audit.JSONSchema(), &root); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	if root.Const != nil {
		t.Fatal("unexpected const at the root")
	}
	b, err := json.Marshal(audittest.Record("schema-1"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if got := root.Properties["schema"].Const; got != audit.SchemaVersion {
		t.Errorf("schema const = %v, want %s", got, audit.SchemaVersion)
	}
	check(t, "", root, doc)
	outcomes := root.Properties["outcome"].Enum
	for _, o := range []string{"rejected", "skipped", "review", "compliant", "applied", "applied-unverified", "planned", "failed", "dead-lettered", "rolled-back"} {
		if !slices.Contains(outcomes, any(o)) {
			t.Errorf("schema outcome enum lacks %q", o)
		}
	}
}

func check(t *testing.T, path string, s schemaNode, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		if s.Properties == nil {
			return // a free JSON value (evidence before/after)
		}
		for k, x := range v {
			sub, ok := s.Properties[k]
			if !ok {
				t.Errorf("field %s%s is not in the schema", path, k)
				continue
			}
			check(t, path+k+".", sub, x)
		}
		for _, r := range s.Required {
			if _, ok := v[r]; !ok {
				t.Errorf("required field %s%s is missing from an encoded record", path, r)
			}
		}
	case []any:
		if s.Items != nil {
			for _, x := range v {
				check(t, path, *s.Items, x)
			}
		}
	}
}
