package drivertest_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
	return drivertest.Capabilities{Versions: true, AnnouncesChanges: true}
}
func (h *harness) DeleteLatest(_ context.Context, p string) error {
	h.mem.DeleteVersion(p, 0)
	return nil
}
func (h *harness) DestroyLatest(_ context.Context, p string) error {
	h.mem.DestroyVersion(p, 0)
	return nil
}
func (h *harness) Close() {}

var roleSeq atomic.Int64

func (h *harness) LeasePath(_ context.Context, ttl, maxTTL time.Duration) (string, error) {
	p := fmt.Sprintf("database/creds/role%d", roleSeq.Add(1))
	h.mem.SetRole(p, memsecrets.Role{TTL: ttl, MaxTTL: maxTTL})
	return p, nil
}

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

// stickyListeners cannot remove a registration.
type stickyListeners struct{ *memsecrets.Backend }

func (b stickyListeners) OnChange(fn func(string)) func() {
	b.Backend.OnChange(fn)
	return func() {}
}

// staleVersion reports the first version for ever.
type staleVersion struct{ *memsecrets.Backend }

func (b staleVersion) CurrentVersion(ctx context.Context, p string) (driver.VersionState, error) {
	st, err := b.Backend.CurrentVersion(ctx, p)
	if err == nil {
		st.Version = 1
	}
	return st, err
}

// deletedIsFine reports a deleted or destroyed latest version as readable.
type deletedIsFine struct{ *memsecrets.Backend }

func (b deletedIsFine) CurrentVersion(ctx context.Context, p string) (driver.VersionState, error) {
	st, err := b.Backend.CurrentVersion(ctx, p)
	return driver.VersionState{Version: st.Version}, err
}

// quietToOthers announces only changes made through its own Write.
type quietToOthers struct {
	*memsecrets.Backend
	ls notifyList
}

type notifyList struct {
	mu  sync.Mutex
	fns []func(string)
}

func (b *quietToOthers) OnChange(fn func(string)) func() {
	b.ls.mu.Lock()
	b.ls.fns = append(b.ls.fns, fn)
	b.ls.mu.Unlock()
	return func() {}
}

// keepsRevoked answers RevokeLease without revoking.
type keepsRevoked struct{ *memsecrets.Backend }

func (keepsRevoked) RevokeLease(context.Context, string) error { return nil }

// uncapped ignores the max TTL: it grants every increment in full.
type uncapped struct{ *memsecrets.Backend }

func (b uncapped) RenewLease(ctx context.Context, id string, inc time.Duration) (*driver.Lease, error) {
	l, err := b.Backend.RenewLease(ctx, id, inc)
	if err == nil && inc > 0 {
		l.Duration = inc
	}
	return l, err
}

// unknownIsInvalid answers a renewal of a lost lease with InvalidArgument.
type unknownIsInvalid struct{ *memsecrets.Backend }

func (b unknownIsInvalid) RenewLease(ctx context.Context, id string, inc time.Duration) (*driver.Lease, error) {
	l, err := b.Backend.RenewLease(ctx, id, inc)
	if driver.CodeOf(err) == driver.NotFound {
		return nil, driver.NewError(driver.InvalidArgument, err)
	}
	return l, err
}

var broken = map[string]func(*memsecrets.Backend) driver.Backend{
	"ChangeNotifier":   func(m *memsecrets.Backend) driver.Backend { return stickyListeners{m} },
	"LeaseRevoke":      func(m *memsecrets.Backend) driver.Backend { return keepsRevoked{m} },
	"LeaseRenewCapped": func(m *memsecrets.Backend) driver.Backend { return uncapped{m} },
	"LeaseUnknown":     func(m *memsecrets.Backend) driver.Backend { return unknownIsInvalid{m} },
	"NotFound":         func(m *memsecrets.Backend) driver.Backend { return nilNotFound{m} },
	"EntriesNotShared": func(m *memsecrets.Backend) driver.Backend {
		return &shared{Backend: m, seen: map[string]*driver.Entry{}}
	},
	"CanceledContext":  func(m *memsecrets.Backend) driver.Backend { return deafToContext{m} },
	"Versions":         func(m *memsecrets.Backend) driver.Backend { return noVersions{m} },
	"Versioner":        func(m *memsecrets.Backend) driver.Backend { return staleVersion{m} },
	"VersionerDeleted": func(m *memsecrets.Backend) driver.Backend { return deletedIsFine{m} },
	"ChangeAnnounced":  func(m *memsecrets.Backend) driver.Backend { return &quietToOthers{Backend: m} },
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

// A Leaser whose harness cannot make lease paths fails the lease cases
// rather than skipping them.
type noLeaseHarness struct{ h *harness }

func (n noLeaseHarness) MakeBackend(ctx context.Context) (driver.Backend, error) {
	return n.h.MakeBackend(ctx)
}
func (n noLeaseHarness) Put(ctx context.Context, p string, f map[string]any) (int, error) {
	return n.h.Put(ctx, p, f)
}
func (n noLeaseHarness) Capabilities() drivertest.Capabilities { return n.h.Capabilities() }
func (n noLeaseHarness) Close()                                {}

func TestLeaserWithoutLeaseHarnessChild(t *testing.T) {
	if os.Getenv("DRIVERTEST_NOLEASEHARNESS") == "" {
		t.Skip("run by TestLeaserNeedsLeaseHarness")
	}
	drivertest.RunConformanceTests(t, func(context.Context, *testing.T) (drivertest.Harness, error) {
		return noLeaseHarness{&harness{mem: memsecrets.New(nil), make: func(m *memsecrets.Backend) driver.Backend { return m }}}, nil
	})
}

func TestLeaserNeedsLeaseHarness(t *testing.T) {
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestLeaserWithoutLeaseHarnessChild$", "-test.v")
	cmd.Env = append(os.Environ(), "DRIVERTEST_NOLEASEHARNESS=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("conformance suite passed a Leaser without a LeaseHarness:\n%s", out)
	}
	if want := "--- FAIL: TestLeaserWithoutLeaseHarnessChild/LeaseIssue"; !strings.Contains(string(out), want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
}
