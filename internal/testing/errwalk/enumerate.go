// Package errwalk holds the error walk: a test that calls every exported
// constructor and operation of every public package of the module with a
// failing input and checks that the error is a *vaultly.Error whose code
// errors.Is and vaultly.CodeOf report. The package's code lists those
// functions from the source (Exported), so a new exported function that
// returns an error and is not in the test's table fails the test.
//
// Exported is safe for concurrent use.
package errwalk

import (
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// A Func is one exported function or method whose results include an error.
type Func struct {
	// Key names it: "pkg.Func" or "pkg.Type.Method", pkg being the import
	// path below the module ("vaultly" for the root), e.g.
	// "hashivault.Backend.Read", "auth/approle.New". A method promoted from
	// an embedded type is listed under the embedding type.
	Key string
	// Pos is where it is declared (file:line), for messages.
	Pos string
}

// pkgInfo is what one package declares.
type pkgInfo struct {
	rel     string                       // import path below the module; "" for the root
	imports map[string]map[string]string // file -> local name -> import path below the module
	types   map[string]*typeInfo
	funcs   []Func
}

type typeInfo struct {
	name     string
	file     string
	methods  map[string]methodInfo // every method, exported or not
	embedded []embedded            // embedded fields of a struct type
	isIface  bool
}

type methodInfo struct {
	pos      string
	hasError bool
}

type embedded struct {
	pkg, name string // pkg "" means the same package
}

// Exported returns every exported function, and every exported method of
// an exported type (declared or promoted from an embedded type of the
// module), whose results include an error, in the public packages of the
// module rooted at root (module path modPath): packages whose import path
// has no "internal" element and that are not package main, in files that
// build on this platform and are not tests. Sorted by Key.
func Exported(root, modPath string) ([]Func, error) {
	pkgs := map[string]*pkgInfo{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if p != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor") {
			return filepath.SkipDir
		}
		if p != root {
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
				return filepath.SkipDir // another module
			}
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			rel = ""
		}
		info, err := parseDir(p, rel, modPath)
		if err != nil || info == nil {
			return err
		}
		pkgs[rel] = info
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []Func
	for rel, info := range pkgs {
		if isInternal(rel) {
			continue
		}
		out = append(out, info.funcs...)
		for _, ti := range info.types {
			if !ast.IsExported(ti.name) || ti.isIface {
				continue
			}
			for m, pos := range methodSet(pkgs, info, ti, map[*typeInfo]bool{}) {
				out = append(out, Func{Key: keyPrefix(rel) + ti.name + "." + m, Pos: pos})
			}
		}
	}
	slices.SortFunc(out, func(a, b Func) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

func keyPrefix(rel string) string {
	if rel == "" {
		return "vaultly."
	}
	return rel + "."
}

func isInternal(rel string) bool {
	return slices.Contains(strings.Split(rel, "/"), "internal")
}

// methodSet returns the exported methods returning an error of ti, its own
// and those promoted from its embedded types (the shallower wins), with
// where each is declared.
func methodSet(pkgs map[string]*pkgInfo, info *pkgInfo, ti *typeInfo, seen map[*typeInfo]bool) map[string]string {
	out := map[string]string{}
	if seen[ti] {
		return out
	}
	seen[ti] = true
	names := map[string]bool{}
	for name, m := range ti.methods {
		names[name] = true
		if ast.IsExported(name) && m.hasError {
			out[name] = m.pos
		}
	}
	for _, e := range ti.embedded {
		pi := info
		if e.pkg != "" {
			pi = pkgs[e.pkg]
		}
		if pi == nil {
			continue // outside the module: not vaultly's to check
		}
		et := pi.types[e.name]
		if et == nil {
			continue
		}
		names[e.name] = true // the field itself shadows a method of that name
		for name, pos := range methodSet(pkgs, pi, et, seen) {
			if !names[name] {
				out[name] = pos
			}
		}
	}
	return out
}

// parseDir reads the package in dir, or returns nil when there is none or
// it is package main.
func parseDir(dir, rel, modPath string) (*pkgInfo, error) {
	bp, err := build.ImportDir(dir, 0)
	if err != nil {
		if _, ok := err.(*build.NoGoError); ok {
			return nil, nil
		}
		return nil, err
	}
	if bp.Name == "main" {
		return nil, nil
	}
	fset := token.NewFileSet()
	info := &pkgInfo{rel: rel, imports: map[string]map[string]string{}, types: map[string]*typeInfo{}}
	typ := func(name string) *typeInfo {
		if info.types[name] == nil {
			info.types[name] = &typeInfo{name: name, methods: map[string]methodInfo{}}
		}
		return info.types[name]
	}
	for _, f := range bp.GoFiles {
		file := filepath.Join(dir, f)
		af, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		imps := map[string]string{}
		for _, is := range af.Imports {
			p := strings.Trim(is.Path.Value, `"`)
			sub, ok := strings.CutPrefix(p, modPath)
			if !ok || (sub != "" && !strings.HasPrefix(sub, "/")) {
				continue
			}
			local := path.Base(p)
			if is.Name != nil {
				local = is.Name.Name
			}
			if sub == "" {
				local = "vaultly"
				if is.Name != nil {
					local = is.Name.Name
				}
			}
			imps[local] = strings.TrimPrefix(sub, "/")
		}
		info.imports[file] = imps
		for _, decl := range af.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				pos := fset.Position(d.Pos())
				where := filepath.ToSlash(filepath.Join(rel, f)) + ":" + itoa(pos.Line)
				hasErr := returnsError(d.Type)
				if d.Recv == nil {
					if ast.IsExported(d.Name.Name) && hasErr {
						info.funcs = append(info.funcs, Func{Key: keyPrefix(rel) + d.Name.Name, Pos: where})
					}
					continue
				}
				if rn := recvName(d.Recv.List[0].Type); rn != "" {
					typ(rn).methods[d.Name.Name] = methodInfo{pos: where, hasError: hasErr}
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					ts, ok := spec.(*ast.TypeSpec)
					if !ok {
						continue
					}
					ti := typ(ts.Name.Name)
					ti.file = file
					switch t := ts.Type.(type) {
					case *ast.InterfaceType:
						ti.isIface = true
					case *ast.StructType:
						for _, fl := range t.Fields.List {
							if len(fl.Names) != 0 {
								continue
							}
							if e, ok := embeddedOf(fl.Type, imps); ok {
								ti.embedded = append(ti.embedded, e)
							}
						}
					}
				}
			}
		}
	}
	return info, nil
}

// embeddedOf resolves an embedded field's type: T, *T, pkg.T, *pkg.T
// (type arguments dropped). ok is false for a type outside the module.
func embeddedOf(x ast.Expr, imps map[string]string) (embedded, bool) {
	if s, ok := x.(*ast.StarExpr); ok {
		x = s.X
	}
	switch t := x.(type) {
	case *ast.IndexExpr:
		return embeddedOf(t.X, imps)
	case *ast.IndexListExpr:
		return embeddedOf(t.X, imps)
	case *ast.Ident:
		return embedded{name: t.Name}, true
	case *ast.SelectorExpr:
		id, ok := t.X.(*ast.Ident)
		if !ok {
			return embedded{}, false
		}
		p, ok := imps[id.Name]
		if !ok {
			return embedded{}, false
		}
		return embedded{pkg: p, name: t.Sel.Name}, true
	}
	return embedded{}, false
}

// recvName is the receiver's type name: T, *T, T[P], *T[P].
func recvName(x ast.Expr) string {
	if s, ok := x.(*ast.StarExpr); ok {
		x = s.X
	}
	switch t := x.(type) {
	case *ast.IndexExpr:
		x = t.X
	case *ast.IndexListExpr:
		x = t.X
	}
	if id, ok := x.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}

func returnsError(ft *ast.FuncType) bool {
	if ft.Results == nil {
		return false
	}
	for _, r := range ft.Results.List {
		if id, ok := r.Type.(*ast.Ident); ok && id.Name == "error" {
			return true
		}
	}
	return false
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
