package main

import (
	"fmt"
	"slices"

	"github.com/remedy-sec/remedy/remediate"
	"github.com/remedy-sec/remedy/remediators/ebssnapshot"
	"github.com/remedy-sec/remedy/remediators/kmsrotation"
	"github.com/remedy-sec/remedy/remediators/s3encryption"
	"github.com/remedy-sec/remedy/remediators/s3publicaccess"
	"github.com/remedy-sec/remedy/remediators/sgingress"
)

// builtinOptions configure the built-in remediators for the CLI.
type builtinOptions struct {
	// PathStyleS3 addresses buckets by path, as emulators such as moto
	// need. Set whenever --endpoint is given.
	PathStyleS3 bool
	// Only keeps the named actions; empty keeps all.
	Only []string
}

// builtins returns a registry of Remedy's built-in remediators.
func builtins(o builtinOptions) (*remediate.Registry, error) {
	all := []remediate.Remediator{
		s3publicaccess.New(func(x *s3publicaccess.Options) { x.UsePathStyle = o.PathStyleS3 }),
		s3encryption.New(func(x *s3encryption.Options) { x.UsePathStyle = o.PathStyleS3 }),
		sgingress.New(),
		kmsrotation.New(),
		ebssnapshot.New(),
	}
	var keep []remediate.Remediator
	for _, r := range all {
		if len(o.Only) == 0 || slices.Contains(o.Only, r.Spec().Action) {
			keep = append(keep, r)
		}
	}
	for _, a := range o.Only {
		if !slices.ContainsFunc(keep, func(r remediate.Remediator) bool { return r.Spec().Action == a }) {
			var names []string
			for _, r := range all {
				names = append(names, r.Spec().Action)
			}
			return nil, usageErr("unknown remediator %q (built-ins: %v)", a, names)
		}
	}
	reg, err := remediate.NewRegistry(keep...)
	if err != nil {
		return nil, fmt.Errorf("built-in remediators: %w", err)
	}
	return reg, nil
}
