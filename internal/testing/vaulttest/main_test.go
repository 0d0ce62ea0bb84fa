package vaulttest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// The harness starts goroutines (process waiters, database/sql openers);
// every one must be gone when the tests end.
func TestMain(m *testing.M) {
	// The tests wait on the servers they start: outside the soak tier run
	// up to 8 at once (measured here, the package alone: 5.8 s at 2, 4.7 s
	// at 4, 4.1 s at 8, 4.4 s at 16).
	if !Soak() {
		ParallelWaiting(8)
	}
	goleak.VerifyTestMain(m)
}

// Secrets must not be visible to other local users through ps.
func TestSecretsNotInArgv(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	p := StartPostgres(t)
	for _, tc := range []struct {
		name   string
		pid    int
		secret string
	}{
		{"vault root token", s.cmd.Process.Pid, s.Token},
		{"postgres password", p.cmd.Process.Pid, p.Password},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", tc.pid))
			if err != nil {
				t.Skipf("no /proc: %v", err)
			}
			if len(b) == 0 {
				t.Fatalf("empty command line for pid %d", tc.pid)
			}
			if bytes.Contains(b, []byte(tc.secret)) {
				t.Errorf("command line of pid %d contains the %s", tc.pid, tc.name)
			}
		})
	}
}

func TestStopRemovesFilesAndLogTailRedacts(t *testing.T) {
	if _, err := BinPath(); err != nil {
		unavailable(t, "%v", err)
	}
	s, err := NewServer(&Options{TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	got := tail(s.LogPath, 1000)
	for _, secret := range []string{s.Token, s.UnsealKey} {
		if secret == "" || strings.Contains(got, secret) {
			t.Errorf("log tail contains a banner secret (or it is empty: %q)", secret)
		}
	}
	if !strings.Contains(got, "Root Token: [redacted]") {
		t.Errorf("log tail has no redacted root token line:\n%s", got)
	}
	fi, err := os.Stat(s.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("log file mode = %v, want 0600", perm)
	}
	s.Stop()
	for _, p := range []string{s.LogPath, s.CACert, s.dir} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after Stop, Stat(%s) err = %v, want not exist", p, err)
		}
	}
}
