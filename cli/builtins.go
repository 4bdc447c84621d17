package cli

import (
	"fmt"
	"slices"

	"github.com/remedy-sec/remedy/deploy"
	"github.com/remedy-sec/remedy/remediate"
)

// builtinOptions configure the built-in remediators for the CLI.
type builtinOptions struct {
	// PathStyleS3 addresses buckets by path, as emulators such as moto
	// need. Set whenever --endpoint is given.
	PathStyleS3 bool
	// Extra returns the remediators added to the built-ins
	// (Options.Remediators); nil adds none.
	Extra func(deploy.Config) []remediate.Remediator
	// Only keeps the named actions; empty keeps all.
	Only []string
}

// builtins returns the registry the commands use: Remedy's built-in
// remediators (those of the reference deployment, deploy.Builtins) and
// o.Extra, narrowed to o.Only.
func builtins(o builtinOptions) (*remediate.Registry, error) {
	cfg := deploy.Config{PathStyleS3: o.PathStyleS3}
	rems := deploy.Builtins(cfg)
	if o.Extra != nil {
		rems = append(rems, o.Extra(cfg)...)
	}
	all, err := remediate.NewRegistry(rems...)
	if err != nil {
		return nil, fmt.Errorf("remediators: %w", err)
	}
	if len(o.Only) == 0 {
		return all, nil
	}
	for _, a := range o.Only {
		if _, err := all.Lookup(a); err != nil {
			return nil, usageErr("unknown remediator %q (registered: %v)", a, all.Actions())
		}
	}
	var keep []remediate.Remediator
	for _, a := range all.Actions() {
		if slices.Contains(o.Only, a) {
			r, _ := all.Lookup(a)
			keep = append(keep, r)
		}
	}
	reg, err := remediate.NewRegistry(keep...)
	if err != nil {
		return nil, fmt.Errorf("remediators: %w", err)
	}
	return reg, nil
}
