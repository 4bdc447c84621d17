package audit

import _ "embed"

// JSONSchema returns the JSON Schema (draft 2020-12) of Record for
// SchemaVersion, for consumers that validate or index audit records
// outside Go: a SIEM pipeline, a data lake table definition.
func JSONSchema() []byte { return append([]byte(nil), schemaJSON...) }

//go:embed record.schema.json
var schemaJSON []byte
