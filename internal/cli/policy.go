package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stewardhq/steward/internal/app"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/problem"
)

// policyOptions are the flags of steward policy publish.
type policyOptions struct {
	version, file, language, effectiveAt string
	controller, contact                  string
	purposes, materialChange             []string
}

// policyPublisher publishes privacy-policy versions; the consent service is the one, so the
// command line publishes exactly as POST /v1/policies does, audit entry included.
type policyPublisher interface {
	PublishPolicy(ctx context.Context, in consent.PolicyInput) (consent.Policy, error)
}

func policyCmd(s *settings, e env) *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Privacy-policy versions"}
	o := &policyOptions{}
	publish := &cobra.Command{
		Use:   "publish --version V --file TEXT.md --purposes a,b",
		Short: "Publish a privacy-policy version (it never changes afterwards); prints the version",
		Long: "Publishes the text in --file as a new privacy-policy version covering --purposes, as " +
			"POST /v1/policies does. Consent can then be recorded and imported under it " +
			"(steward import --consent … --policy-version V).",
		Args: cobra.NoArgs,
		RunE: s.withApp(e, func(ctx context.Context, a *app.App, args []string) error {
			return publishPolicy(ctx, a.Consents, e.stdout, *o)
		}),
	}
	f := publish.Flags()
	f.StringVar(&o.version, "version", "", "the version's name, as consents will cite it (1 to 64 letters, digits, '.', '_', '-'), e.g. 2025-03")
	f.StringVar(&o.file, "file", "", "file holding the policy text (UTF-8, up to 256 KiB); Steward keeps it and its SHA-256")
	f.StringSliceVar(&o.purposes, "purposes", nil, "comma-separated purposes the policy covers; consent can be given only for these")
	f.StringSliceVar(&o.materialChange, "material-change", nil, "comma-separated consent purposes whose earlier consents stop counting once this version is in force")
	f.StringVar(&o.language, "language", "", "BCP 47 language tag of the text, e.g. en")
	f.StringVar(&o.effectiveAt, "effective-at", "", "when the version takes effect (RFC 3339, not in the past); default now")
	f.StringVar(&o.controller, "controller", "", "the data controller's name as the policy states it; receipts repeat it")
	f.StringVar(&o.contact, "controller-contact", "", "the data controller's contact as the policy states it")
	cmd.AddCommand(publish)
	return cmd
}

// policyFlags names the flag behind each field of a policy, so that a refusal by the consent
// service names what the operator typed.
var policyFlags = map[string]string{
	"version":            "--version",
	"text":               "--file",
	"content_hash":       "--file",
	"purposes":           "--purposes",
	"material_change":    "--material-change",
	"language":           "--language",
	"effective_at":       "--effective-at",
	"controller.name":    "--controller",
	"controller.contact": "--controller-contact",
}

// publishPolicy reads the policy text, publishes it and prints what was published.
func publishPolicy(ctx context.Context, p policyPublisher, out io.Writer, o policyOptions) error {
	if o.version == "" {
		return fmt.Errorf("--version is required: the name consents will cite, such as 2025-03")
	}
	if o.file == "" {
		return fmt.Errorf("--file is required: the file that holds the policy text")
	}
	in := consent.PolicyInput{Version: o.version, Language: o.language,
		Controller: consent.Controller{Name: o.controller, Contact: o.contact},
		Purposes:   trimList(o.purposes), MaterialChange: trimList(o.materialChange)}
	if len(in.Purposes) == 0 {
		return fmt.Errorf("--purposes is required: the comma-separated purposes the policy covers, such as service,marketing_email")
	}
	if o.effectiveAt != "" {
		t, err := time.Parse(time.RFC3339, o.effectiveAt)
		if err != nil {
			return fmt.Errorf("--effective-at: must be an RFC 3339 time such as 2026-01-01T00:00:00Z")
		}
		in.EffectiveAt = &t
	}
	info, err := os.Stat(o.file)
	if err != nil {
		return fmt.Errorf("--file: %w", err)
	}
	if info.Size() > consent.MaxPolicyText {
		return fmt.Errorf("--file: %s is %d bytes; a policy text may be at most %d", o.file, info.Size(), consent.MaxPolicyText)
	}
	b, err := os.ReadFile(o.file)
	if err != nil {
		return fmt.Errorf("--file: %w", err)
	}
	if strings.TrimSpace(string(b)) == "" {
		return fmt.Errorf("--file: %s is empty", o.file)
	}
	in.Text = string(b)
	pol, err := p.PublishPolicy(ctx, in)
	if err != nil {
		return flagError(err)
	}
	fmt.Fprintf(out, "published privacy policy %s (%s), in force from %s, covering %s\n",
		pol.Version, pol.ContentHash, pol.EffectiveAt.Format(time.RFC3339), strings.Join(pol.Purposes, ", "))
	return nil
}

// flagError rewrites a refusal that names a policy field so that it names the flag instead;
// the version conflict names --version.
func flagError(err error) error {
	detail := problem.Detail(err)
	field := problem.FieldOf(err)
	if field == "" && problem.Is(err, problem.Conflict) {
		field = "version"
	}
	if flag, ok := policyFlags[field]; ok {
		return fmt.Errorf("%s: %s", flag, strings.TrimPrefix(detail, field+": "))
	}
	return err
}

// trimList drops the spaces around comma-separated names ("a, b") and empty entries.
func trimList(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
