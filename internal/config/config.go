// Package config holds Steward's typed configuration. Values come, lowest priority first, from
// defaults, a YAML config file, STEWARD_* environment variables (and STEWARD_*_FILE for
// secrets), then command-line flags; the command line does the layering, this package owns
// the shape, the validation and the redacted dump. There is no package state: a Config is
// passed to whoever needs it.
package config

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/duplicate"
	"github.com/stewardhq/steward/internal/rights"
)

// Secret is a string that never prints: logs, dumps and errors see "[redacted]".
type Secret string

func (s Secret) String() string { return redact(string(s)) }

// MarshalJSON keeps secrets out of every JSON dump.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(redact(string(s))) }

// Reveal returns the secret for the one place that needs it.
func (s Secret) Reveal() string { return string(s) }

// Redacted is what a secret that is set prints as.
const Redacted = "[redacted]"

func redact(s string) string {
	if s == "" {
		return ""
	}
	return Redacted
}

// Config is every setting.
type Config struct {
	Data          string `json:"data"`           // data directory: SQLite database and root key
	Addr          string `json:"addr"`           // listen address
	DB            Secret `json:"db"`             // postgres:// URL; empty means SQLite in Data
	Catalog       string `json:"catalog"`        // override catalog file; empty means built-in
	DefaultRegion string `json:"default-region"` // phone region for national numbers
	EmailMXCheck  bool   `json:"email-mx-check"` // POST /v1/validate looks up mail servers (DNS)
	SQLiteSync    string `json:"sqlite-sync"`    // NORMAL or FULL
	Root          string `json:"root"`           // "local" or "vault-transit"
	VaultAddr     string `json:"vault-addr"`
	VaultToken    Secret `json:"vault-token"`
	VaultKey      string `json:"vault-key"`
	VaultMount    string `json:"vault-mount"`
	IndexBits     int    `json:"index-bits"` // blind-index width at init; 0 plans it
	MaxBody       int64  `json:"max-body"`   // request body limit in bytes
	TLSCert       string `json:"tls-cert"`
	TLSKey        string `json:"tls-key"`
	// Automatic TLS: certificates from an ACME CA such as Let's Encrypt (see acme.go).
	ACMEDomains   []string `json:"acme-domain"`    // names to obtain certificates for; empty turns ACME off
	ACMEDirectory string   `json:"acme-directory"` // directory URL of the ACME server
	ACMEEmail     string   `json:"acme-email"`     // contact the CA writes to about expiry and problems
	ACMEHTTPAddr  string   `json:"acme-http-addr"` // plain-HTTP listener for HTTP-01 challenges and redirects; "" off
	ACMECARoot    string   `json:"acme-ca-root"`   // PEM file of the CA to trust for a private ACME server
	LogLevel      string   `json:"log-level"`
	// Collection (tracking API, imports).
	DedupWindow      time.Duration `json:"dedup-window"`       // messageId memory per write key
	PIIMode          string        `json:"pii-in-properties"`  // drop or encrypt
	IPMode           string        `json:"ip-mode"`            // sealed, prefix or drop
	EventSchema      string        `json:"event-schema"`       // override event schema file
	Forms            string        `json:"forms"`              // hosted forms file; empty means the built-in ones
	TrackingSlots    int           `json:"tracking-slots"`     // concurrent tracking requests
	TrustedProxies   string        `json:"trusted-proxies"`    // CIDRs of proxies whose X-Forwarded-For names the client
	CartAbandonAfter time.Duration `json:"cart-abandon-after"` // checkout without order → abandoned
	JobLease         time.Duration `json:"job-lease"`          // how long a node holds a job without a checkpoint
	DecisionCache    int           `json:"decision-cache"`     // customers whose decision inputs are cached; 0 off
	ImportMaxBytes   int64         `json:"import-max-bytes"`   // largest CSV accepted by POST /v1/imports
	SourcesFile      string        `json:"sources-file"`       // YAML list of connected platforms, created at serve if missing
	MetaGraphURL     string        `json:"meta-graph-url"`     // Meta's Graph API, where lead answers are read
	Loyalty          string        `json:"loyalty"`            // loyalty programme file; empty means the built-in one

	// Data-subject requests, retention and backups.
	RequestDeadlines string `json:"request-deadlines"` // e.g. gdpr=1m,ccpa=45d
	Jurisdiction     string `json:"jurisdiction"`      // default jurisdiction of new requests
	Mail             Secret `json:"mail"`              // "", file:DIR or smtp://user:pass@host:port
	MailFrom         string `json:"mail-from"`         // sender of verification links
	PublicURL        string `json:"public-url"`        // base URL of links sent to customers
	PrivacyOrigins   string `json:"privacy-origins"`   // origins whose scripts may call the privacy portal (CORS), comma-separated
	OIDCIssuer       string `json:"oidc-issuer"`       // staff sign-in through this OpenID Connect provider
	OIDCClientID     string `json:"oidc-client-id"`
	OIDCClientSecret Secret `json:"oidc-client-secret"`
	OIDCRoles        string `json:"oidc-roles"` // group=role,… in order: the first group a person has decides
	OIDCClaim        string `json:"oidc-claim"` // the ID-token claim listing the person's groups
	CASURL           string `json:"cas-url"`    // staff sign-in through this CAS 3.0 server
	CASRoles         string `json:"cas-roles"`  // group=role,… as oidc-roles
	CASGroups        string `json:"cas-groups"` // the CAS attribute listing the person's groups
	Identity
	ExportTTL       time.Duration `json:"export-ttl"`        // how long an export can be downloaded
	RequestFourEyes bool          `json:"request-four-eyes"` // who opens a staff request may not verify it
	InactiveAfter   string        `json:"inactive-after"`    // retention word; inactive customers are erased ("" never)
	RetentionEvery  time.Duration `json:"retention-every"`   // purge job interval while serving; 0 off
	BackupDir       string        `json:"backup-dir"`        // scheduled backups go here; "" off
	BackupEvery     time.Duration `json:"backup-every"`      // scheduled backup interval
	BackupKeep      int           `json:"backup-keep"`       // scheduled backups kept (older ones deleted)
	PGBin           string        `json:"pg-bin"`            // directory of pg_dump and pg_restore

	// Data quality: duplicate detection and contact status.
	DuplicateReviewThreshold float64       `json:"duplicate-review-threshold"` // match probability from which a pair is queued
	DuplicateMergeThreshold  float64       `json:"duplicate-merge-threshold"`  // from which a scan merges it (1: never)
	DuplicateScanEvery       time.Duration `json:"duplicate-scan-every"`       // scheduled scans while serving; 0 off
	Survivorship             string        `json:"survivorship"`               // field=rule,… over the defaults
	SourcePriority           string        `json:"source-priority"`            // roles that create customers, best first
	ContactInactiveAfter     time.Duration `json:"contact-inactive-after"`     // no engagement this long → inactive
}

// Default is the configuration with nothing set.
func Default() Config {
	return Config{
		Data:             "./steward-data",
		Addr:             "127.0.0.1:8080",
		DefaultRegion:    "GB",
		SQLiteSync:       "NORMAL",
		Root:             "local",
		VaultMount:       "transit",
		MaxBody:          1 << 20,
		LogLevel:         "info",
		ACMEDirectory:    LetsEncrypt,
		DedupWindow:      24 * time.Hour,
		PIIMode:          "drop",
		IPMode:           "sealed",
		TrackingSlots:    16,
		CartAbandonAfter: time.Hour,
		JobLease:         time.Minute,
		DecisionCache:    100_000,
		ImportMaxBytes:   1 << 30,

		RequestDeadlines: "gdpr=1m,uk_gdpr=1m,ccpa=45d",
		Jurisdiction:     "gdpr",
		MailFrom:         "privacy@localhost",
		PublicURL:        "http://127.0.0.1:8080",
		ExportTTL:        7 * 24 * time.Hour,
		RequestFourEyes:  true,
		BackupEvery:      24 * time.Hour,
		BackupKeep:       7,

		OIDCClaim:                "groups",
		CASGroups:                "memberOf",
		Identity:                 Identity{SAMLGroups: "groups", SAMLEmail: "mail", LDAPGroupAttribute: "cn"},
		DuplicateReviewThreshold: 0.5,
		DuplicateMergeThreshold:  0.99,
		DuplicateScanEvery:       24 * time.Hour,
		SourcePriority:           "support,dpo,owner,admin,marketer,ingest",
		ContactInactiveAfter:     180 * 24 * time.Hour,
	}
}

// RootKeyPath is where the local root key lives.
func (c Config) RootKeyPath() string { return filepath.Join(c.Data, "root.key") }

// ImportSpoolDir is where uploaded imports wait, sealed, for their job.
func (c Config) ImportSpoolDir() string { return filepath.Join(c.Data, "imports", "uploads") }

// SQLitePath is the embedded database file.
func (c Config) SQLitePath() string { return filepath.Join(c.Data, "steward.db") }

// LedgerPath is the erasure ledger file: outside the database, so restores replay it.
func (c Config) LedgerPath() string { return filepath.Join(c.Data, "erasure-ledger.jsonl") }

// Validate names the first setting that cannot work.
func (c Config) Validate() error {
	if c.Data == "" {
		return fmt.Errorf("data: a data directory is required")
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("addr: must be host:port")
	}
	if c.DB != "" && !strings.HasPrefix(string(c.DB), "postgres://") && !strings.HasPrefix(string(c.DB), "postgresql://") {
		return fmt.Errorf("db: must be a postgres:// URL (leave empty for the embedded SQLite database)")
	}
	switch strings.ToUpper(c.SQLiteSync) {
	case "NORMAL", "FULL":
	default:
		return fmt.Errorf("sqlite-sync: must be NORMAL or FULL")
	}
	switch c.Root {
	case "local":
	case "vault-transit":
		if c.VaultAddr == "" || c.VaultToken == "" || c.VaultKey == "" {
			return fmt.Errorf("root: vault-transit needs vault-addr, vault-token and vault-key")
		}
	default:
		return fmt.Errorf("root: must be local or vault-transit")
	}
	if c.IndexBits != 0 && (c.IndexBits < 8 || c.IndexBits > 32) {
		return fmt.Errorf("index-bits: must be 0 (planned) or 8 to 32")
	}
	if c.ImportMaxBytes < 1024 {
		return fmt.Errorf("import-max-bytes: must be at least 1024 bytes")
	}
	if c.MaxBody < 1024 {
		return fmt.Errorf("max-body: must be at least 1024 bytes")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("tls-cert and tls-key: give both or neither")
	}
	if err := c.validateACME(); err != nil {
		return err
	}
	if len(c.DefaultRegion) != 2 {
		return fmt.Errorf("default-region: must be a two-letter region code")
	}
	if c.DedupWindow < time.Minute || c.DedupWindow > 30*24*time.Hour {
		return fmt.Errorf("dedup-window: must be between 1m and 720h")
	}
	switch c.PIIMode {
	case "drop", "encrypt":
	default:
		return fmt.Errorf("pii-in-properties: must be drop or encrypt")
	}
	switch c.IPMode {
	case "sealed", "prefix", "drop":
	default:
		return fmt.Errorf("ip-mode: must be sealed, prefix or drop")
	}
	if c.TrackingSlots < 1 || c.TrackingSlots > 1024 {
		return fmt.Errorf("tracking-slots: must be 1 to 1024")
	}
	if _, err := parsePrefixes(c.TrustedProxies); err != nil {
		return fmt.Errorf("trusted-proxies: %w", err)
	}
	if c.DecisionCache < 0 || c.DecisionCache > 10_000_000 {
		return fmt.Errorf("decision-cache: must be 0 to 10000000")
	}
	if c.CartAbandonAfter < time.Minute {
		return fmt.Errorf("cart-abandon-after: must be at least 1m")
	}
	if c.JobLease < time.Second {
		return fmt.Errorf("job-lease: must be at least 1s")
	}
	if c.BackupKeep < 1 {
		return fmt.Errorf("backup-keep: must be at least 1")
	}
	if c.ExportTTL < time.Minute {
		return fmt.Errorf("export-ttl: must be at least 1m")
	}
	if err := c.checkOIDC(); err != nil {
		return err
	}
	if err := c.checkCAS(); err != nil {
		return err
	}
	if err := c.checkIdentity(); err != nil {
		return err
	}
	if _, err := ParseOrigins(c.PrivacyOrigins); err != nil {
		return fmt.Errorf("privacy-origins: %w", err)
	}
	if m := string(c.Mail); m != "" && !strings.HasPrefix(m, "file:") && !strings.HasPrefix(m, "smtp://") {
		return fmt.Errorf("mail: must be file:DIR or smtp://user:password@host:port")
	}
	if !(c.DuplicateReviewThreshold > 0 && c.DuplicateReviewThreshold < 1) {
		return fmt.Errorf("duplicate-review-threshold: must be between 0 and 1 (exclusive)")
	}
	if !(c.DuplicateMergeThreshold > c.DuplicateReviewThreshold && c.DuplicateMergeThreshold <= 1) {
		return fmt.Errorf("duplicate-merge-threshold: must be above the review threshold and at most 1 (1 turns automatic merges off)")
	}
	if c.DuplicateScanEvery < 0 {
		return fmt.Errorf("duplicate-scan-every: must not be negative")
	}
	if c.ContactInactiveAfter < 24*time.Hour {
		return fmt.Errorf("contact-inactive-after: must be at least 24h")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log-level: must be debug, info, warn or error")
	}
	deadlines, err := rights.ParseDeadlines(c.RequestDeadlines)
	if err != nil {
		return fmt.Errorf("request-deadlines: %w", err)
	}
	if _, ok := deadlines[strings.ToLower(c.Jurisdiction)]; !ok {
		return fmt.Errorf("jurisdiction: %q has no deadline in request-deadlines", c.Jurisdiction)
	}
	if c.InactiveAfter != "" {
		if _, err := catalog.ParseRetention(c.InactiveAfter); err != nil {
			return fmt.Errorf("inactive-after: %w", err)
		}
	}
	if _, err := duplicate.ParseRules(c.Survivorship); err != nil {
		return fmt.Errorf("survivorship: %w", err)
	}
	return nil
}

// The typed forms of the settings written as text. Validate has parsed each of them, so they
// cannot fail on a validated Config; the catalog-dependent checks (that a survivorship field or
// a source role exists) are the composition root's, which holds the catalog in force.

// Deadlines is request-deadlines, per jurisdiction.
func (c Config) Deadlines() map[string]rights.Deadline {
	d, _ := rights.ParseDeadlines(c.RequestDeadlines)
	return d
}

// DefaultJurisdiction is jurisdiction, as request deadlines name it.
func (c Config) DefaultJurisdiction() string { return strings.ToLower(c.Jurisdiction) }

// Inactivity is inactive-after; its zero value never erases.
func (c Config) Inactivity() catalog.Retention {
	r, _ := catalog.ParseRetention(c.InactiveAfter)
	return r
}

// SurvivorshipRules is survivorship, over the defaults.
func (c Config) SurvivorshipRules() map[string]duplicate.Rule {
	r, _ := duplicate.ParseRules(c.Survivorship)
	return r
}

// Proxies is trusted-proxies: the networks of the load balancers and proxies in front of
// Steward, whose X-Forwarded-For header is believed.
func (c Config) Proxies() []netip.Prefix {
	p, _ := parsePrefixes(c.TrustedProxies)
	return p
}

// parsePrefixes reads a comma-separated list of CIDR prefixes or single addresses.
func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			a, err := netip.ParseAddr(part)
			if err != nil {
				return nil, fmt.Errorf("%q is not an address or a CIDR prefix", part)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or a CIDR prefix", part)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// SourceRoles is source-priority, best first.
func (c Config) SourceRoles() []string {
	var out []string
	for _, r := range strings.Split(c.SourcePriority, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

// Dump renders c as indented JSON with secrets redacted, one setting per line in the order
// of Config. Keys are the flag names and durations are written as the flags take them
// ("24h", "1h30m"), not as JSON's nanoseconds, so the output (JSON is YAML) reads back as a
// config file once the secrets are filled in.
func (c Config) Dump() string {
	v := reflect.ValueOf(c)
	t := v.Type()
	var b strings.Builder
	b.WriteString("{")
	n := 0
	for i := range t.NumField() {
		key, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if key == "" || key == "-" {
			continue
		}
		val := v.Field(i).Interface()
		if d, ok := val.(time.Duration); ok {
			val = formatDuration(d)
		}
		if l, ok := val.([]string); ok && l == nil {
			val = []string{} // a list setting not set reads back as one
		}
		k, _ := json.Marshal(key)
		j, _ := json.Marshal(val) // a Secret marshals redacted
		if n > 0 {
			b.WriteString(",")
		}
		n++
		b.WriteString("\n  ")
		b.Write(k)
		b.WriteString(": ")
		b.Write(j)
	}
	b.WriteString("\n}")
	return b.String()
}

// formatDuration writes d as a duration flag takes it, without the zero minutes and seconds
// time.Duration.String adds: "24h" rather than "24h0m0s", "1h30m", "90s" as "1m30s".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// RoleMap is an ordered group → role list: the first group a person has decides their role.
type RoleMap [][2]string

// OIDCRoleMap parses --oidc-roles.
func (c Config) OIDCRoleMap() (RoleMap, error) { return parseRoleMap("oidc-roles", c.OIDCRoles) }

// CASRoleMap parses --cas-roles.
func (c Config) CASRoleMap() (RoleMap, error) { return parseRoleMap("cas-roles", c.CASRoles) }

func parseRoleMap(name, v string) (RoleMap, error) {
	var m RoleMap
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		g, r, ok := strings.Cut(part, "=")
		if !ok || strings.TrimSpace(g) == "" || strings.TrimSpace(r) == "" {
			return nil, fmt.Errorf("%s: %q is not group=role", name, part)
		}
		m = append(m, [2]string{strings.TrimSpace(g), strings.TrimSpace(r)})
	}
	return m, nil
}

// checkOIDC checks the OpenID Connect settings: an https issuer (plain http only on the
// loopback interface, for a provider on the same machine), a client id, and a role map.
func (c Config) checkOIDC() error {
	if c.OIDCIssuer == "" {
		if c.OIDCClientID != "" || c.OIDCRoles != "" {
			return fmt.Errorf("oidc-client-id, oidc-roles: set oidc-issuer too")
		}
		return nil
	}
	u, err := url.Parse(c.OIDCIssuer)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
		return fmt.Errorf("oidc-issuer: must be an https:// URL (http:// only on the loopback interface)")
	}
	if c.OIDCClientID == "" {
		return fmt.Errorf("oidc-client-id: required with oidc-issuer")
	}
	m, err := c.OIDCRoleMap()
	if err != nil {
		return err
	}
	if len(m) == 0 {
		return fmt.Errorf("oidc-roles: map at least one group to a role (group=role,…); a person whose groups map to no role is refused")
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkCAS checks the CAS settings as checkOIDC checks OIDC's.
func (c Config) checkCAS() error {
	if c.CASURL == "" {
		if c.CASRoles != "" {
			return fmt.Errorf("cas-roles: set cas-url too")
		}
		return nil
	}
	u, err := url.Parse(c.CASURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
		return fmt.Errorf("cas-url: must be an https:// URL (http:// only on the loopback interface)")
	}
	m, err := c.CASRoleMap()
	if err != nil {
		return err
	}
	if len(m) == 0 {
		return fmt.Errorf("cas-roles: map at least one group to a role (group=role,…); a person whose groups map to no role is refused")
	}
	return nil
}
