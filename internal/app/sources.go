package app

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/source"
)

// sourcesFile is the configuration file's list of connected platforms. Secrets are never in
// it, only the files holding them, so the file itself can be kept with the rest of the
// configuration.
type sourcesFile struct {
	Sources []struct {
		Kind            string `yaml:"kind"`
		Name            string `yaml:"name"`
		Role            string `yaml:"role"`
		SecretFile      string `yaml:"secret_file"`
		VerifyTokenFile string `yaml:"verify_token_file"`
		PageTokenFile   string `yaml:"page_token_file"`
	} `yaml:"sources"`
}

// EnsureSources creates the sources the configured sources file lists that do not exist yet
// (by kind and name), and logs each one's id and endpoint, never a secret. Every source in the
// file needs its secret_file, since nothing made here could be shown.
func (a *App) EnsureSources(ctx context.Context) error {
	if a.Config.SourcesFile == "" {
		return nil
	}
	b, err := os.ReadFile(a.Config.SourcesFile)
	if err != nil {
		return fmt.Errorf("sources file: %w", err)
	}
	var f sourcesFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("sources file %s: %w", a.Config.SourcesFile, err)
	}
	ctx = authz.WithActor(ctx, authz.System)
	for i, e := range f.Sources {
		at := fmt.Sprintf("sources file %s: source %d (%s)", a.Config.SourcesFile, i+1, e.Name)
		if e.SecretFile == "" {
			return fmt.Errorf("%s: secret_file is required", at)
		}
		in := source.Input{Kind: e.Kind, Name: e.Name, Role: e.Role}
		if in.Secret, err = readSecret(e.SecretFile); err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		if e.VerifyTokenFile != "" {
			if in.VerifyToken, err = readSecret(e.VerifyTokenFile); err != nil {
				return fmt.Errorf("%s: %w", at, err)
			}
		} else if strings.EqualFold(e.Kind, source.MetaLeads) {
			return fmt.Errorf("%s: verify_token_file is required for meta_leads", at)
		}
		if e.PageTokenFile != "" {
			if in.PageToken, err = readSecret(e.PageTokenFile); err != nil {
				return fmt.Errorf("%s: %w", at, err)
			}
		}
		src, created, err := a.Sources.Ensure(ctx, in)
		if err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		a.Log.Info("source ready", "id", src.ID, "kind", src.Kind, "name", src.Name, "endpoint", strings.TrimRight(a.Config.PublicURL, "/")+src.Endpoint, "created", created)
	}
	return nil
}

func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
