package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// TestMakeDemo runs scripts/demo.sh (what `make demo` runs) end to end and
// checks that it leaves no Vault server behind.
func TestMakeDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go run and a Vault server; skipped with -short")
	}
	bin := vaulttest.Bin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "../../scripts/demo.sh")
	cmd.Env = append(os.Environ(), "VAULTLY_VAULT_BIN="+bin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("demo.sh: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"==> seeding example secrets",
		"Password:[redacted]",
		"MaxConns:25",
		"Flags:map[beta:true regions:[eu us]]",
		"==> done",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("demo output does not contain %q:\n%s", want, got)
		}
	}
	if regexp.MustCompile(`demo-[0-9a-f]{18}`).MatchString(got) {
		t.Errorf("demo output contains the seeded password:\n%s", got)
	}
	m := regexp.MustCompile(`stopping the Vault dev server \(pid (\d+)\)`).FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("demo output does not say which server it stopped:\n%s", got)
	}
	pid, _ := strconv.Atoi(m[1])
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("vault server pid %d still runs after the demo", pid)
	}
}
