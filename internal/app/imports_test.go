package app

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportRules enforces the architecture: domains never import storage or adapters,
// engines never import the vault, problem imports only the standard library, the small
// shared packages (clock, ident, authz) depend on nothing but the catalog and problem, and
// adapters never hold the privileged customer vault.
func TestImportRules(t *testing.T) {
	const mod = "github.com/stewardhq/steward/internal/"
	adapters := []string{"store", "httpapi", "adminui", "cli", "app"}
	root := ".."
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		pkg := e.Name()
		err := filepath.Walk(filepath.Join(root, pkg), func(path string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			checked++
			rel, _ := filepath.Rel(root, path)
			if pkg == "httpapi" || pkg == "cli" {
				if err := noVault(path); err != nil {
					t.Errorf("%s: %v", rel, err)
				}
			}
			for _, imp := range f.Imports {
				p := strings.Trim(imp.Path.Value, `"`)
				inner, internal := strings.CutPrefix(p, mod)
				top := strings.Split(inner, "/")[0]
				switch {
				case pkg == "problem" && (strings.Contains(strings.Split(p, "/")[0], ".")):
					t.Errorf("%s imports %s: problem may import only the standard library", rel, p)
				case strings.HasPrefix(rel, "store") && internal && top == "vault":
					t.Errorf("%s imports the vault: engines only ever see ciphertext", rel)
				case !isAdapter(pkg, adapters) && internal && isAdapter(top, adapters):
					t.Errorf("%s imports %s: domain packages never import storage or adapters", rel, p)
				case (pkg == "clock" || pkg == "ident") && internal:
					t.Errorf("%s imports %s: %s depends on no other package of Steward", rel, p, pkg)
				case pkg == "authz" && internal && top != "catalog" && top != "problem":
					t.Errorf("%s imports %s: authorization depends only on the catalog and problem", rel, p)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d files", checked)
	}
}

// noVault reports an error when the file names the customer package's privileged Vault type
// or an App's Vault field: adapters reach customers through the audited service only.
func noVault(path string) error {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		return err
	}
	var found error
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "Vault" && found == nil {
			found = fmt.Errorf("uses the privileged customer vault; adapters use only the audited customer service")
		}
		return found == nil
	})
	return found
}

func isAdapter(name string, adapters []string) bool {
	for _, a := range adapters {
		if name == a {
			return true
		}
	}
	return false
}

// TestPostgresTestsStopTheirServer: every package whose tests start the throwaway PostgreSQL
// server (through pgtest or enginetest) stops it in its TestMain; a package that forgot left
// a server running after every test run, and CI's later packages met its port taken.
func TestPostgresTestsStopTheirServer(t *testing.T) {
	uses := map[string]bool{}
	stops := map[string]bool{}
	for _, root := range []string{"..", "../../cmd"} {
		err := filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() || !strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			dir := filepath.Dir(path)
			if strings.Contains(string(b), `internal/store/pgtest"`) || strings.Contains(string(b), `internal/store/enginetest"`) {
				uses[dir] = true
			}
			if strings.Contains(string(b), "pgtest.Stop()") {
				stops[dir] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(uses) < 5 {
		t.Fatalf("found %d packages starting PostgreSQL in their tests, want the engine tests' several", len(uses))
	}
	for dir := range uses {
		if !stops[dir] {
			t.Errorf("%s starts the test PostgreSQL server but never calls pgtest.Stop in a TestMain", dir)
		}
	}
}
