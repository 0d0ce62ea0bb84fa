package examples

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// goBlock is a ```go fenced block of the README and the line it starts on.
type goBlock struct {
	line int
	src  string
}

var fence = regexp.MustCompile("(?m)^```go\n((?s:.*?))^```")

func goBlocks(t *testing.T, readme string) []goBlock {
	t.Helper()
	var out []goBlock
	for _, m := range fence.FindAllStringSubmatchIndex(readme, -1) {
		out = append(out, goBlock{line: strings.Count(readme[:m[0]], "\n") + 1, src: readme[m[2]:m[3]]})
	}
	return out
}

// isProgram reports whether a block claims to be a complete program: it
// starts (after comments and blank lines) with "package main".
func isProgram(src string) bool {
	for _, l := range strings.Split(src, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "//") {
			continue
		}
		return l == "package main"
	}
	return false
}

// TestREADMEPrograms builds every Go block of the README that is a
// complete program (starts with package main), inside this module so its
// imports resolve to this tree, and refuses a block with a func main that
// does not say it is a program: that is how the Quick start once shipped
// without its imports.
func TestREADMEPrograms(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var programs []goBlock
	for _, blk := range goBlocks(t, string(b)) {
		switch {
		case isProgram(blk.src):
			programs = append(programs, blk)
		case regexp.MustCompile(`(?m)^func main\(\)`).MatchString(blk.src):
			t.Errorf("README.md:%d: a block with func main() that does not start with package main: make it a complete program", blk.line)
		}
	}
	if len(programs) == 0 {
		t.Fatal("no complete program in README.md (the Quick start is one)")
	}
	// Directories starting with "_" are left out of ./... but build when
	// named.
	dir, err := os.MkdirTemp(".", "_readme")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, p := range programs {
		sub := filepath.Join(dir, "line"+strconv.Itoa(p.line))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, "main.go"), []byte(p.src), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("go", "build", "-o", os.DevNull, "./"+filepath.ToSlash(sub)).CombinedOutput()
		if err != nil {
			t.Errorf("README.md:%d: the program does not build: %v\n%s", p.line, err, out)
			continue
		}
		if out, err := exec.Command("go", "vet", "./"+filepath.ToSlash(sub)).CombinedOutput(); err != nil {
			t.Errorf("README.md:%d: go vet: %v\n%s", p.line, err, out)
		}
	}
}

// TestIsProgram: the classifier sees the difference the test relies on.
func TestIsProgram(t *testing.T) {
	tests := []struct {
		src  string
		want bool
	}{
		{"package main\n\nfunc main() {}\n", true},
		{"// A program.\n\npackage main\n", true},
		{"import (\n\t\"fmt\"\n)\n\nfunc main() {}\n", false},
		{"b, err := hashivault.New(ctx, nil)\n", false},
	}
	for _, tt := range tests {
		if got := isProgram(tt.src); got != tt.want {
			t.Errorf("isProgram(%q) = %v, want %v", tt.src, got, tt.want)
		}
	}
}
