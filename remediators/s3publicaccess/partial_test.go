package s3publicaccess_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp"
	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediate/remediatetest/mototest"
	"github.com/remedy-sec/remedy/remediators/s3publicaccess"
)

// TestPartialConfiguration checks, against moto, that Plan names exactly
// the flags that are off, and Rollback restores a partial configuration
// rather than deleting it.
func TestPartialConfiguration(t *testing.T) {
	srv := mototest.Require(t, moto)
	cfg := srv.Config(region)
	var n names
	tests := []struct {
		name        string
		initial     *types.PublicAccessBlockConfiguration // nil: none
		wantChanges []string
	}{
		{"none", nil, []string{
			"set BlockPublicAcls of bucket %s from false to true",
			"set IgnorePublicAcls of bucket %s from false to true",
			"set BlockPublicPolicy of bucket %s from false to true",
			"set RestrictPublicBuckets of bucket %s from false to true",
		}},
		{"ACL flags only", &types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true), BlockPublicPolicy: aws.Bool(false), RestrictPublicBuckets: aws.Bool(false)}, []string{
			"set BlockPublicPolicy of bucket %s from false to true",
			"set RestrictPublicBuckets of bucket %s from false to true",
		}},
		{"all but one", &types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true), BlockPublicPolicy: aws.Bool(true), RestrictPublicBuckets: aws.Bool(false)}, []string{
			"set RestrictPublicBuckets of bucket %s from false to true",
		}},
		{"all on", &types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true), BlockPublicPolicy: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := n.next("partial")
			createBucket(t, cfg, b)
			c := client(cfg)
			if tt.initial != nil {
				if _, err := c.PutPublicAccessBlock(t.Context(), &s3.PutPublicAccessBlockInput{Bucket: aws.String(b), PublicAccessBlockConfiguration: tt.initial}); err != nil {
					t.Fatalf("PutPublicAccessBlock: %v", err)
				}
			}
			r := s3publicaccess.New(func(o *s3publicaccess.Options) { o.UsePathStyle = true })
			tg := remediate.Target{Finding: finding(b), AWS: cfg}
			p, err := r.Plan(t.Context(), tg)
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			var want []string
			for _, w := range tt.wantChanges {
				want = append(want, fmt.Sprintf(w, b))
			}
			if diff := cmp.Diff(want, p.Changes); diff != "" {
				t.Errorf("Plan.Changes (-want +got):\n%s", diff)
			}
			if p.Compliant != (len(want) == 0) {
				t.Errorf("Plan.Compliant = %v with %d changes", p.Compliant, len(want))
			}
			res, err := r.Apply(t.Context(), tg, p)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if !blocksPublicAccess(t, cfg, b) {
				t.Fatal("bucket does not block public access after Apply")
			}
			if len(res.Rollback) == 0 {
				return
			}
			var prior s3publicaccess.State
			if err := json.Unmarshal(res.Rollback, &prior); err != nil {
				t.Fatalf("Result.Rollback: %v", err)
			}
			if prior.Configured != (tt.initial != nil) {
				t.Errorf("Result.Rollback.Configured = %v, want %v", prior.Configured, tt.initial != nil)
			}
			if err := r.Rollback(t.Context(), tg, res.Rollback); err != nil {
				t.Fatalf("Rollback: %v", err)
			}
			out, err := c.GetPublicAccessBlock(t.Context(), &s3.GetPublicAccessBlockInput{Bucket: aws.String(b)})
			if tt.initial == nil {
				if err == nil {
					t.Errorf("after Rollback the bucket has a configuration %+v, want none", out.PublicAccessBlockConfiguration)
				}
				return
			}
			if err != nil {
				t.Fatalf("GetPublicAccessBlock: %v", err)
			}
			if diff := cmp.Diff(tt.initial, out.PublicAccessBlockConfiguration, cmp.AllowUnexported(types.PublicAccessBlockConfiguration{})); diff != "" {
				t.Errorf("configuration after Rollback (-want +got):\n%s", diff)
			}
		})
	}
}
