package filesecrets_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/drivertest"
	"github.com/vaultly/vaultly/filesecrets"
)

// harness seeds the file directly, as a developer editing it would.
type harness struct {
	t    *testing.T
	file string
	data map[string]map[string]any
}

func (h *harness) MakeBackend(context.Context) (driver.Backend, error) {
	return filesecrets.New(h.file, nil)
}

func (h *harness) Put(_ context.Context, path string, fields map[string]any) (int, error) {
	h.data[path] = fields
	b, err := json.MarshalIndent(h.data, "", "  ")
	if err != nil {
		return 0, err
	}
	if err := os.WriteFile(h.file, b, 0o600); err != nil {
		return 0, err
	}
	// Make sure a rewrite of the same size within the clock's resolution is
	// still seen as a change.
	future := time.Now().Add(time.Duration(len(h.data)) * time.Second)
	return 0, os.Chtimes(h.file, future, future)
}

func (h *harness) Capabilities() drivertest.Capabilities {
	return drivertest.Capabilities{AnnouncesChanges: true}
}
func (h *harness) Close() {}

func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, func(_ context.Context, t *testing.T) (drivertest.Harness, error) {
		f := filepath.Join(t.TempDir(), "secrets.json")
		if err := os.WriteFile(f, []byte("{}"), 0o600); err != nil {
			return nil, err
		}
		return &harness{t: t, file: f, data: map[string]map[string]any{}}, nil
	})
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "secrets.json")
	if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestRead(t *testing.T) {
	f := writeFile(t, `{
  "myapp/db": {"username": "app", "password": "dev", "port": 5432, "ratio": 0.25, "tls": true, "opts": {"a": [1, 2]}, "none": null},
  "/myapp/api": "token"
}`)
	b, err := filesecrets.New(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path     string
		want     map[string]string
		wantCode driver.Code
	}{
		{"myapp/db", map[string]string{"username": "app", "password": "dev", "port": "5432", "ratio": "0.25", "tls": "true", "opts": `{"a":[1,2]}`, "none": "null"}, driver.OK},
		{"myapp/api", map[string]string{"value": "token"}, driver.OK},
		{"myapp/nope", nil, driver.NotFound},
	}
	for _, tc := range tests {
		e, err := b.Read(t.Context(), tc.path, 0)
		if driver.CodeOf(err) != tc.wantCode {
			t.Errorf("Read(%q) error = %v, want code %v", tc.path, err, tc.wantCode)
			continue
		}
		if err == nil {
			if diff := cmp.Diff(tc.want, e.Fields); diff != "" {
				t.Errorf("Read(%q) mismatch (-want +got):\n%s", tc.path, diff)
			}
		}
	}
}

func TestMalformed(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    string // the error must contain this
	}{
		{"syntax", "{\n  \"a\": {\"k\": \"v\"},\n  \"b\": {\"k\": hunter2}\n}", "secrets.json:3:"},
		{"truncated", "{\n  \"a\": {\"k\": \"v\"", "secrets.json:2:"},
		{"not an object", "[1, 2]", "secrets.json:1:"},
		{"bad entry", "{\n\"a\": {\"k\": \"v\"},\n\"b\": 42\n}", `secrets.json:3:1: entry "b" must be an object`},
		{"trailing data", "{}\n{}", "secrets.json:2:"},
		{"empty path", "{\"/\": \"x\"}", "empty path"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := writeFile(t, tc.content)
			_, err := filesecrets.New(f, nil)
			if err == nil {
				t.Fatalf("New(%s) = nil error, want one", tc.name)
			}
			if driver.CodeOf(err) != driver.Config {
				t.Errorf("New error code = %v, want Config", driver.CodeOf(err))
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), f) {
				t.Errorf("New error = %q, want it to name the file and contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "'h'") {
				t.Errorf("New error = %q quotes the content", err)
			}
		})
	}
	if _, err := filesecrets.New(filepath.Join(t.TempDir(), "missing.json"), nil); driver.CodeOf(err) != driver.Config {
		t.Errorf("New(missing file) error = %v, want Config", err)
	}
}

func TestReloadAndWrite(t *testing.T) {
	f := writeFile(t, `{"a": "one"}`)
	b, err := filesecrets.New(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	read := func(p string) string {
		t.Helper()
		e, err := b.Read(ctx, p, 0)
		if err != nil {
			t.Fatalf("Read(%q): %v", p, err)
		}
		return e.Fields["value"]
	}
	if got := read("a"); got != "one" {
		t.Fatalf("Read(a) = %q", got)
	}
	// An edit is picked up.
	if err := os.WriteFile(f, []byte(`{"a": "two!"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := read("a"); got != "two!" {
		t.Errorf("after edit Read(a) = %q, want %q", got, "two!")
	}
	// A broken edit is reported on Read.
	os.WriteFile(f, []byte(`{"a": `), 0o644)
	if _, err := b.Read(ctx, "a", 0); driver.CodeOf(err) != driver.Config {
		t.Errorf("Read after a broken edit error = %v, want Config", err)
	}
	os.WriteFile(f, []byte(`{"a": "three"}`), 0o644)
	if err := b.Write(ctx, "x/y", map[string]any{"n": 1, "s": "v"}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	fi, err := os.Stat(f)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode after Write = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	b2, err := filesecrets.New(f, nil)
	if err != nil {
		t.Fatalf("New after Write: %v", err)
	}
	e, err := b2.Read(ctx, "x/y", 0)
	if err != nil || !cmp.Equal(e.Fields, map[string]string{"n": "1", "s": "v"}) {
		t.Errorf("re-read after Write = %v, %v", e, err)
	}
	if got := read("a"); got != "three" {
		t.Errorf("Read(a) after Write = %q, want three", got)
	}
	names, err := b.List(ctx, "")
	if err != nil || !cmp.Equal(names, []string{"a", "x/"}) {
		t.Errorf("List() = %v, %v; want [a x/]", names, err)
	}
	if err := b.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := b2.Read(ctx, "a", 0); driver.CodeOf(err) != driver.NotFound {
		t.Errorf("Read(a) after Delete = %v, want NotFound", err)
	}
}

// TestOnChangeAfterEdit: an edit of the file found by a later call is
// announced for every path whose entry changed, and for no other.
func TestOnChangeAfterEdit(t *testing.T) {
	f := writeFile(t, `{"a": "1", "b": "2", "same": {"k": "v"}}`)
	b, err := filesecrets.New(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	remove := b.OnChange(func(p string) { got = append(got, p) })
	edit := func(content string, shift time.Duration) {
		t.Helper()
		if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(shift)
		if err := os.Chtimes(f, at, at); err != nil {
			t.Fatal(err)
		}
	}
	edit(`{"a": "changed", "c": "3", "same": {"k": "v"}}`, time.Second)
	if _, err := b.Read(t.Context(), "same", 0); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b", "c"}, got); diff != "" {
		t.Errorf("paths announced after an edit (-want +got):\n%s", diff)
	}
	remove()
	edit(`{"a": "again"}`, 2*time.Second)
	if _, err := b.List(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Errorf("paths announced after remove: %v", got[3:])
	}
}
