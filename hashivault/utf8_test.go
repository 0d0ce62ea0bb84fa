package hashivault

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/internal/testing/faultproxy"
)

// TestWriteRefusesNonUTF8: Vault stores JSON text, and encoding/json
// replaces every invalid UTF-8 byte by U+FFFD without a word. Put, Patch
// and Store.Put refuse such values (and keys), naming the field and
// suggesting base64, before any request; nothing is written and nothing
// changes. Valid UTF-8 round-trips byte for byte. Against a real Vault,
// KV v2 and v1.
func TestWriteRefusesNonUTF8(t *testing.T) {
	clearEnv(t)
	srv := shared(t)
	p := faultproxy.Start(t, srv.Addr, nil)
	v1 := unique("kv1-utf8")
	srv.EnableSecrets(t, v1, "kv", map[string]string{"version": "1"})
	const binary = "\xff\xfe\x00Qz7"
	bad := []struct {
		name   string
		fields map[string]any
		field  string // named in the error
	}{
		{"string value", map[string]any{"blob": binary, "ok": "x"}, `"blob"`},
		{"nested value", map[string]any{"cfg": map[string]any{"inner": []any{"x", binary}}}, `"cfg"`},
		{"key", map[string]any{"k\xffey": "v"}, `"k\xffey"`},
		{"typed map", map[string]any{"m": map[string]string{"a": binary}}, `"m"`},
	}
	for _, kv := range []struct {
		mount   string
		version int
	}{{"secret", 2}, {v1, 1}} {
		b := newBackend(t, &Options{Address: p.URL, Token: srv.Token, Mount: kv.mount, KVVersion: kv.version})
		s := vaultly.New(b, &vaultly.Options{KeepBackendOpen: true})
		t.Cleanup(func() { s.Close() })
		path := unique("utf8/app")
		if _, err := b.Put(ctxT(t, 5*time.Second), path, map[string]any{"keep": "as it was"}, nil); err != nil {
			t.Fatal(err)
		}
		for _, tt := range bad {
			writes := func() int {
				return len(p.Requests(func(path string) bool { return strings.Contains(path, "/utf8/") }))
			}
			before := writes()
			check := func(what string, err error) {
				t.Helper()
				if vaultly.CodeOf(err) != vaultly.InvalidArgument {
					t.Errorf("kv v%d %s(%s) = %v, want an InvalidArgument error", kv.version, what, tt.name, err)
					return
				}
				for _, want := range []string{tt.field, "not valid UTF-8", "base64"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("kv v%d %s(%s) error = %q, want it to contain %q", kv.version, what, tt.name, err, want)
					}
				}
				if strings.Contains(err.Error(), "Qz7") {
					t.Errorf("kv v%d %s(%s) error = %q, shows the value", kv.version, what, tt.name, err)
				}
			}
			_, err := b.Put(ctxT(t, 5*time.Second), path, tt.fields, nil)
			check("Put", err)
			if kv.version == 2 {
				_, err = b.Patch(ctxT(t, 5*time.Second), path, tt.fields, nil)
				check("Patch", err)
			}
			check("Store.Put", s.Put(ctxT(t, 5*time.Second), path, tt.fields))
			if n := writes() - before; n != 0 {
				t.Errorf("kv v%d %s: %d requests reached the server, want 0", kv.version, tt.name, n)
			}
			e, err := b.Read(ctxT(t, 5*time.Second), path, 0)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(map[string]string{"keep": "as it was"}, e.Fields); diff != "" {
				t.Errorf("kv v%d %s: the entry changed (-want +got):\n%s", kv.version, tt.name, diff)
			}
		}
		// Valid UTF-8, multi-byte included, is kept byte for byte.
		good := map[string]any{"text": "héllo ✓ \u202e\u0000end", "ключ": "значение"}
		if _, err := b.Put(ctxT(t, 5*time.Second), path, good, nil); err != nil {
			t.Fatalf("kv v%d Put(valid UTF-8) = %v", kv.version, err)
		}
		e, err := b.Read(ctxT(t, 5*time.Second), path, 0)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]string{"text": "héllo ✓ \u202e\u0000end", "ключ": "значение"}, e.Fields); diff != "" {
			t.Errorf("kv v%d valid UTF-8 changed (-want +got):\n%s", kv.version, diff)
		}
	}
}
