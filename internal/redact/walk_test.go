package redact_test

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// moduleTypes returns "<dir>.<Type>" for every exported type declared in
// the non-test files of the module's non-main packages (the root package
// as "vaultly"). Directories with their own go.mod and testdata are not
// part of the module.
func moduleTypes(t *testing.T, root string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == root {
				return nil
			}
			if n := d.Name(); n == "testdata" || strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		if f.Name.Name == "main" {
			return nil
		}
		dir, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		if dir == "." {
			dir = "vaultly"
		}
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || g.Tok != token.TYPE {
				continue
			}
			for _, spec := range g.Specs {
				if ts := spec.(*ast.TypeSpec); ts.Name.IsExported() {
					names = append(names, filepath.ToSlash(dir)+"."+ts.Name.Name)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

// TestEveryExportedTypeHasARow checks exportedTypes against the source: a
// new exported type anywhere in the module fails here until it has a row
// in types_test.go (a sample holding secrets, or why it holds none), and a
// row for a type that no longer exists fails too.
func TestEveryExportedTypeHasARow(t *testing.T) {
	t.Parallel()
	declared := moduleTypes(t, filepath.Join("..", ".."))
	if len(declared) < 100 {
		t.Fatalf("found %d exported types in the module; the walk is broken", len(declared))
	}
	rows := map[string]bool{}
	for _, r := range exportedTypes {
		if rows[r.name] {
			t.Errorf("two rows for %s", r.name)
		}
		rows[r.name] = true
		if (r.make == nil) == (r.none == "") {
			t.Errorf("row %s: set exactly one of make (a sample) and none (why it holds no secret)", r.name)
		}
		if r.make == nil && (r.plain != "" || r.keepsJSON != "") {
			t.Errorf("row %s: plain and keepsJSON need a sample", r.name)
		}
	}
	for _, name := range declared {
		if !rows[name] {
			t.Errorf("exported type %s has no row in internal/redact/types_test.go: add a sample holding secrets wherever it can hold one, or say why it holds none", name)
		}
		delete(rows, name)
	}
	for name := range rows {
		t.Errorf("row %s: no such exported type in the module", name)
	}
}

type (
	inExported      struct{ V any }
	inUnexported    struct{ v any }
	inUnexportedPtr struct{ p any }
)

// placements puts v everywhere a program keeps a value: as is, behind a
// pointer, in an exported and an unexported field of a caller's struct,
// behind a pointer in a field, in a slice and a map. methods reports the
// placements where fmt calls v's methods for every verb but %p; in the
// others fmt prints v field by field (an unexported field), or follows a
// pointer to it without calling methods when the verb does not suit a
// pointer (%s of a pointer that is not the top-level operand).
func placements(v any) (all map[string]any, methods map[string]bool) {
	p := reflect.New(reflect.TypeOf(v))
	p.Elem().Set(reflect.ValueOf(v))
	ptr := p.Interface()
	all = map[string]any{
		"value":                    v,
		"pointer":                  ptr,
		"exported field":           inExported{v},
		"slice":                    []any{v},
		"map":                      map[string]any{"k": v},
		"pointer in exported":      &inExported{ptr},
		"unexported field":         inUnexported{v},
		"pointer in unexported":    inUnexportedPtr{ptr},
		"&struct, unexported":      &inUnexported{v},
		"unexported field in list": []any{inUnexported{v}},
	}
	methods = map[string]bool{"value": true, "pointer": true, "exported field": true, "slice": true, "map": true}
	return all, methods
}

// TestEveryExportedTypeRedacts builds each row's sample — against a real
// Vault server where the type talks to Vault — and prints it in every
// placement through every rendering: no form of any of its secrets may
// appear. The exceptions, which the README lists as limits: a plain row is
// checked only where fmt calls its methods, and not under %p (fmt prints a
// %p operand that is not a pointer without calling its methods); a
// keepsJSON row's data shows in encoding/json, and in the slog JSON handler
// when the value is nested in another.
func TestEveryExportedTypeRedacts(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t, nil)
	seedVault(t, srv)
	for _, r := range exportedTypes {
		if r.make == nil {
			continue
		}
		t.Run(r.name, func(t *testing.T) {
			e := &env{t: t, ctx: context.Background(), srv: srv}
			s := r.make(e)
			if len(s.values) == 0 {
				t.Fatal("the sample has no value")
			}
			for _, v := range s.values {
				if len(s.secrets) == 0 {
					continue // nothing to look for: the row proves the value prints at all
				}
				all, methods := placements(v)
				for where, pv := range all {
					allowed := map[string]bool{}
					if r.plain != "" {
						if !methods[where] {
							continue
						}
						allowed["%p"] = true
					}
					if r.keepsJSON != "" {
						allowed["json"] = true
						allowed["slog json"] = where != "value" && where != "pointer"
					}
					checkRenderings(t, reflect.TypeOf(v).String()+" ("+where+")", renderings(t, pv), s.secrets, allowed)
				}
			}
		})
	}
}

// seedVault writes what the samples read: redact/app in the KV v2 mount
// and the transit key "redact".
func seedVault(t *testing.T, srv *vaulttest.Server) {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = srv.Addr
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(srv.Token)
	ctx := context.Background()
	if _, err := c.KVv2("secret").Put(ctx, "redact/app", map[string]any{"pw": canary}); err != nil {
		t.Fatal(err)
	}
	if err := c.Sys().MountWithContext(ctx, "transit", &api.MountInput{Type: "transit"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().WriteWithContext(ctx, "transit/keys/redact", nil); err != nil {
		t.Fatal(err)
	}
}
