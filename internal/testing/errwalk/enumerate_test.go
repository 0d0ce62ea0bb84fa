package errwalk

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestExported runs the enumeration over a small module made for it: what
// a caller outside the module can call is listed (methods promoted from an
// internal embedded type included, a shadowed one under the outer type),
// and tests, internal packages, package main, files that do not build and
// other modules are not.
func TestExported(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"a/a.go": `package a

import "example.com/m/a/internal/inner"

type T struct{ inner.Base }

func New() (*T, error) { return nil, nil }
func (T) Own() error    { return nil }
func (T) NoErr() int    { return 0 }
func (*T) Shadow() error { return nil }
func (T) unexported() error { return nil }

type I interface{ M() error }

type u struct{}

func (u) Hidden() error { return nil }

type G[P any] struct{}

func (g *G[P]) Get() (P, error) { var p P; return p, nil }
`,
		"a/a_test.go":  "package a\n\nfunc Helper() error { return nil }\n",
		"a/ignored.go": "//go:build ignore\n\npackage a\n\nfunc Ignored() error { return nil }\n",
		"a/internal/inner/inner.go": `package inner

type Base struct{ deeper }
type deeper struct{}

func (Base) Login() (int, error) { return 0, nil }
func (Base) Shadow() error       { return nil }
func (deeper) Deep() error       { return nil }
func Exposed() error             { return nil }
`,
		"cmd/main.go": "package main\n\nfunc Run() error { return nil }\n\nfunc main() {}\n",
		"sub/go.mod":  "module example.com/other\n",
		"sub/s.go":    "package sub\n\nfunc Other() error { return nil }\n",
		"root.go":     "package m\n\nfunc Top() error { return nil }\n",
	}
	for name, src := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Exported(root, "example.com/m")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, f := range got {
		keys = append(keys, f.Key)
	}
	want := []string{"a.G.Get", "a.New", "a.T.Deep", "a.T.Login", "a.T.Own", "a.T.Shadow", "vaultly.Top"}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("Exported() keys (-want +got):\n%s", diff)
	}
	for _, f := range got {
		if f.Key == "a.T.Shadow" && f.Pos != "a/a.go:10" {
			t.Errorf("a.T.Shadow declared at %s, want a/a.go:10 (the outer method shadows the promoted one)", f.Pos)
		}
	}
}
