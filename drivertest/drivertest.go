// Package drivertest is the conformance suite every vaultly backend passes.
//
// A backend's test file provides a HarnessMaker and calls
// RunConformanceTests from a test function:
//
//	func TestConformance(t *testing.T) {
//		drivertest.RunConformanceTests(t, func(ctx context.Context, t *testing.T) (drivertest.Harness, error) {
//			return newHarness(t), nil
//		})
//	}
//
// The suite checks the driver.Backend contract (NotFound is an error, JSON
// values arrive as their JSON text, entries are not shared between reads,
// context cancellation, concurrent use) and, when the backend implements
// them, versions, driver.Writer, driver.Lister, driver.ChangeNotifier
// (and, with Capabilities.AnnouncesChanges, that changes made around the
// backend are announced), driver.Versioner (soft-deleted and destroyed
// versions when the harness implements VersionHarness),
// driver.Leaser (whose harness implements LeaseHarness as well) and
// driver.CertIssuer (whose harness implements CertHarness). Subtests
// use paths under "conformance/<subtest>/" so a harness may share one server
// between them. A backend that implements an optional interface always runs
// its cases: a Leaser whose harness is no LeaseHarness fails.
package drivertest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vaultly/vaultly/driver"
)

// Harness gives the suite a backend and a way to seed its data.
type Harness interface {
	// MakeBackend returns a backend over the harness's data. The suite
	// closes it at the end of the subtest.
	MakeBackend(ctx context.Context) (driver.Backend, error)

	// Put stores fields as the entry at path (a new version if the backend
	// has versions) by the harness's own means, and returns the version
	// created (0 if the backend has no versions). Values are strings or
	// JSON values (float64, bool, nil, map[string]any, []any).
	Put(ctx context.Context, path string, fields map[string]any) (version int, err error)

	// Capabilities says which optional behaviour to test.
	Capabilities() Capabilities

	// Close releases what the harness holds. Called once per subtest.
	Close()
}

// Capabilities lists optional behaviour a backend supports.
type Capabilities struct {
	// Versions: Put creates numbered versions from 1, Read(path, n) returns
	// version n, Read(path, 0) the latest and Entry.Version is set.
	Versions bool
	// AnnouncesChanges: the backend is a driver.ChangeNotifier that also
	// announces changes made by other means (the harness's Put), at the
	// latest during its next Read (memsecrets, filesecrets).
	AnnouncesChanges bool
}

// LeaseHarness is implemented by the Harness of a backend that implements
// driver.Leaser.
type LeaseHarness interface {
	// LeasePath makes a path where IssueLease issues secrets bound to
	// renewable leases of ttl, which no renewal extends past maxTTL after
	// their issue, and returns it. ttl and maxTTL are whole seconds, at
	// least one minute.
	LeasePath(ctx context.Context, ttl, maxTTL time.Duration) (string, error)
}

// HarnessMaker returns a new Harness for one subtest.
type HarnessMaker func(ctx context.Context, t *testing.T) (Harness, error)

// RunConformanceTests runs the suite against the backend newHarness makes.
func RunConformanceTests(t *testing.T, newHarness HarnessMaker) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness, b driver.Backend)
	}{
		{"Name", testName},
		{"NotFound", testNotFound},
		{"ReadFields", testReadFields},
		{"JSONValuesAsText", testJSONValues},
		{"NestedPaths", testNestedPaths},
		{"Overwrite", testOverwrite},
		{"EntriesNotShared", testNotShared},
		{"CanceledContext", testCanceled},
		{"ConcurrentReads", testConcurrent},
		{"Versions", testVersions},
		{"Writer", testWriter},
		{"Lister", testLister},
		{"ChangeNotifier", testChangeNotifier},
		{"ChangeAnnounced", testChangeAnnounced},
		{"Versioner", testVersioner},
		{"VersionerDeleted", testVersionerDeleted},
		{"VersionerCanceledContext", testVersionerCanceled},
		{"LeaseIssue", testLeaseIssue},
		{"LeaseRenew", testLeaseRenew},
		{"LeaseRenewCapped", testLeaseRenewCapped},
		{"LeaseRevoke", testLeaseRevoke},
		{"LeaseUnknown", testLeaseUnknown},
		{"LeaseCanceledContext", testLeaseCanceled},
		{"CertIssue", testCertIssue},
		{"CertSign", testCertSign},
		{"CertRevoke", testCertRevoke},
		{"CertUnknownRole", testCertUnknownRole},
		{"CertCanceledContext", testCertCanceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			h, err := newHarness(ctx, t)
			if err != nil {
				t.Fatalf("making harness: %v", err)
			}
			defer h.Close()
			b, err := h.MakeBackend(ctx)
			if err != nil {
				t.Fatalf("MakeBackend: %v", err)
			}
			defer func() {
				if err := b.Close(); err != nil {
					t.Errorf("backend Close: %v", err)
				}
			}()
			tc.fn(t, h, b)
		})
	}
}

// path returns a path unique to the running subtest.
func path(t *testing.T, rest string) string {
	name := t.Name()
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	return "conformance/" + strings.ToLower(name) + "/" + rest
}

func put(t *testing.T, h Harness, p string, fields map[string]any) int {
	t.Helper()
	v, err := h.Put(t.Context(), p, fields)
	if err != nil {
		t.Fatalf("harness Put(%q): %v", p, err)
	}
	return v
}

func read(t *testing.T, b driver.Backend, p string, v int) *driver.Entry {
	t.Helper()
	e, err := b.Read(t.Context(), p, v)
	if err != nil {
		t.Fatalf("Read(%q, %d) error: %v", p, v, err)
	}
	if e == nil {
		t.Fatalf("Read(%q, %d) = nil entry, nil error", p, v)
	}
	if e.Fields == nil {
		t.Fatalf("Read(%q, %d).Fields = nil, want non-nil", p, v)
	}
	return e
}

func wantCode(t *testing.T, what string, err error, want ...driver.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s error = nil, want code %v", what, want)
	}
	if got := driver.CodeOf(err); !slices.Contains(want, got) {
		t.Errorf("%s error code = %v (%v), want %v", what, got, err, want)
	}
}

func testName(t *testing.T, _ Harness, b driver.Backend) {
	n := b.Name()
	if n == "" || n != strings.ToLower(n) || strings.ContainsAny(n, " \t\n") {
		t.Errorf("Name() = %q, want a short lowercase name without spaces", n)
	}
}

func testNotFound(t *testing.T, h Harness, b driver.Backend) {
	p := path(t, "missing")
	e, err := b.Read(t.Context(), p, 0)
	if e != nil {
		t.Errorf("Read(%q) entry = %+v, want nil", p, e)
	}
	wantCode(t, fmt.Sprintf("Read(%q)", p), err, driver.NotFound)

	// A sibling existing must not make the missing one found.
	put(t, h, path(t, "present"), map[string]any{"value": "x"})
	_, err = b.Read(t.Context(), p, 0)
	wantCode(t, fmt.Sprintf("Read(%q) with a sibling", p), err, driver.NotFound)
}

func testReadFields(t *testing.T, h Harness, b driver.Backend) {
	tests := []struct {
		name   string
		fields map[string]any
		want   map[string]string
	}{
		{"single", map[string]any{"value": "hunter2"}, map[string]string{"value": "hunter2"}},
		{"several", map[string]any{"username": "app", "password": "p@ss:w/ord"},
			map[string]string{"username": "app", "password": "p@ss:w/ord"}},
		{"empty string", map[string]any{"value": ""}, map[string]string{"value": ""}},
		{"unicode and spaces", map[string]any{"value": "päss wörd ✓"}, map[string]string{"value": "päss wörd ✓"}},
		{"multiline", map[string]any{"value": "line1\nline2"}, map[string]string{"value": "line1\nline2"}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := path(t, fmt.Sprintf("e%d", i))
			put(t, h, p, tc.fields)
			e := read(t, b, p, 0)
			if e.Path != p {
				t.Errorf("Read(%q).Path = %q, want %q", p, e.Path, p)
			}
			if diff := cmp.Diff(tc.want, e.Fields); diff != "" {
				t.Errorf("Read(%q).Fields mismatch (-want +got):\n%s", p, diff)
			}
		})
	}
}

func testJSONValues(t *testing.T, h Harness, b driver.Backend) {
	p := path(t, "typed")
	put(t, h, p, map[string]any{
		"int":    float64(42),
		"float":  1.5,
		"bool":   true,
		"false":  false,
		"null":   nil,
		"object": map[string]any{"a": float64(1)},
		"array":  []any{float64(1), "x"},
		"str":    "42",
	})
	want := map[string]string{
		"int":    "42",
		"float":  "1.5",
		"bool":   "true",
		"false":  "false",
		"null":   "null",
		"object": `{"a":1}`,
		"array":  `[1,"x"]`,
		"str":    "42",
	}
	e := read(t, b, p, 0)
	if diff := cmp.Diff(want, e.Fields); diff != "" {
		t.Errorf("Read(%q).Fields mismatch (-want +got):\n%s", p, diff)
	}
}

func testNestedPaths(t *testing.T, h Harness, b driver.Backend) {
	paths := []string{path(t, "a"), path(t, "a/b"), path(t, "a/b/c")}
	for i, p := range paths {
		put(t, h, p, map[string]any{"value": fmt.Sprint("v", i)})
	}
	for i, p := range paths {
		if got, want := read(t, b, p, 0).Fields["value"], fmt.Sprint("v", i); got != want {
			t.Errorf("Read(%q).Fields[value] = %q, want %q", p, got, want)
		}
	}
}

func testOverwrite(t *testing.T, h Harness, b driver.Backend) {
	p := path(t, "e")
	put(t, h, p, map[string]any{"value": "one", "other": "x"})
	put(t, h, p, map[string]any{"value": "two"})
	e := read(t, b, p, 0)
	if diff := cmp.Diff(map[string]string{"value": "two"}, e.Fields); diff != "" {
		t.Errorf("Read(%q) after overwrite mismatch (-want +got):\n%s", p, diff)
	}
}

func testNotShared(t *testing.T, h Harness, b driver.Backend) {
	p := path(t, "e")
	put(t, h, p, map[string]any{"value": "orig"})
	e := read(t, b, p, 0)
	e.Fields["value"] = "changed"
	e.Fields["extra"] = "x"
	if got := read(t, b, p, 0).Fields; !cmp.Equal(got, map[string]string{"value": "orig"}) {
		t.Errorf("Read(%q) after modifying a previous result = %v, want {value: orig}", p, got)
	}
}

func testCanceled(t *testing.T, h Harness, b driver.Backend) {
	p := path(t, "e")
	put(t, h, p, map[string]any{"value": "x"})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	e, err := b.Read(ctx, p, 0)
	if e != nil {
		t.Errorf("Read with cancelled context entry = %+v, want nil", e)
	}
	wantCode(t, "Read with cancelled context", err, driver.Canceled, driver.DeadlineExceeded)
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Read with cancelled context error = %v, want errors.Is context.Canceled", err)
	}
}

func testConcurrent(t *testing.T, h Harness, b driver.Backend) {
	const n = 4
	for i := range n {
		put(t, h, path(t, fmt.Sprint("e", i)), map[string]any{"value": fmt.Sprint("v", i)})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20*n)
	for g := range 20 {
		wg.Go(func() {
			for i := range n {
				k := (g + i) % n
				p := path(t, fmt.Sprint("e", k))
				e, err := b.Read(t.Context(), p, 0)
				if err != nil {
					errs <- fmt.Errorf("Read(%q): %w", p, err)
					return
				}
				if got, want := e.Fields["value"], fmt.Sprint("v", k); got != want {
					errs <- fmt.Errorf("Read(%q).Fields[value] = %q, want %q", p, got, want)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func testVersions(t *testing.T, h Harness, b driver.Backend) {
	p := path(t, "e")
	v1 := put(t, h, p, map[string]any{"value": "one"})
	v2 := put(t, h, p, map[string]any{"value": "two"})
	if !h.Capabilities().Versions {
		// Without versions the latest value still wins.
		if got := read(t, b, p, 0).Fields["value"]; got != "two" {
			t.Errorf("Read(%q, 0).Fields[value] = %q, want %q", p, got, "two")
		}
		return
	}
	if v1 < 1 || v2 != v1+1 {
		t.Fatalf("harness Put versions = %d, %d; want n, n+1 with n >= 1", v1, v2)
	}
	tests := []struct {
		version     int
		wantValue   string
		wantVersion int
	}{
		{0, "two", v2},
		{v1, "one", v1},
		{v2, "two", v2},
	}
	for _, tc := range tests {
		e := read(t, b, p, tc.version)
		if e.Fields["value"] != tc.wantValue || e.Version != tc.wantVersion {
			t.Errorf("Read(%q, %d) = value %q version %d, want %q version %d",
				p, tc.version, e.Fields["value"], e.Version, tc.wantValue, tc.wantVersion)
		}
	}
	_, err := b.Read(t.Context(), p, v2+10)
	wantCode(t, fmt.Sprintf("Read(%q, %d)", p, v2+10), err, driver.NotFound)
}

func testWriter(t *testing.T, h Harness, b driver.Backend) {
	w, ok := b.(driver.Writer)
	if !ok {
		t.Skipf("%T does not implement driver.Writer", b)
	}
	p := path(t, "e")
	if err := w.Write(t.Context(), p, map[string]any{"user": "app", "port": 5432, "on": true}); err != nil {
		t.Fatalf("Write(%q): %v", p, err)
	}
	want := map[string]string{"user": "app", "port": "5432", "on": "true"}
	if diff := cmp.Diff(want, read(t, b, p, 0).Fields); diff != "" {
		t.Errorf("Read(%q) after Write mismatch (-want +got):\n%s", p, diff)
	}
	if err := w.Delete(t.Context(), p); err != nil {
		t.Fatalf("Delete(%q): %v", p, err)
	}
	_, err := b.Read(t.Context(), p, 0)
	wantCode(t, fmt.Sprintf("Read(%q) after Delete", p), err, driver.NotFound)
}

func testLister(t *testing.T, h Harness, b driver.Backend) {
	l, ok := b.(driver.Lister)
	if !ok {
		t.Skipf("%T does not implement driver.Lister", b)
	}
	base := strings.TrimSuffix(path(t, ""), "/")
	put(t, h, base+"/x", map[string]any{"value": "1"})
	put(t, h, base+"/y/z", map[string]any{"value": "2"})
	got, err := l.List(t.Context(), base)
	if err != nil {
		t.Fatalf("List(%q): %v", base, err)
	}
	slices.Sort(got)
	if diff := cmp.Diff([]string{"x", "y/"}, got); diff != "" {
		t.Errorf("List(%q) mismatch (-want +got):\n%s", base, diff)
	}
}

func testChangeNotifier(t *testing.T, h Harness, b driver.Backend) {
	cn, ok := b.(driver.ChangeNotifier)
	if !ok {
		t.Skipf("%T does not implement driver.ChangeNotifier", b)
	}
	w, ok := b.(driver.Writer)
	if !ok {
		t.Skipf("%T implements driver.ChangeNotifier but not driver.Writer: the suite has no way to make a change", b)
	}
	var mu sync.Mutex
	got := map[string][]string{}
	rec := func(name string) func(string) {
		return func(p string) {
			mu.Lock()
			got[name] = append(got[name], p)
			mu.Unlock()
		}
	}
	p := path(t, "e")
	removeA := cn.OnChange(rec("a"))
	removeB := cn.OnChange(rec("b"))
	write := func(value string) {
		t.Helper()
		if err := w.Write(t.Context(), p, map[string]any{"value": value}); err != nil {
			t.Fatalf("Write(%q): %v", p, err)
		}
	}
	write("1")
	removeA()
	removeA() // twice is fine
	write("2")
	if err := w.Delete(t.Context(), p); err != nil {
		t.Fatalf("Delete(%q): %v", p, err)
	}
	removeB()
	write("3")
	mu.Lock()
	defer mu.Unlock()
	want := map[string][]string{"a": {p}, "b": {p, p, p}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("OnChange calls per registration after write, remove a, write, delete, remove b, write (-want +got):\n%s", diff)
	}
}

// leaser returns b as a driver.Leaser with a LeaseHarness, or skips.
func leaser(t *testing.T, h Harness, b driver.Backend) (driver.Leaser, LeaseHarness) {
	t.Helper()
	l, ok := b.(driver.Leaser)
	if !ok {
		t.Skipf("%T does not implement driver.Leaser", b)
	}
	lh, ok := h.(LeaseHarness)
	if !ok {
		t.Fatalf("%T implements driver.Leaser but the harness %T is no drivertest.LeaseHarness", b, h)
	}
	return l, lh
}

func leasePath(t *testing.T, lh LeaseHarness, ttl, maxTTL time.Duration) string {
	t.Helper()
	p, err := lh.LeasePath(t.Context(), ttl, maxTTL)
	if err != nil {
		t.Fatalf("harness LeasePath(%v, %v): %v", ttl, maxTTL, err)
	}
	return p
}

func issue(t *testing.T, l driver.Leaser, p string) *driver.Entry {
	t.Helper()
	e, err := l.IssueLease(t.Context(), p)
	if err != nil {
		t.Fatalf("IssueLease(%q): %v", p, err)
	}
	if e == nil || e.Lease == nil || e.Lease.ID == "" {
		t.Fatalf("IssueLease(%q) = %v, want an entry with a lease ID", p, e)
	}
	return e
}

func testLeaseIssue(t *testing.T, h Harness, b driver.Backend) {
	l, lh := leaser(t, h, b)
	const ttl = time.Minute
	p := leasePath(t, lh, ttl, 2*ttl)
	e1, e2 := issue(t, l, p), issue(t, l, p)
	for i, e := range []*driver.Entry{e1, e2} {
		if len(e.Fields) == 0 {
			t.Errorf("issue %d: Fields empty, want the issued secret", i+1)
		}
		if d := e.Lease.Duration; d <= 0 || d > ttl {
			t.Errorf("issue %d: Lease.Duration = %v, want in (0, %v]", i+1, d, ttl)
		}
		if !e.Lease.Renewable {
			t.Errorf("issue %d: Lease.Renewable = false, want true", i+1)
		}
	}
	if e1.Lease.ID == e2.Lease.ID {
		t.Errorf("two issues at %q share the lease ID %q", p, e1.Lease.ID)
	}
	if cmp.Equal(e1.Fields, e2.Fields) {
		t.Errorf("two issues at %q returned the same fields (%v), want a new secret each", p, slices.Sorted(maps.Keys(e1.Fields)))
	}
	e1.Fields["extra"] = "x"
	if _, ok := issue(t, l, p).Fields["extra"]; ok {
		t.Error("a later issue sees a field added to an earlier entry")
	}
}

func testLeaseRenew(t *testing.T, h Harness, b driver.Backend) {
	l, lh := leaser(t, h, b)
	const ttl = time.Minute
	e := issue(t, l, leasePath(t, lh, ttl, 10*ttl))
	for _, inc := range []time.Duration{0, ttl, 2 * ttl} {
		got, err := l.RenewLease(t.Context(), e.Lease.ID, inc)
		if err != nil {
			t.Fatalf("RenewLease(%q, %v): %v", e.Lease.ID, inc, err)
		}
		want := inc
		if inc == 0 {
			want = ttl // the lease's own duration
		}
		// Vault counts whole seconds: a renewal may grant a second less.
		if got.Duration < want-time.Second || got.Duration > want {
			t.Errorf("RenewLease(%q, %v).Duration = %v, want %v (or 1s less)", e.Lease.ID, inc, got.Duration, want)
		}
		if !got.Renewable || got.ID != e.Lease.ID {
			t.Errorf("RenewLease(%q, %v) = ID %q renewable %v, want the same ID, renewable", e.Lease.ID, inc, got.ID, got.Renewable)
		}
	}
}

func testLeaseRenewCapped(t *testing.T, h Harness, b driver.Backend) {
	l, lh := leaser(t, h, b)
	const ttl, maxTTL = time.Minute, 2 * time.Minute
	e := issue(t, l, leasePath(t, lh, ttl, maxTTL))
	got, err := l.RenewLease(t.Context(), e.Lease.ID, time.Hour)
	if err != nil {
		t.Fatalf("RenewLease(%q, 1h): %v", e.Lease.ID, err)
	}
	// Capped at what is left of the max TTL; the test took less than a
	// minute to get here.
	if got.Duration <= maxTTL-time.Minute || got.Duration > maxTTL {
		t.Errorf("RenewLease(%q, 1h) on a lease with max TTL %v: Duration = %v, want in (%v, %v]", e.Lease.ID, maxTTL, got.Duration, maxTTL-time.Minute, maxTTL)
	}
}

func testLeaseRevoke(t *testing.T, h Harness, b driver.Backend) {
	l, lh := leaser(t, h, b)
	p := leasePath(t, lh, time.Minute, 2*time.Minute)
	e, other := issue(t, l, p), issue(t, l, p)
	if err := l.RevokeLease(t.Context(), e.Lease.ID); err != nil {
		t.Fatalf("RevokeLease(%q): %v", e.Lease.ID, err)
	}
	_, err := l.RenewLease(t.Context(), e.Lease.ID, 0)
	wantCode(t, fmt.Sprintf("RenewLease(%q) after RevokeLease", e.Lease.ID), err, driver.NotFound)
	if err := l.RevokeLease(t.Context(), e.Lease.ID); err != nil {
		t.Errorf("RevokeLease(%q) a second time = %v, want nil", e.Lease.ID, err)
	}
	if _, err := l.RenewLease(t.Context(), other.Lease.ID, 0); err != nil {
		t.Errorf("RenewLease(%q) of another lease after a revocation = %v, want nil", other.Lease.ID, err)
	}
}

func testLeaseUnknown(t *testing.T, h Harness, b driver.Backend) {
	l, lh := leaser(t, h, b)
	p := leasePath(t, lh, time.Minute, 2*time.Minute)
	e := issue(t, l, p)
	unknown := e.Lease.ID + "x"
	_, err := l.RenewLease(t.Context(), unknown, 0)
	wantCode(t, fmt.Sprintf("RenewLease(%q) of a lease never issued", unknown), err, driver.NotFound)
	if err := l.RevokeLease(t.Context(), unknown); err != nil {
		t.Errorf("RevokeLease(%q) of a lease never issued = %v, want nil", unknown, err)
	}
	missing := p + "-missing"
	_, err = l.IssueLease(t.Context(), missing)
	wantCode(t, fmt.Sprintf("IssueLease(%q)", missing), err, driver.NotFound, driver.InvalidArgument)
}

func testLeaseCanceled(t *testing.T, h Harness, b driver.Backend) {
	l, lh := leaser(t, h, b)
	p := leasePath(t, lh, time.Minute, 2*time.Minute)
	e := issue(t, l, p)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := l.IssueLease(ctx, p)
	wantCode(t, "IssueLease with a cancelled context", err, driver.Canceled)
	_, err = l.RenewLease(ctx, e.Lease.ID, 0)
	wantCode(t, "RenewLease with a cancelled context", err, driver.Canceled)
	err = l.RevokeLease(ctx, e.Lease.ID)
	wantCode(t, "RevokeLease with a cancelled context", err, driver.Canceled)
	if _, err := l.RenewLease(t.Context(), e.Lease.ID, 0); err != nil {
		t.Errorf("RenewLease after a cancelled RevokeLease = %v, want nil: the lease must still exist", err)
	}
}
