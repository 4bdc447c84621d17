package snsverify_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/remedy-sec/remedy/adapters/snsverify/snsverifytest"
	"github.com/remedy-sec/remedy/audit"
	"github.com/remedy-sec/remedy/eligibility"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediators/s3publicaccess"
	"github.com/remedy-sec/remedy/wizpayload"
)

// TestEngineWithVerifier: the real parser and policy behind the verifier.
// A signed envelope of a Wiz payload is parsed and decided; the same
// envelope with its payload changed is rejected for authenticity before
// anything reads the payload, and audited.
func TestEngineWithVerifier(t *testing.T) {
	payload, err := os.ReadFile("../../wizpayload/testdata/default.json")
	if err != nil {
		t.Fatal(err)
	}
	s := snsverifytest.New(t, time.Now().Add(time.Hour))
	reg, err := remediate.NewRegistry(s3publicaccess.New())
	if err != nil {
		t.Fatal(err)
	}
	var recs []*audit.Record
	eng, err := remediate.NewEngine(remediate.Options{
		Authenticator: s.Verifier(t, topic),
		Parser:        wizpayload.New(),
		Policy:        eligibility.Default(),
		Registry:      reg,
		Audit:         audit.SinkFunc(func(_ context.Context, r *audit.Record) error { recs = append(recs, r); return nil }),
		Mode:          remediate.ModeDecideOnly,
	})
	if err != nil {
		t.Fatal(err)
	}
	signed := s.Notification(topic, string(payload))
	rec, err := eng.Process(context.Background(), remediate.Message{ID: "m1", Body: signed.JSON(t)})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome == string(remediate.OutcomeRejected) || rec.Finding.ID == "" {
		t.Errorf("signed envelope: outcome %s, finding %q, reasons %+v; want it parsed and decided", rec.Outcome, rec.Finding.ID, rec.Reasons)
	}

	forged := s.Notification(topic, string(payload))
	forged["Message"] = string(payload[:len(payload)-1]) + ` ` + "}"
	rec, err = eng.Process(context.Background(), remediate.Message{ID: "m2", Body: forged.JSON(t)})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome != string(remediate.OutcomeRejected) || len(rec.Reasons) == 0 || rec.Reasons[0].Check != remediate.CheckAuthenticity {
		t.Errorf("changed payload: outcome %s, reasons %+v; want rejected for authenticity", rec.Outcome, rec.Reasons)
	}
	if len(recs) != 2 {
		t.Errorf("%d audit records, want 2", len(recs))
	}
}
