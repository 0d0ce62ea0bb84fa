package vaulttest

import (
	"bytes"
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// The harness starts goroutines (process waiters, database/sql openers);
// every one must be gone when the tests end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Secrets must not be visible to other local users through ps.
func TestSecretsNotInArgv(t *testing.T) {
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
