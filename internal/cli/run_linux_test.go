package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunChildDiesWithVaultly kills vaultly with SIGKILL, which it cannot
// forward, and checks that the command it runs does not outlive it (the
// parent-death signal), where before the fix it kept running.
func TestRunChildDiesWithVaultly(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	e := newEnv(t, srv)
	srv.PutKV(t, "cli/rundeath/app", map[string]any{"value": "v"})
	refs := []string{"S=vault://cli/rundeath/app"}

	// -no-mask: the command writes straight to the test's pipe, so vaultly's
	// death cannot kill it through a broken pipe.
	b := startBG(t, e, refs, "run", "-no-mask", "--", "sh", "-c", `echo "pid $$"; while :; do sleep 0.05; done`)
	l := b.next(t)
	pid, err := strconv.Atoi(strings.TrimPrefix(l, "pid "))
	if err != nil {
		t.Fatalf("first line %q, want the command's pid", l)
	}
	if !alive(pid) {
		t.Fatalf("command (pid %d) not running before vaultly is killed", pid)
	}
	if err := b.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("command (pid %d) still running 10s after vaultly was killed with SIGKILL", pid)
		}
		waitABit()
	}
}

// alive reports whether pid is a running process (not gone, not a zombie
// waiting to be reaped).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses: "pid (comm) S ...".
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}
