// Package remediatetest checks that a remediate.Remediator keeps the
// contract the engine relies on, against a real AWS account or an
// emulator such as moto. It is to remediators what testing/fstest is to
// file systems and testing/slogtest to slog handlers: write a Harness for
// your remediator and call Run from a test.
//
//	func TestConformance(t *testing.T) {
//		remediatetest.Run(t, remediatetest.Harness{
//			Remediator: myfix.New(),
//			AWS:        cfg, // acts in the account and region of the resources
//			NewNonCompliant: func(t *testing.T, cfg aws.Config) *remediate.Finding {
//				// create a fresh resource that violates the control
//			},
//			Compliant: func(t *testing.T, cfg aws.Config, f *remediate.Finding) bool {
//				// read the resource's state without the remediator
//			},
//			NewMissing: func(t *testing.T, cfg aws.Config) *remediate.Finding {
//				// a finding for a resource that does not exist
//			},
//		})
//	}
//
// Run checks, each in its own sub-test, the rules the remediate.Remediator
// documentation states:
//
//   - the Spec is complete: an action, a description, resource types
//     with their ARN patterns and IAM actions; the remediator registers
//     in a remediate.Registry, and a session policy can be built from
//     the Spec (package crossaccount), so every action AWS scopes to a
//     resource acts on resources Spec.Resources declares;
//   - Plan makes no write: every API call it makes is a read
//     (Get*, Describe*, List*, Head*) and the resource stays non-compliant;
//   - Apply makes the resource compliant, and returns evidence that is
//     valid JSON and holds no credentials;
//   - Apply is idempotent: applying the same plan twice succeeds, a new
//     Plan says Compliant, and applying a compliant plan writes nothing;
//   - Verify (if the remediator is a remediate.Verifier) fails on a
//     non-compliant resource and passes on a fixed one;
//   - Rollback (if it is a remediate.Rollbacker) restores the prior,
//     non-compliant state, and rolling back twice is harmless; a
//     Plan.Rollback, when set, restores it too;
//   - the declared IAM actions cover every API call actually made;
//   - errors are classified as the engine classifies them (ClassifyAWS
//     plus Spec.PermanentErrorCodes): Plan for a missing resource, or
//     for a finding that names no resource, returns a permanent error.
//
// API calls are recorded at the HTTP layer: Run wraps the HTTPClient of
// the configuration it passes to the remediator in a Recorder, so a
// remediator must build its SDK clients from Target.AWS (as it must in
// production, where that configuration carries the finding's scoped
// credentials). Record and Recorder are exported for tests of their own.
package remediatetest
