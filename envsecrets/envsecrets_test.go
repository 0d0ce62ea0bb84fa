package envsecrets_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/drivertest"
	"github.com/vaultly/vaultly/envsecrets"
	"github.com/vaultly/vaultly/internal/fieldtext"
)

// harness keeps its own environment so subtests do not touch the process's.
type harness struct {
	mu  sync.Mutex
	env map[string]string
	b   *envsecrets.Backend
}

func newHarness() *harness {
	h := &harness{env: map[string]string{"UNRELATED": "x"}}
	h.b = envsecrets.New(&envsecrets.Options{Prefix: "T_", Environ: h.environ})
	return h
}

func (h *harness) environ() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, k := range slices.Sorted(maps.Keys(h.env)) {
		out = append(out, k+"="+h.env[k])
	}
	return out
}

func (h *harness) MakeBackend(context.Context) (driver.Backend, error) { return h.b, nil }

func (h *harness) Put(_ context.Context, path string, fields map[string]any) (int, error) {
	f, err := fieldtext.Normalize(fields)
	if err != nil {
		return 0, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	base := h.b.VarName(path, "")
	for k := range h.env { // a Put replaces the whole entry
		if k == base || strings.HasPrefix(k, base+"__") {
			delete(h.env, k)
		}
	}
	for k, v := range f {
		h.env[h.b.VarName(path, k)] = v
	}
	return 0, nil
}

func (h *harness) Capabilities() drivertest.Capabilities { return drivertest.Capabilities{} }
func (h *harness) Close()                                {}

func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, func(context.Context, *testing.T) (drivertest.Harness, error) {
		return newHarness(), nil
	})
}

func TestVarName(t *testing.T) {
	tests := []struct {
		prefix, path, key, want string
	}{
		{"", "myapp/db", "", "MYAPP_DB"},
		{"", "myapp/db", "value", "MYAPP_DB"},
		{"", "myapp/db", "password", "MYAPP_DB__PASSWORD"},
		{"APP_", "/payments/api-key", "", "APP_PAYMENTS_API_KEY"},
		{"APP_", "a.b/c9", "Key-1", "APP_A_B_C9__KEY_1"},
		{"", "päss", "", "P__SS"}, // non-ASCII bytes become '_'
	}
	for _, tc := range tests {
		b := envsecrets.New(&envsecrets.Options{Prefix: tc.prefix})
		if got := b.VarName(tc.path, tc.key); got != tc.want {
			t.Errorf("VarName(%q, %q) with prefix %q = %q, want %q", tc.path, tc.key, tc.prefix, got, tc.want)
		}
	}
}

// TestProcessEnvironment uses the real environment (os.Environ default).
func TestProcessEnvironment(t *testing.T) {
	t.Setenv("VLTEST_MYAPP_DB", "dflt")
	t.Setenv("VLTEST_MYAPP_DB__PASSWORD", "pw")
	t.Setenv("VLTEST_MYAPP_DB__USER_NAME", "app")
	t.Setenv("VLTEST_MYAPP_DBX__OTHER", "no")
	b := envsecrets.New(&envsecrets.Options{Prefix: "VLTEST_"})
	tests := []struct {
		path     string
		version  int
		want     map[string]string
		wantCode driver.Code
	}{
		{"myapp/db", 0, map[string]string{"value": "dflt", "password": "pw", "user_name": "app"}, driver.OK},
		{"myapp/missing", 0, nil, driver.NotFound},
		{"myapp/db", 2, nil, driver.NotFound},
	}
	for _, tc := range tests {
		e, err := b.Read(t.Context(), tc.path, tc.version)
		if driver.CodeOf(err) != tc.wantCode {
			t.Errorf("Read(%q, %d) error = %v, want code %v", tc.path, tc.version, err, tc.wantCode)
			continue
		}
		if err == nil {
			if diff := cmp.Diff(tc.want, e.Fields); diff != "" {
				t.Errorf("Read(%q) fields mismatch (-want +got):\n%s", tc.path, diff)
			}
		}
	}
	if b.Name() != "env" {
		t.Errorf("Name() = %q, want env", b.Name())
	}
}
