package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/app"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/demo"
)

// TestDocCommands runs every steward command printed in the README and in the shell blocks of
// docs/*.md, as printed, against a fresh data directory per document, and fails naming the
// document and line of a command that fails. A reader copies these commands; each one that a
// fresh installation cannot run is a broken promise. Commands that cannot run on their own
// (servers, other programs, other machines) are listed in notSelfContained with the reason;
// anything else found in a shell block must be a steward command that works.
func TestDocCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every documented command")
	}
	docs, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	docs = append([]string{"../../README.md"}, docs...)
	ran := 0
	for _, path := range docs {
		name := strings.TrimPrefix(path, "../../")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cmds, err := docCommands(string(b))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Run(strings.TrimSuffix(filepath.Base(name), ".md"), func(t *testing.T) {
			d := newDocRun(t)
			for _, c := range cmds {
				if reason := notSelfContained(c); reason != "" {
					t.Logf("%s:%d: not run (%s): %s", name, c.line, reason, c.text)
					continue
				}
				if c.args[0] != "steward" {
					t.Errorf("%s:%d: %s: neither a steward command nor listed in notSelfContained", name, c.line, c.text)
					continue
				}
				if err := d.run(c); err != nil {
					t.Errorf("%s:%d: %s\n%v", name, c.line, c.text, err)
				}
				ran++
			}
		})
	}
	if ran < 30 {
		t.Fatalf("ran %d documented commands; the parser has lost most of them", ran)
	}
}

// docCommand is one command line of a document: its words after the environment assignments
// in front of it (and the block's exports) are taken out.
type docCommand struct {
	line int
	text string
	env  map[string]string
	args []string
}

// notSelfContained says why a documented command cannot run here, or "" when it must.
func notSelfContained(c docCommand) string {
	if len(c.args) == 0 {
		return "sets a shell variable for the examples after it"
	}
	switch c.args[0] {
	case "curl", "jq":
		return "an HTTP request: needs a running server and the ids earlier answers returned"
	case "make":
		return "builds and runs the project (make demo serves until stopped; make test is the test suite itself)"
	case "go":
		return "the Go toolchain: builds the binary or runs benchmarks"
	case "vault":
		return "configures a HashiCorp Vault server"
	case "psql":
		return "a PostgreSQL client: needs the server the example names"
	case "steward":
	default:
		return ""
	}
	sub := ""
	if len(c.args) > 1 {
		sub = c.args[1]
	}
	switch {
	case sub == "serve" || sub == "demo":
		return "serves until stopped"
	case c.env["STEWARD_ROOT"] == "vault-transit":
		return "needs a HashiCorp Vault server"
	case sub != "config" && (strings.Contains(c.text, "postgres://") || c.env["STEWARD_DB"] != ""):
		return "needs the PostgreSQL server the example names"
	}
	return ""
}

// docRun runs one document's commands in order against its own fresh data directory, with
// the files the commands read made up in a working directory.
type docRun struct {
	t       *testing.T
	work    string
	data    string
	started bool   // the data directory is initialised
	keyID   string // of the newest key printed, for KEYID
}

func newDocRun(t *testing.T) *docRun {
	work := t.TempDir()
	d := &docRun{t: t, work: work, data: filepath.Join(work, "data")}
	if err := os.Mkdir(filepath.Join(work, "backups"), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, content := range docFixtures {
		if err := os.WriteFile(filepath.Join(work, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// docFixtures are the files the documented commands read, under the names they use.
var docFixtures = map[string]string{
	"customers.csv": "E-mail,Name,First,Last,First name,Surname,Mobile,Town,Points,Newsletter\n" +
		"ada@example.com,Ada Lovelace,Ada,Lovelace,Ada,Lovelace,+44 7911 123456,London,10,yes\n" +
		"grace@example.com,Grace Hopper,Grace,Hopper,Grace,Hopper,+44 7911 123457,Arlington,20,no\n",
	"people.csv": "customer_id,first,last,dob,email,mobile,house,street,zip\n" +
		"1,William,Smith,1980-02-03,bill@example.com,+44 7911 123456,12,High Street,SW1A 1AA\n" +
		"2,Bill,Smith,1980-02-03,bill@example.com,+44 7911 123456,12,High Street,SW1A 1AA\n" +
		"3,Jane,Doe,1975-07-08,jane@example.org,+44 7911 654321,3,Mill Lane,LS1 4AP\n",
	"dataset2.csv": "rec_id, given_name, surname, street_number, address_1, address_2, suburb, postcode, state, date_of_birth, soc_sec_id\n" +
		"rec-1-org, sarah, bruhn, 44, forbes street, wintersloe, kellerberrin, 4510, vic, 19300213, 7535316\n" +
		"rec-1-dup-0, sarah, brunh, 44, forbes street, wintersloe, kellerberrin, 4510, vic, 19300213, 7535316\n" +
		"rec-2-org, jacob, lanyon, 5, milne cove, wellwod, beaconsfield upper, 2602, vic, 19080712, 9497788\n",
	"privacy-policy.md":  "# Privacy policy\n\nWe keep your orders to serve you and, if you ask us to, email you offers.\n",
	"pw.txt":             "a first password, long enough\n",
	"first-password.txt": "a first password, long enough\n",
}

// fileArg is a relative path to a file a command reads or writes.
var fileArg = regexp.MustCompile(`^[^-/][^=]*\.(csv|md|yaml|txt|stwbak)$`)

// run runs c with its paths moved into the document's directories: every --data is the
// document's data directory (initialised first unless c is the init), /backups is the
// working directory's, files named by relative paths are the fixtures, KEYID is the newest
// key printed.
func (d *docRun) run(c docCommand) error {
	args := append([]string(nil), c.args[1:]...)
	for i, a := range args {
		switch {
		case i > 0 && args[i-1] == "--data":
			args[i] = d.data
		case strings.HasPrefix(a, "/backups/"):
			args[i] = filepath.Join(d.work, "backups", filepath.Base(a))
		case fileArg.MatchString(a):
			args[i] = filepath.Join(d.work, filepath.Base(a))
		case a == "KEYID":
			args[i] = d.keyID
		}
	}
	sub := ""
	if len(args) > 0 {
		sub = args[0]
	}
	if sub == "init" && d.started {
		// A second init in one document starts a new installation of its own.
		d.data = filepath.Join(d.work, fmt.Sprintf("data%d", c.line))
		d.started = false
	}
	if !d.started && sub != "init" && sub != "config" && sub != "match" && sub != "version" {
		if code, _, errs := runCLI(d.t, nil, "init", "--data", d.data); code != 0 {
			return fmt.Errorf("init before it: exit %d: %s", code, errs)
		}
		d.started = true
	}
	envv := map[string]string{"STEWARD_DATA": d.data}
	for k, v := range c.env {
		envv[k] = v
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), args, env{stdout: &out, stderr: &errb, getenv: func(k string) string { return envv[k] }})
	if code != 0 {
		return fmt.Errorf("exit %d: %s%s", code, errb.String(), out.String())
	}
	if sub == "init" {
		d.started = true
	}
	if key := lastLine(out.String()); strings.HasPrefix(key, "stw_") {
		d.keyID = strings.SplitN(strings.TrimPrefix(key, "stw_"), "_", 2)[0]
	}
	return nil
}

// docCommands finds the commands of a Markdown document: every logical line of a sh or bash
// block (comments dropped, continuation lines and quotes spanning lines joined, here-documents
// skipped, exports applied to the block's later commands); in a block that shows a session
// ("$ " prompts, output between) and in blocks of other languages, only the prompted lines.
func docCommands(doc string) ([]docCommand, error) {
	var out []docCommand
	lines := strings.Split(doc, "\n")
	for i := 0; i < len(lines); i++ {
		lang, ok := strings.CutPrefix(lines[i], "```")
		if !ok {
			continue
		}
		lang = strings.TrimSpace(lang)
		start := i + 1
		end := start
		for end < len(lines) && !strings.HasPrefix(lines[end], "```") {
			end++
		}
		block := lines[start:end]
		i = end
		shell := lang == "sh" || lang == "bash" || lang == "shell"
		prompted := false
		for _, l := range block {
			if strings.HasPrefix(l, "$ ") {
				prompted = true
			}
		}
		if !shell && !prompted {
			continue
		}
		exports := map[string]string{}
		for j := 0; j < len(block); j++ {
			l := block[j]
			if prompted {
				var ok bool
				if l, ok = strings.CutPrefix(l, "$ "); !ok {
					continue
				}
			}
			if t := strings.TrimSpace(l); t == "" || strings.HasPrefix(t, "#") {
				continue
			}
			text := l
			line := start + j + 1
			for {
				words, complete, err := shellWords(text)
				if err != nil {
					return nil, fmt.Errorf("line %d: %v", line, err)
				}
				if !complete && j+1 < len(block) {
					j++
					text += "\n" + block[j]
					continue
				}
				if here := hereDoc(words); here != "" {
					for j+1 < len(block) && strings.TrimSpace(block[j+1]) != here {
						j++
					}
					j++
				}
				c := docCommand{line: line, text: strings.Join(strings.Fields(text), " "), env: map[string]string{}}
				for k, v := range exports {
					c.env[k] = v
				}
				if len(words) > 1 && words[0] == "export" {
					if k, v, ok := strings.Cut(words[1], "="); ok {
						exports[k] = v
					}
					break
				}
				for len(words) > 0 && assignment.MatchString(words[0]) {
					k, v, _ := strings.Cut(words[0], "=")
					c.env[k] = v
					words = words[1:]
				}
				if len(words) > 0 && words[0] == "./steward" {
					words[0] = "steward"
				}
				c.args = words
				out = append(out, c)
				break
			}
		}
	}
	return out, nil
}

var assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// hereDoc returns the terminator of a here-document the words start, or "".
func hereDoc(words []string) string {
	for i, w := range words {
		if tag, ok := strings.CutPrefix(w, "<<"); ok {
			if tag == "" && i+1 < len(words) {
				tag = words[i+1]
			}
			return strings.Trim(tag, `'"-`)
		}
	}
	return ""
}

// shellWords splits a command line as a POSIX shell would, without expanding anything: quotes
// group, a backslash escapes the next character (and joins a line to the next), a # starting
// a word begins a comment. complete is false while a quote is open or the line ends in a
// backslash.
func shellWords(s string) (words []string, complete bool, err error) {
	var w strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			words = append(words, w.String())
			w.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\\':
			if i+1 == len(s) {
				return words, false, nil
			}
			i++
			if s[i] != '\n' {
				w.WriteByte(s[i])
				inWord = true
			}
		case ch == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return words, false, nil
			}
			w.WriteString(s[i+1 : i+1+j])
			inWord = true
			i += j + 1
		case ch == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`\n", s[i+1]) >= 0 {
					i++
					if s[i] == '\n' {
						continue
					}
				}
				w.WriteByte(s[i])
			}
			if i == len(s) {
				return words, false, nil
			}
			inWord = true
		case ch == ' ' || ch == '\t' || ch == '\n':
			flush()
		case ch == '#' && !inWord:
			flush()
			return words, true, nil
		default:
			w.WriteByte(ch)
			inWord = true
		}
	}
	flush()
	return words, true, nil
}

// TestDocCommandParser pins the parser the documentation test stands on.
func TestDocCommandParser(t *testing.T) {
	doc := "text\n```sh\n# a comment\n./steward import a.csv --data /var/lib/steward --map \"E-mail=email\" \\\n  --map 'First name=full_name'   # trailing comment\n" +
		"STEWARD_DB=postgres://x steward config print\nexport STEWARD_ROOT=vault-transit\nsteward init --data D\n" +
		"vault policy write steward - <<'EOF'\npath \"x\" { }\nEOF\ncurl -d '{\"a\":\n  1}' $B/v1\n```\n" +
		"```\n$ steward audit verify --data D\naudit trail intact\n```\n```json\n{\"a\": 1}\n```\n"
	cmds, err := docCommands(doc)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cmds {
		got = append(got, fmt.Sprintf("%d %q %v", c.line, c.args, c.env))
	}
	want := []string{
		`4 ["steward" "import" "a.csv" "--data" "/var/lib/steward" "--map" "E-mail=email" "--map" "First name=full_name"] map[]`,
		`6 ["steward" "config" "print"] map[STEWARD_DB:postgres://x]`,
		`8 ["steward" "init" "--data" "D"] map[STEWARD_ROOT:vault-transit]`,
		`9 ["vault" "policy" "write" "steward" "-" "<<EOF"] map[STEWARD_ROOT:vault-transit]`,
		`12 ["curl" "-d" "{\"a\":\n  1}" "$B/v1"] map[STEWARD_ROOT:vault-transit]`,
		`16 ["steward" "audit" "verify" "--data" "D"] map[]`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r := notSelfContained(cmds[2]); r == "" {
		t.Error("an init under a Vault Transit root would run")
	}
	if r := notSelfContained(cmds[1]); r != "" {
		t.Errorf("config print with a PostgreSQL URL is not run: %s", r)
	}
}

// TestAPIDocListsEveryRoute: the route table of docs/api.md names every route the server
// answers, with no route it does not, and says which need no API key as the route table of
// the code does; and every route named anywhere in the README and the docs exists.
func TestAPIDocListsEveryRoute(t *testing.T) {
	b, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	// The server of an opened installation: some route groups exist only with their service.
	dir := filepath.Join(t.TempDir(), "data")
	if code, _, errs := runCLI(t, nil, "init", "--data", dir); code != 0 {
		t.Fatalf("init: %s", errs)
	}
	cfg := config.Default()
	cfg.Data = dir
	a, err := app.Open(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	served := map[string]bool{} // "METHOD /path" → public
	paths, _ := a.HTTP().OpenAPI()["paths"].(map[string]any)
	for path, item := range paths {
		for method, op := range item.(map[string]any) {
			_, public := op.(map[string]any)["security"]
			served[strings.ToUpper(method)+" "+path] = public
		}
	}
	if len(served) < 50 {
		t.Fatalf("the server answers %d routes; the OpenAPI document was not read", len(served))
	}
	row := regexp.MustCompile("^\\| `([A-Z]+) ([^` ?]+)[^`]*` \\| ([^|]*) \\|")
	preflight := regexp.MustCompile("^\\| `OPTIONS` on every tracking path \\| ([^|]*) \\|")
	listed := map[string]bool{}
	for i, l := range strings.Split(string(b), "\n") {
		var routes []string
		var perm string
		if m := row.FindStringSubmatch(l); m != nil {
			perm = m[3]
			for _, p := range expandBraces(m[2]) {
				routes = append(routes, m[1]+" "+p)
			}
		} else if m := preflight.FindStringSubmatch(l); m != nil {
			perm = m[1]
			for r := range served {
				if strings.HasPrefix(r, "OPTIONS ") {
					routes = append(routes, r)
				}
			}
		}
		public := strings.Contains(perm, "public") || strings.Contains(perm, "write key") || strings.Contains(perm, "token")
		for _, r := range routes {
			isPublic, ok := served[r]
			switch {
			case !ok:
				t.Errorf("docs/api.md:%d lists %s, which the server does not answer", i+1, r)
			case isPublic != public:
				t.Errorf("docs/api.md:%d: %s is public=%v in the code, but its permission column says %q", i+1, r, isPublic, strings.TrimSpace(perm))
			}
			listed[r] = true
		}
	}
	for r := range served {
		if !listed[r] {
			t.Errorf("docs/api.md's route table does not list %s", r)
		}
	}

	docs, _ := filepath.Glob("../../docs/*.md")
	mention := regexp.MustCompile(`\b(GET|POST|PUT|PATCH|DELETE) (/[A-Za-z0-9_.{}/-]*[A-Za-z0-9_}])`)
	for _, path := range append([]string{"../../README.md"}, docs...) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range strings.Split(string(b), "\n") {
			for _, m := range mention.FindAllStringSubmatch(l, -1) {
				if strings.Contains(l, m[0]+",") || m[0] == "DELETE /v1/audit" {
					continue // a brace group of paths; api.md's example of a method a route is not served with
				}
				if !servedPath(served, m[1], m[2]) {
					t.Errorf("%s:%d names %s %s, which the server does not answer", strings.TrimPrefix(path, "../../"), i+1, m[1], m[2])
				}
			}
		}
	}
}

// servedPath reports whether the server answers method on path, a route pattern or a path
// with its parameters filled in.
func servedPath(served map[string]bool, method, path string) bool {
	if _, ok := served[method+" "+path]; ok {
		return true
	}
	for r := range served {
		m, pattern, _ := strings.Cut(r, " ")
		if m != method {
			continue
		}
		re := "^" + regexp.MustCompile(`\\\{[^}]*\\\}`).ReplaceAllString(regexp.QuoteMeta(pattern), `[^/]+`) + "$"
		if regexp.MustCompile(re).MatchString(path) {
			return true
		}
	}
	return false
}

// expandBraces expands a {a,b,c} group (one holding commas; {id} is a parameter) into paths.
func expandBraces(p string) []string {
	open := strings.Index(p, "{")
	for open >= 0 {
		end := strings.Index(p[open:], "}")
		if end < 0 {
			break
		}
		group := p[open+1 : open+end]
		if strings.Contains(group, ",") {
			var out []string
			for _, alt := range strings.Split(group, ",") {
				out = append(out, expandBraces(p[:open]+alt+p[open+end+1:])...)
			}
			return out
		}
		next := strings.Index(p[open+end:], "{")
		if next < 0 {
			break
		}
		open += end + next
	}
	return []string{p}
}

// TestReadmeCurlExamples sends the README's curl examples, as printed, to a server on a fresh
// installation: with the owner key in $KEY, the server's address in place of 127.0.0.1:8080,
// the customer the first example creates as ID (and another as ID2), and the demo's policy
// version published, as the README says ("with the key make demo printed"). Every answer must
// be a success.
func TestReadmeCurlExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the README's curl examples")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := docCommands(string(b))
	if err != nil {
		t.Fatal(err)
	}
	d := newDocRun(t)
	code, out, errs := runCLI(t, nil, "init", "--data", d.data)
	if code != 0 {
		t.Fatalf("init: %s", errs)
	}
	key := lastLine(out)
	cfg := config.Default()
	cfg.Data = d.data
	a, err := app.Open(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(a.HTTP().Handler())
	defer srv.Close()
	sys := authz.WithActor(context.Background(), authz.System)
	if _, err := a.Consents.PublishPolicy(sys, consent.PolicyInput{Version: demo.DemoPolicy, Text: "Demo policy.",
		Purposes: []string{"service", "marketing_email"}}); err != nil {
		t.Fatal(err)
	}
	other, err := a.Customers.Create(sys, map[string]any{"email": "other@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	id := ""
	ids := regexp.MustCompile(`\bID\b`)
	sent := 0
	for _, c := range cmds {
		if len(c.args) == 0 || c.args[0] != "curl" {
			continue
		}
		args := []string{"-w", "\n%{http_code}"}
		for _, w := range c.args[1:] {
			w = strings.ReplaceAll(w, "$KEY", key)
			w = strings.ReplaceAll(w, "http://127.0.0.1:8080", srv.URL)
			w = strings.ReplaceAll(w, "ID2", other.ID)
			if id != "" {
				w = ids.ReplaceAllString(w, id)
			}
			args = append(args, w)
		}
		cmd := exec.Command("curl", args...)
		cmd.Dir = d.work
		got, err := cmd.Output()
		if err != nil {
			t.Errorf("README.md:%d: %s: %v", c.line, c.text, err)
			continue
		}
		// -w ends the output with a line holding the status.
		i := strings.LastIndex(string(got), "\n")
		body, status := string(got[:max(i, 0)]), string(got[i+1:])
		if !strings.HasPrefix(status, "2") {
			t.Errorf("README.md:%d: %s\nanswered %s %s", c.line, c.text, status, body)
		}
		if id == "" {
			var v struct{ ID string }
			if json.Unmarshal([]byte(body), &v) == nil && v.ID != "" {
				id = v.ID
			}
		}
		sent++
	}
	if sent < 8 {
		t.Fatalf("sent %d of the README's curl examples; the parser has lost them", sent)
	}
}
