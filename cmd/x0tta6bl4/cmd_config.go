package main

import (
	"context"
	"errors"

	"github.com/x0tta6bl4/x0tta6bl4/node"
)

func runConfigShow(ctx context.Context, e *env, args []string) error {
	fs := e.newFlags("config show")
	repoPath := repoFlag(fs)
	profile := fs.String("profile", "", "print this profile's defaults instead of a repo's config")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *profile != "" {
		cfg, err := node.ProfileConfig(*profile)
		if err != nil {
			return usageError{err.Error()}
		}
		return node.WriteConfig(e.stdout, cfg)
	}
	path, err := repoPath()
	if err != nil {
		return err
	}
	r, err := node.OpenRepo(path)
	if errors.Is(err, node.ErrNoRepo) {
		return errors.Join(err, errors.New("use --profile to see a profile's defaults"))
	}
	if err != nil {
		return err
	}
	cfg, err := r.Config()
	if err != nil {
		return err
	}
	return node.WriteConfig(e.stdout, cfg)
}
