package drivertest_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/drivertest"
	"github.com/vaultly/vaultly/memsecrets"
)

// The suite must fail on backends that break the contract. Each broken
// backend runs the suite in a child process (so that its failures do not
// fail this test), and this test checks that the right subtest failed.

type harness struct {
	mem  *memsecrets.Backend
	make func(*memsecrets.Backend) driver.Backend
}

func (h *harness) MakeBackend(context.Context) (driver.Backend, error) { return h.make(h.mem), nil }
func (h *harness) Put(_ context.Context, p string, f map[string]any) (int, error) {
	return h.mem.Set(p, f), nil
}
func (h *harness) Capabilities() drivertest.Capabilities {
	return drivertest.Capabilities{Versions: true}
}
func (h *harness) Close() {}

// nilNotFound answers a missing entry with an empty entry and no error.
type nilNotFound struct{ *memsecrets.Backend }

func (b nilNotFound) Read(ctx context.Context, p string, v int) (*driver.Entry, error) {
	e, err := b.Backend.Read(ctx, p, v)
	if driver.CodeOf(err) == driver.NotFound {
		return &driver.Entry{Path: p, Fields: map[string]string{}}, nil
	}
	return e, err
}

// shared returns the same Entry to every reader of a path.
type shared struct {
	*memsecrets.Backend
	mu   sync.Mutex
	seen map[string]*driver.Entry
}

func (b *shared) Read(ctx context.Context, p string, v int) (*driver.Entry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.seen[p]; ok {
		return e, nil
	}
	e, err := b.Backend.Read(ctx, p, v)
	if err == nil {
		b.seen[p] = e
	}
	return e, err
}

// deafToContext ignores the caller's context.
type deafToContext struct{ *memsecrets.Backend }

func (b deafToContext) Read(_ context.Context, p string, v int) (*driver.Entry, error) {
	return b.Backend.Read(context.Background(), p, v)
}

// noVersions ignores the version asked for.
type noVersions struct{ *memsecrets.Backend }

func (b noVersions) Read(ctx context.Context, p string, _ int) (*driver.Entry, error) {
	return b.Backend.Read(ctx, p, 0)
}

var broken = map[string]func(*memsecrets.Backend) driver.Backend{
	"NotFound": func(m *memsecrets.Backend) driver.Backend { return nilNotFound{m} },
	"EntriesNotShared": func(m *memsecrets.Backend) driver.Backend {
		return &shared{Backend: m, seen: map[string]*driver.Entry{}}
	},
	"CanceledContext": func(m *memsecrets.Backend) driver.Backend { return deafToContext{m} },
	"Versions":        func(m *memsecrets.Backend) driver.Backend { return noVersions{m} },
}

func TestBrokenBackendChild(t *testing.T) {
	name := os.Getenv("DRIVERTEST_BROKEN")
	if name == "" {
		t.Skip("run by TestSuiteCatchesBrokenBackends")
	}
	drivertest.RunConformanceTests(t, func(context.Context, *testing.T) (drivertest.Harness, error) {
		return &harness{mem: memsecrets.New(nil), make: broken[name]}, nil
	})
}

func TestSuiteCatchesBrokenBackends(t *testing.T) {
	for name := range broken {
		t.Run(name, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestBrokenBackendChild$", "-test.v")
			cmd.Env = append(os.Environ(), "DRIVERTEST_BROKEN="+name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("conformance suite passed a backend broken in %s:\n%s", name, out)
			}
			if want := "--- FAIL: TestBrokenBackendChild/" + name; !strings.Contains(string(out), want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		})
	}
}

func TestSuitePassesMemsecrets(t *testing.T) {
	drivertest.RunConformanceTests(t, func(context.Context, *testing.T) (drivertest.Harness, error) {
		return &harness{mem: memsecrets.New(nil), make: func(m *memsecrets.Backend) driver.Backend { return m }}, nil
	})
}
