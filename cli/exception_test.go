package cli

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
)

// TestExceptionCommands runs `remedy exception` against moto: tables
// create makes the exception table; add refuses an exception without
// scope or expiry and stores valid ones; list shows active, expired and
// revoked exceptions; revoke takes one out of force, once.
func TestExceptionCommands(t *testing.T) {
	srv := mototest.Require(t, moto)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_REGION", "eu-west-1")
	const table = "remedy-exceptions-cli"
	if code, out, errOut := runCLI(t, "", "tables", "create", "--endpoint", srv.URL,
		"--audit-table", "exc-cli-audit", "--idempotency-table", "exc-cli-idem", "--exception-table", table); code != exitOK || !strings.Contains(out, "exception table "+table+": active") {
		t.Fatalf("tables create --exception-table: exit %d\n%s%s", code, out, errOut)
	}
	ex := func(args ...string) (int, string, string) {
		t.Helper()
		return runCLI(t, "", append([]string{"exception", args[0], "--table", table, "--endpoint", srv.URL}, args[1:]...)...)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no scope", []string{"add", "--owner", "o@example.com", "--reason", "r", "--expires", "2027-01-31"}, "no scope"},
		{"no expiry", []string{"add", "--owner", "o@example.com", "--reason", "r", "--resource", "arn:aws:s3:::b"}, "--expires is required"},
		{"bad expiry", []string{"add", "--owner", "o@example.com", "--reason", "r", "--resource", "arn:aws:s3:::b", "--expires", "soon"}, "not a date"},
		{"no owner", []string{"add", "--reason", "r", "--resource", "arn:aws:s3:::b", "--expires", "2027-01-31"}, "owner is required"},
		{"bad tag", []string{"add", "--owner", "o", "--reason", "r", "--tag", "novalue", "--expires", "2027-01-31"}, "KEY=VALUE"},
		{"revoke without id", []string{"revoke"}, "want one exception id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := ex(tc.args...)
			if code != exitUsage || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d naming %q", code, errOut, exitUsage, tc.want)
			}
		})
	}
	if code, _, errOut := runCLI(t, "", "exception", "add", "--owner", "o", "--reason", "r", "--account", "111111111111", "--expires", "2027-01-31"); code != exitUsage || !strings.Contains(errOut, "--table is required") {
		t.Errorf("add without --table: exit %d, %q", code, errOut)
	}

	code, out, errOut := ex("add", "--id", "EXC-WEB", "--owner", "web@example.com", "--reason", "public website",
		"--resource", "arn:aws:s3:::www-example-com", "--control", "wc-id-1234", "--expires", "2099-01-31")
	if code != exitOK || out != "EXC-WEB\n" {
		t.Fatalf("add: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, _, errOut := ex("add", "--id", "EXC-WEB", "--owner", "x", "--reason", "x", "--account", "111111111111", "--expires", "2099-01-31"); code != exitInput || !strings.Contains(errOut, "already exists") {
		t.Errorf("add with an existing id: exit %d, %q; want exit 1, already exists", code, errOut)
	}
	if code, out, errOut := ex("add", "--id", "EXC-OLD", "--owner", "ops@example.com", "--reason", "legacy",
		"--account", "111111111111", "--tag", "tier=archive", "--expires", "2020-01-01"); code != exitOK || out != "EXC-OLD\n" {
		t.Fatalf("add expired: exit %d, %q, %q", code, out, errOut)
	}
	code, out, errOut = ex("add", "--owner", "data@example.com", "--reason", "to revoke", "--control", "S3-019", "--expires", "2099-06-30T18:00:00Z")
	if code != exitOK || !strings.HasPrefix(out, "exc-") {
		t.Fatalf("add with a generated id: exit %d, %q, %q", code, out, errOut)
	}
	gen := strings.TrimSpace(out)

	if code, out, errOut := ex("revoke", gen); code != exitOK || !strings.Contains(out, "revoked") {
		t.Errorf("revoke: exit %d, %q, %q", code, out, errOut)
	}
	if code, _, errOut := ex("revoke", gen); code != exitInput || !strings.Contains(errOut, "no such unrevoked exception") {
		t.Errorf("revoke twice: exit %d, %q; want exit 1", code, errOut)
	}

	code, out, errOut = ex("list")
	if code != exitOK {
		t.Fatalf("list: exit %d, %s", code, errOut)
	}
	var got [][]string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		got = append(got, f[:3]) // id, status, expires
	}
	want := [][]string{{"ID", "STATUS", "EXPIRES"}, {"EXC-OLD", "expired", "2020-01-01"}, {"EXC-WEB", "active", "2099-01-31"}, {gen, "revoked", "2099-06-30T18:00:00Z"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("list (-want +got):\n%s\n%s", d, out)
	}
	if !strings.Contains(out, `resource "arn:aws:s3:::www-example-com", control "wc-id-1234"`) || !strings.Contains(out, `account 111111111111, tag "tier=archive"`) {
		t.Errorf("list does not show the scopes:\n%s", out)
	}
	if code, out, _ := ex("list", "--json"); code != exitOK || strings.Count(out, `"status":`) != 3 || !strings.Contains(out, `"owner":"web@example.com"`) {
		t.Errorf("list --json: exit %d\n%s", code, out)
	}
}
