package vaultly_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/memsecrets"
)

// snapDirs makes a snapshot directory and, elsewhere, a 0600 key file.
func snapDirs(t *testing.T) (snap, keyFile string) {
	t.Helper()
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "state"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	keyFile = filepath.Join(root, "keys", "snapshot.key")
	writeKey(t, keyFile)
	return filepath.Join(root, "state", "secrets.snap"), keyFile
}

func newKey() string {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return hex.EncodeToString(k)
}

func writeKey(t *testing.T, name string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(newKey()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// canary values: a test greps the snapshot file for each.
var snapCanaries = map[string]string{
	"app/db":  "canary-db-password-7d1f",
	"app/api": "canary-api-key-93ab",
	"app/tls": "canary-tls-seed-c04e",
}

// writeSnapshot reads the canary entries through a Store with a snapshot
// and closes it, which writes the file.
func writeSnapshot(t *testing.T, mem *memsecrets.Backend, o *vaultly.SnapshotOptions) {
	t.Helper()
	for p, v := range snapCanaries {
		mem.Set(p, map[string]any{"value": v, "user": "app"})
	}
	s := vaultly.New(mem, &vaultly.Options{Snapshot: o, Logger: quiet, KeepBackendOpen: true})
	for p := range snapCanaries {
		if _, err := s.Get(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if info := s.Snapshot(); info.SaveErr != nil || info.SavedAt.IsZero() {
		t.Fatalf("Snapshot() after Close = %+v, want a successful save", info)
	}
}

func TestSnapshotOfflineStart(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		path, keyFile := snapDirs(t)
		o := &vaultly.SnapshotOptions{Path: path, KeyFile: keyFile}
		mem := memsecrets.New(nil)
		mem.SetRole("database/creds/app", memsecrets.Role{TTL: time.Hour})
		// Dynamic credentials read through the same Store are never
		// written: only the three KV entries are.
		func() {
			s := vaultly.New(mem, &vaultly.Options{Snapshot: o, Logger: quiet, KeepBackendOpen: true})
			defer s.Close()
			d, err := vaultly.OpenDynamic[vaultly.DatabaseCredentials](t.Context(), s, "database/creds/app", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close(context.Background())
		}()
		writeSnapshot(t, mem, o)
		readAt := time.Now()

		// The file: 0600, ciphertext only.
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("snapshot mode = %v, want 0600", st.Mode().Perm())
		}
		data, _ := os.ReadFile(path)
		key, _ := os.ReadFile(keyFile)
		for _, c := range append(mapValues(snapCanaries), "app/db", "database/creds", "password", strings.TrimSpace(string(key))) {
			if bytes.Contains(data, []byte(c)) {
				t.Errorf("the snapshot file contains %q in clear", c)
			}
		}
		entries, _ := os.ReadDir(filepath.Dir(path))
		if len(entries) != 1 {
			t.Errorf("snapshot directory holds %d files, want only the snapshot (no key, no temporary file)", len(entries))
		}

		// A new Store while the backend is down starts from it.
		time.Sleep(time.Hour) // an hour later, within the default MaxAge
		for p := range snapCanaries {
			mem.Set(p, map[string]any{"value": "new-" + p})
		}
		mem.SetError("", driver.NewError(driver.Unavailable, errors.New("connection refused")))
		calls := len(mem.Calls())
		s := vaultly.New(mem, &vaultly.Options{Snapshot: o, Logger: quiet, KeepBackendOpen: true})
		defer s.Close()
		if info := s.Snapshot(); info.Loaded != len(snapCanaries) || info.LoadErr != nil {
			t.Fatalf("Snapshot() = %+v, want %d entries loaded (the KV entries only, no dynamic credentials)", info, len(snapCanaries))
		}
		type config struct { // app/tls is in the snapshot, not read during the outage
			DB  vaultly.Value `secret:"app/db"`
			API string        `secret:"app/api"`
		}
		var cfg config
		start := time.Now()
		if err := s.Load(t.Context(), &cfg, nil); err != nil {
			t.Fatalf("Load while the backend is down = %v, want the snapshot's values", err)
		}
		if d := time.Since(start); d > 200*time.Millisecond {
			t.Errorf("Load from the snapshot took %v, want < 200ms (until the outage breaker opens)", d)
		}
		if cfg.DB.Reveal() != snapCanaries["app/db"] || cfg.API != snapCanaries["app/api"] {
			t.Errorf("Load = %v %q, want the snapshot's values", cfg.DB.Reveal(), cfg.API)
		}
		f, err := s.Freshness("app/db")
		if err != nil || f.StaleSince.IsZero() || !f.ReadAt.Equal(readAt) {
			t.Errorf("Freshness(app/db) = %+v, %v; want stale, read at %v (when the first Store read it)", f, err, readAt)
		}
		if got := len(mem.Calls()) - calls; got > 10 {
			t.Errorf("%d backend calls during the offline start, want a few", got)
		}

		// The backend answers: every snapshot entry is read again, even
		// app/tls, which nobody asked for.
		mem.SetError("", nil)
		back := time.Now()
		time.Sleep(time.Second)
		for p := range snapCanaries {
			f, _ := s.Freshness(p)
			if !f.StaleSince.IsZero() || !f.ReadAt.After(back) {
				t.Errorf("Freshness(%s) a second after the backend came back = %+v, want read again, not stale", p, f)
			}
			if v, err := s.Get(t.Context(), p); err != nil || v != "new-"+p {
				t.Errorf("Get(%s) after the backend came back = %q, %v; want the new value", p, v, err)
			}
		}
	})
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func TestSnapshotRefused(t *testing.T) {
	t.Parallel()
	down := driver.NewError(driver.Unavailable, errors.New("connection refused"))
	tests := []struct {
		name     string
		change   func(t *testing.T, path, keyFile string, o *vaultly.SnapshotOptions)
		wantKind error
		wantCode vaultly.Code
	}{
		{"wrong key", func(t *testing.T, _, keyFile string, _ *vaultly.SnapshotOptions) { writeKey(t, keyFile) }, vaultly.ErrSnapshotKey, vaultly.Config},
		{"a byte of the ciphertext changed", func(t *testing.T, path, _ string, _ *vaultly.SnapshotOptions) {
			flip(t, path, -1)
		}, vaultly.ErrSnapshotCorrupt, vaultly.Malformed},
		{"the key check changed", func(t *testing.T, path, _ string, _ *vaultly.SnapshotOptions) {
			flip(t, path, len("vaultly-snapshot-1\n")+1)
		}, vaultly.ErrSnapshotKey, vaultly.Config},
		{"the magic changed", func(t *testing.T, path, _ string, _ *vaultly.SnapshotOptions) { flip(t, path, 0) }, vaultly.ErrSnapshotCorrupt, vaultly.Malformed},
		{"truncated", func(t *testing.T, path, _ string, _ *vaultly.SnapshotOptions) {
			data, _ := os.ReadFile(path)
			if err := os.WriteFile(path, data[:len(data)/2], 0o600); err != nil {
				t.Fatal(err)
			}
		}, vaultly.ErrSnapshotCorrupt, vaultly.Malformed},
		{"too old", func(t *testing.T, _, _ string, o *vaultly.SnapshotOptions) {
			o.MaxAge = time.Hour
			time.Sleep(2 * time.Hour)
		}, vaultly.ErrSnapshotTooOld, vaultly.Config},
		{"readable by others", func(t *testing.T, path, _ string, _ *vaultly.SnapshotOptions) {
			if err := os.Chmod(path, 0o644); err != nil {
				t.Fatal(err)
			}
		}, vaultly.ErrSnapshotUnsafe, vaultly.Config},
		{"key file readable by others", func(t *testing.T, _, keyFile string, _ *vaultly.SnapshotOptions) {
			if err := os.Chmod(keyFile, 0o644); err != nil {
				t.Fatal(err)
			}
		}, vaultly.ErrSnapshotUnsafe, vaultly.Config},
		{"key file beside the snapshot", func(t *testing.T, path, keyFile string, o *vaultly.SnapshotOptions) {
			beside := filepath.Join(filepath.Dir(path), "snapshot.key")
			data, _ := os.ReadFile(keyFile)
			if err := os.WriteFile(beside, data, 0o600); err != nil {
				t.Fatal(err)
			}
			o.KeyFile = beside
		}, vaultly.ErrSnapshotUnsafe, vaultly.Config},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				path, keyFile := snapDirs(t)
				o := &vaultly.SnapshotOptions{Path: path, KeyFile: keyFile}
				mem := memsecrets.New(nil)
				writeSnapshot(t, mem, o)
				o2 := *o
				tt.change(t, path, keyFile, &o2)
				mem.SetError("", down)
				s := vaultly.New(mem, &vaultly.Options{Snapshot: &o2, Logger: quiet, KeepBackendOpen: true, Retry: noRetry})
				defer s.Close()
				err := s.Snapshot().LoadErr
				var se *vaultly.SnapshotError
				var ve *vaultly.Error
				if !errors.Is(err, tt.wantKind) || !errors.As(err, &se) || !errors.As(err, &ve) || vaultly.CodeOf(err) != tt.wantCode {
					t.Fatalf("Snapshot().LoadErr = %v (code %v), want a *vaultly.Error with code %v whose cause is a *SnapshotError of kind %q", err, vaultly.CodeOf(err), tt.wantCode, tt.wantKind)
				}
				if se.File != path || !strings.Contains(err.Error(), path) {
					t.Errorf("error %q does not name the file %s", err, path)
				}
				key, _ := os.ReadFile(keyFile)
				for _, c := range append(mapValues(snapCanaries), strings.TrimSpace(string(key))) {
					if strings.Contains(fmt.Sprintf("%v %+v %#v", err, err, se), c) {
						t.Errorf("error %q shows a secret", err)
					}
				}
				if info := s.Snapshot(); info.Loaded != 0 {
					t.Errorf("Snapshot().Loaded = %d, want 0", info.Loaded)
				}
				if _, err := s.Get(context.Background(), "app/db"); vaultly.CodeOf(err) != vaultly.Unavailable {
					t.Errorf("Get with the backend down and the snapshot refused = %v, want Unavailable", err)
				}
			})
		})
	}
}

// flip changes one byte of the file (at i; -1: the last).
func flip(t *testing.T, path string, i int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if i < 0 {
		i = len(data) + i
	}
	data[i] ^= 0x20
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestSnapshotKeys(t *testing.T) { // not parallel: t.Setenv
	path, keyFile := snapDirs(t)
	secretText := "not-a-key-but-secret-text-5ae1"
	t.Setenv("VAULTLY_TEST_SNAPSHOT_KEY_BAD", secretText)
	t.Setenv("VAULTLY_TEST_SNAPSHOT_KEY", newKey())
	tests := []struct {
		name string
		o    vaultly.SnapshotOptions
		ok   bool
	}{
		{"key file", vaultly.SnapshotOptions{Path: path, KeyFile: keyFile}, true},
		{"key variable", vaultly.SnapshotOptions{Path: path, KeyEnv: "VAULTLY_TEST_SNAPSHOT_KEY"}, true},
		{"no key", vaultly.SnapshotOptions{Path: path}, false},
		{"both", vaultly.SnapshotOptions{Path: path, KeyFile: keyFile, KeyEnv: "VAULTLY_TEST_SNAPSHOT_KEY"}, false},
		{"variable unset", vaultly.SnapshotOptions{Path: path, KeyEnv: "VAULTLY_TEST_SNAPSHOT_KEY_UNSET"}, false},
		{"not a key", vaultly.SnapshotOptions{Path: path, KeyEnv: "VAULTLY_TEST_SNAPSHOT_KEY_BAD"}, false},
		{"missing key file", vaultly.SnapshotOptions{Path: path, KeyFile: keyFile + ".missing"}, false},
		{"no path", vaultly.SnapshotOptions{KeyFile: keyFile}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.o
			if o.Path != "" { // a file of its own
				o.Path = filepath.Join(filepath.Dir(path), strings.ReplaceAll(tt.name, " ", "-")+".snap")
			}
			mem := memsecrets.New(nil)
			mem.SetValue("k", "v")
			s := vaultly.New(mem, &vaultly.Options{Snapshot: &o, Logger: quiet})
			_, _ = s.Get(context.Background(), "k")
			saveErr := s.SaveSnapshot()
			s.Close()
			err := s.Snapshot().LoadErr
			if tt.ok {
				if err != nil || saveErr != nil {
					t.Fatalf("LoadErr = %v, SaveSnapshot = %v; want nil", err, saveErr)
				}
				return
			}
			if vaultly.CodeOf(err) != vaultly.Config || saveErr == nil {
				t.Fatalf("LoadErr = %v, SaveSnapshot = %v; want a Config error from both (nothing written without a key)", err, saveErr)
			}
			if strings.Contains(err.Error(), secretText) {
				t.Errorf("error %q shows the text of the key variable", err)
			}
		})
	}
}

// An entry read longer than MaxAge ago is neither served nor written again.
func TestSnapshotEntryAge(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		path, keyFile := snapDirs(t)
		o := &vaultly.SnapshotOptions{Path: path, KeyFile: keyFile, MaxAge: time.Hour}
		mem := memsecrets.New(nil)
		mem.SetValue("old", "o")
		s := vaultly.New(mem, &vaultly.Options{Snapshot: o, Logger: quiet, KeepBackendOpen: true, TTL: vaultly.UntilRefreshed})
		if _, err := s.Get(context.Background(), "old"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Minute)
		writeSnapshot(t, mem, o) // written now: "old" was read 50 minutes ago, the canaries now
		s.Close()
		time.Sleep(20 * time.Minute) // the file is 20 minutes old, "old" 70 minutes
		mem.SetError("", driver.NewError(driver.Unavailable, errors.New("down")))
		s2 := vaultly.New(mem, &vaultly.Options{Snapshot: o, Logger: quiet, KeepBackendOpen: true, Retry: noRetry})
		defer s2.Close()
		if info := s2.Snapshot(); info.Loaded != len(snapCanaries) {
			t.Errorf("Loaded = %d, want %d (the entry read 70 minutes ago, past MaxAge, left out)", info.Loaded, len(snapCanaries))
		}
		if _, err := s2.Get(context.Background(), "old"); vaultly.CodeOf(err) != vaultly.Unavailable {
			t.Errorf("Get(old) = %v, want Unavailable", err)
		}
	})
}

func TestOpenLater(t *testing.T) {
	t.Parallel()
	mem := memsecrets.New(nil)
	mem.SetValue("k", "v")
	var opens atomic.Int32
	var down atomic.Bool
	down.Store(true)
	b := vaultly.OpenLater("vault", "", func(ctx context.Context) (driver.Backend, error) {
		opens.Add(1)
		if down.Load() {
			return nil, driver.NewError(driver.Unavailable, errors.New("connection refused"))
		}
		return mem, nil
	})
	var changed atomic.Value
	rm := b.(driver.ChangeNotifier).OnChange(func(p string) { changed.Store(p) })
	defer rm()
	if b.Name() != "vault" || b.(driver.DefaultKeyer).DefaultKey() != "" {
		t.Errorf("Name, DefaultKey = %q, %q before open; want the given ones", b.Name(), b.(driver.DefaultKeyer).DefaultKey())
	}
	for range 3 {
		if _, err := b.Read(context.Background(), "k", 0); vaultly.CodeOf(err) != vaultly.Unavailable {
			t.Fatalf("Read while open fails = %v, want Unavailable", err)
		}
	}
	if opens.Load() != 3 {
		t.Errorf("%d opens for 3 reads while the server is down, want 3 (tried again at each call)", opens.Load())
	}
	down.Store(false)
	if e, err := b.Read(context.Background(), "k", 0); err != nil || e.Fields["value"] != "v" {
		t.Fatalf("Read once open = %v, %v", e, err)
	}
	if err := b.(driver.Writer).Write(context.Background(), "k2", map[string]any{"value": "w"}); err != nil {
		t.Fatal(err)
	}
	if b.Name() != "memory" || opens.Load() != 4 {
		t.Errorf("Name = %q after %d opens, want the real backend's after exactly 4", b.Name(), opens.Load())
	}
	mem.Set("k", map[string]any{"value": "v2"}) // memsecrets notifies its listeners
	if p, _ := changed.Load().(string); p != "k" {
		t.Errorf("change notification before open not forwarded: got %q, want k", p)
	}
	if err := b.Close(); err != nil || !mem.Closed() {
		t.Errorf("Close = %v, real backend closed = %v; want it closed", err, mem.Closed())
	}
	if _, err := b.Read(context.Background(), "k", 0); vaultly.CodeOf(err) != vaultly.Canceled {
		t.Errorf("Read after Close = %v, want Canceled", err)
	}

	// A failure that is not an outage sticks.
	var n atomic.Int32
	bad := vaultly.OpenLater("vault", "", func(context.Context) (driver.Backend, error) {
		n.Add(1)
		return nil, driver.NewError(driver.PermissionDenied, errors.New("approle login refused"))
	})
	for range 3 {
		if _, err := bad.Read(context.Background(), "k", 0); vaultly.CodeOf(err) != vaultly.PermissionDenied {
			t.Fatalf("Read = %v, want PermissionDenied", err)
		}
	}
	if n.Load() != 1 {
		t.Errorf("open called %d times after a PermissionDenied, want 1", n.Load())
	}
}
