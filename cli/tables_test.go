package cli

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

// templateTable is what examples/lambda/template.yaml declares of a
// DynamoDB table, and what a created table is compared on.
type templateTable struct {
	TableName            string `yaml:"TableName"`
	BillingMode          string `yaml:"BillingMode"`
	AttributeDefinitions []struct {
		AttributeName string `yaml:"AttributeName"`
		AttributeType string `yaml:"AttributeType"`
	} `yaml:"AttributeDefinitions"`
	KeySchema              []keyElem `yaml:"KeySchema"`
	GlobalSecondaryIndexes []struct {
		IndexName  string    `yaml:"IndexName"`
		KeySchema  []keyElem `yaml:"KeySchema"`
		Projection struct {
			ProjectionType string `yaml:"ProjectionType"`
		} `yaml:"Projection"`
	} `yaml:"GlobalSecondaryIndexes"`
	PointInTimeRecoverySpecification struct {
		PointInTimeRecoveryEnabled bool `yaml:"PointInTimeRecoveryEnabled"`
	} `yaml:"PointInTimeRecoverySpecification"`
	SSESpecification struct {
		SSEEnabled bool `yaml:"SSEEnabled"`
	} `yaml:"SSESpecification"`
	TimeToLiveSpecification struct {
		AttributeName string `yaml:"AttributeName"`
		Enabled       bool   `yaml:"Enabled"`
	} `yaml:"TimeToLiveSpecification"`
}

type keyElem struct {
	AttributeName string `yaml:"AttributeName"`
	KeyType       string `yaml:"KeyType"`
}

// templateTables returns the template's tables by name.
func templateTables(t *testing.T) map[string]templateTable {
	t.Helper()
	src, err := os.ReadFile("../examples/lambda/template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var tmpl struct {
		Resources map[string]struct {
			Type       string    `yaml:"Type"`
			Properties yaml.Node `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(src, &tmpl); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	out := map[string]templateTable{}
	for name, r := range tmpl.Resources {
		if r.Type != "AWS::DynamoDB::Table" {
			continue
		}
		var tt templateTable
		if err := r.Properties.Decode(&tt); err != nil {
			t.Fatalf("template.yaml %s: %v", name, err)
		}
		out[tt.TableName] = tt
	}
	return out
}

// TestTablesCreateMatchesTemplate: `remedy tables create` makes the
// tables exactly as the reference template declares them — keys, the
// audit table's index, encryption, TTL, point-in-time recovery.
func TestTablesCreateMatchesTemplate(t *testing.T) {
	srv := mototest.Require(t, moto)
	ctx := mototest.Context(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_REGION", "eu-west-1")
	want := templateTables(t)
	if len(want) != 3 {
		t.Fatalf("the template declares %d tables, want the audit, idempotency and approval tables", len(want))
	}
	code, out, errOut := runCLI(t, "", "tables", "create", "--endpoint", srv.URL,
		"--audit-table", "remedy-audit", "--idempotency-table", "remedy-idempotency", "--approval-table", "remedy-approvals")
	if code != exitOK {
		t.Fatalf("tables create: exit %d\n%s%s", code, out, errOut)
	}
	db := dynamodb.NewFromConfig(srv.Config("eu-west-1"))
	for name, w := range want {
		desc, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			t.Fatalf("table %s of the template was not created: %v", name, err)
		}
		var got templateTable
		got.TableName = aws.ToString(desc.Table.TableName)
		if desc.Table.BillingModeSummary != nil {
			got.BillingMode = string(desc.Table.BillingModeSummary.BillingMode)
		}
		for _, a := range desc.Table.AttributeDefinitions {
			got.AttributeDefinitions = append(got.AttributeDefinitions, struct {
				AttributeName string `yaml:"AttributeName"`
				AttributeType string `yaml:"AttributeType"`
			}{aws.ToString(a.AttributeName), string(a.AttributeType)})
		}
		for _, k := range desc.Table.KeySchema {
			got.KeySchema = append(got.KeySchema, keyElem{aws.ToString(k.AttributeName), string(k.KeyType)})
		}
		for _, g := range desc.Table.GlobalSecondaryIndexes {
			var ks []keyElem
			for _, k := range g.KeySchema {
				ks = append(ks, keyElem{aws.ToString(k.AttributeName), string(k.KeyType)})
			}
			gsi := struct {
				IndexName  string    `yaml:"IndexName"`
				KeySchema  []keyElem `yaml:"KeySchema"`
				Projection struct {
					ProjectionType string `yaml:"ProjectionType"`
				} `yaml:"Projection"`
			}{IndexName: aws.ToString(g.IndexName), KeySchema: ks}
			gsi.Projection.ProjectionType = string(g.Projection.ProjectionType)
			got.GlobalSecondaryIndexes = append(got.GlobalSecondaryIndexes, gsi)
		}
		got.SSESpecification.SSEEnabled = desc.Table.SSEDescription != nil && desc.Table.SSEDescription.Status == "ENABLED"
		ttl, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		got.TimeToLiveSpecification.AttributeName = aws.ToString(ttl.TimeToLiveDescription.AttributeName)
		got.TimeToLiveSpecification.Enabled = ttl.TimeToLiveDescription.TimeToLiveStatus == "ENABLED"
		pitr, err := db.DescribeContinuousBackups(ctx, &dynamodb.DescribeContinuousBackupsInput{TableName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		if d := pitr.ContinuousBackupsDescription.PointInTimeRecoveryDescription; d != nil {
			got.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled = d.PointInTimeRecoveryStatus == "ENABLED"
		}
		sortTable(&w)
		sortTable(&got)
		if d := cmp.Diff(w, got); d != "" {
			t.Errorf("table %s (-template +created):\n%s", name, d)
		}
	}
	// A second run finds the tables and leaves them.
	if code, out, errOut := runCLI(t, "", "tables", "create", "--endpoint", srv.URL); code != exitOK {
		t.Errorf("tables create again: exit %d\n%s%s", code, out, errOut)
	}
}

func sortTable(t *templateTable) {
	slices.SortFunc(t.AttributeDefinitions, func(a, b struct {
		AttributeName string `yaml:"AttributeName"`
		AttributeType string `yaml:"AttributeType"`
	}) int {
		return strings.Compare(a.AttributeName, b.AttributeName)
	})
}

func TestTablesUsage(t *testing.T) {
	if code, _, errOut := runCLI(t, "", "tables"); code != exitUsage || !strings.Contains(errOut, "create") {
		t.Errorf("tables without a subcommand: exit %d, %q; want a usage error naming create", code, errOut)
	}
}
