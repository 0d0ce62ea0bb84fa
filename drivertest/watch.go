package drivertest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/vaultly/vaultly/driver"
)

// VersionHarness is implemented by the Harness of a backend whose latest
// version can be soft-deleted and destroyed (Vault KV v2, memsecrets); the
// Versioner cases then check that CurrentVersion reports both.
type VersionHarness interface {
	// DeleteLatest soft-deletes the latest version of the entry at path.
	DeleteLatest(ctx context.Context, path string) error
	// DestroyLatest destroys the latest version of the entry at path.
	DestroyLatest(ctx context.Context, path string) error
}

// versioner returns b as a driver.Versioner, or skips.
func versioner(t *testing.T, b driver.Backend) driver.Versioner {
	t.Helper()
	v, ok := b.(driver.Versioner)
	if !ok {
		t.Skipf("%T does not implement driver.Versioner", b)
	}
	return v
}

func currentVersion(t *testing.T, v driver.Versioner, p string) driver.VersionState {
	t.Helper()
	st, err := v.CurrentVersion(t.Context(), p)
	if err != nil {
		t.Fatalf("CurrentVersion(%q): %v", p, err)
	}
	return st
}

// testVersioner: CurrentVersion reports what Read reports as the latest
// version, moves with every write, and reports a missing entry NotFound;
// or it reports Version 0 (no versions: nothing else is checked).
func testVersioner(t *testing.T, h Harness, b driver.Backend) {
	v := versioner(t, b)
	p := path(t, "e")
	v1 := put(t, h, p, map[string]any{"value": "one"})
	st := currentVersion(t, v, p)
	if !st.Readable() {
		t.Errorf("CurrentVersion(%q) after a write = %+v, want readable", p, st)
	}
	if st.Version == 0 {
		if h.Capabilities().Versions {
			t.Fatalf("CurrentVersion(%q).Version = 0 for a backend with versions, want %d", p, v1)
		}
		return // no versions: the Store compares content; nothing more to check
	}
	missing := path(t, "missing")
	_, err := v.CurrentVersion(t.Context(), missing)
	wantCode(t, fmt.Sprintf("CurrentVersion(%q) of a missing entry", missing), err, driver.NotFound)
	if e := read(t, b, p, 0); st.Version != e.Version || (v1 != 0 && st.Version != v1) {
		t.Errorf("CurrentVersion(%q).Version = %d; Read reports %d, the harness wrote %d", p, st.Version, e.Version, v1)
	}
	v2 := put(t, h, p, map[string]any{"value": "two"})
	st = currentVersion(t, v, p)
	if e := read(t, b, p, 0); st.Version != e.Version || st.Version <= v1 || (v2 != 0 && st.Version != v2) {
		t.Errorf("CurrentVersion(%q).Version after a second write = %d; Read reports %d, the harness wrote %d", p, st.Version, e.Version, v2)
	}
	if w, ok := b.(driver.Writer); ok {
		if err := w.Delete(t.Context(), p); err != nil {
			t.Fatalf("Delete(%q): %v", p, err)
		}
		_, err := v.CurrentVersion(t.Context(), p)
		wantCode(t, fmt.Sprintf("CurrentVersion(%q) after Delete", p), err, driver.NotFound)
	}
}

// testVersionerDeleted: a soft-deleted and a destroyed latest version are
// reported as such (VersionHarness), with the version number.
func testVersionerDeleted(t *testing.T, h Harness, b driver.Backend) {
	v := versioner(t, b)
	vh, ok := h.(VersionHarness)
	if !ok {
		t.Skipf("the harness %T is no drivertest.VersionHarness", h)
	}
	p := path(t, "e")
	put(t, h, p, map[string]any{"value": "one"})
	n := currentVersion(t, v, p).Version
	if n == 0 {
		t.Skip("the backend keeps no versions here")
	}
	if err := vh.DeleteLatest(t.Context(), p); err != nil {
		t.Fatalf("harness DeleteLatest(%q): %v", p, err)
	}
	if st := currentVersion(t, v, p); st != (driver.VersionState{Version: n, Deleted: true}) {
		t.Errorf("CurrentVersion(%q) after soft delete = %+v, want version %d deleted", p, st, n)
	}
	_, err := b.Read(t.Context(), p, 0)
	wantCode(t, fmt.Sprintf("Read(%q) of a deleted latest version", p), err, driver.NotFound)
	put(t, h, p, map[string]any{"value": "two"})
	n = currentVersion(t, v, p).Version
	if err := vh.DestroyLatest(t.Context(), p); err != nil {
		t.Fatalf("harness DestroyLatest(%q): %v", p, err)
	}
	if st := currentVersion(t, v, p); st != (driver.VersionState{Version: n, Destroyed: true}) {
		t.Errorf("CurrentVersion(%q) after destroy = %+v, want version %d destroyed", p, st, n)
	}
}

// testVersionerCanceled: a cancelled context fails CurrentVersion.
func testVersionerCanceled(t *testing.T, h Harness, b driver.Backend) {
	v := versioner(t, b)
	p := path(t, "e")
	put(t, h, p, map[string]any{"value": "one"})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := v.CurrentVersion(ctx, p)
	wantCode(t, fmt.Sprintf("CurrentVersion(%q) with a cancelled context", p), err, driver.Canceled)
}

// testChangeAnnounced: a backend that says it announces changes made by
// other means (Capabilities.AnnouncesChanges) has told its ChangeNotifier
// functions about a change made by the harness by the time its next Read
// returns.
func testChangeAnnounced(t *testing.T, h Harness, b driver.Backend) {
	if !h.Capabilities().AnnouncesChanges {
		t.Skip("the backend does not announce changes made around it")
	}
	cn, ok := b.(driver.ChangeNotifier)
	if !ok {
		t.Fatalf("Capabilities.AnnouncesChanges but %T is no driver.ChangeNotifier", b)
	}
	p := path(t, "e")
	put(t, h, p, map[string]any{"value": "one"})
	read(t, b, p, 0)
	var mu sync.Mutex
	var got []string
	remove := cn.OnChange(func(changed string) {
		mu.Lock()
		got = append(got, changed)
		mu.Unlock()
	})
	defer remove()
	put(t, h, p, map[string]any{"value": "two"})
	if e := read(t, b, p, 0); e.Fields["value"] != "two" {
		t.Fatalf("Read(%q) after the harness changed it = %q, want two", p, e.Fields["value"])
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(got, p) {
		t.Errorf("OnChange calls after the harness changed %q and a Read = %q, want %q among them", p, got, p)
	}
}
