package remediate_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/remedy-sec/remedy/remediate"
)

// TestShareClients: a CredentialSource that shares its clients
// (remediate.ShareClients) gets one client built for the findings it
// serves alike, kept per region; the context the engine gives it and the
// remediator names the finding (remediate.FindingID).
func TestShareClients(t *testing.T) {
	var shared remediate.Clients
	var seen []string
	rem := &clientCounter{fakeRemediator: *newFake()}
	region := "us-east-1"
	eng := applyEngine(t, rem, func(o *remediate.Options) {
		o.Credentials = credsFunc(func(ctx context.Context, f *remediate.Finding, s remediate.Spec) (aws.Config, error) {
			id, ok := remediate.FindingID(ctx)
			if !ok || id != f.ID {
				t.Errorf("Config: FindingID(ctx) = %q, %v; want %q, true", id, ok, f.ID)
			}
			seen = append(seen, id)
			remediate.ShareClients(ctx, &shared)
			return aws.Config{Region: region}, nil
		})
	})
	for i, body := range []string{"f1", "f2", "f3"} {
		if i == 2 {
			region = "eu-west-1"
		}
		rec, err := eng.Process(context.Background(), remediate.Message{ID: body, Body: []byte(body)})
		if err != nil || rec.Outcome != string(remediate.OutcomeApplied) {
			t.Fatalf("%s: %v, %v", body, rec, err)
		}
	}
	if got := rem.builds.Load(); got != 2 {
		t.Errorf("%d clients built for 3 findings in 2 regions of one shared session, want 2", got)
	}
	if len(seen) != 3 {
		t.Errorf("Config saw findings %q, want 3", seen)
	}
	if id, ok := remediate.FindingID(context.Background()); id != "" || ok {
		t.Errorf("FindingID(context.Background()) = %q, %v; want \"\", false", id, ok)
	}
}
