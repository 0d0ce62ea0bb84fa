//go:build !windows

package cli

import (
	"os"
	"strings"
	"syscall"
)

// forwarded are the signals `run` passes on to its command.
var forwarded = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

// stopSignal asks the command to stop before a restart.
var stopSignal os.Signal = syscall.SIGTERM

func parseSignal(name string) (os.Signal, bool) {
	n := strings.TrimPrefix(strings.ToUpper(name), "SIG")
	s, ok := map[string]syscall.Signal{
		"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "TERM": syscall.SIGTERM,
		"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "KILL": syscall.SIGKILL,
	}[n]
	return s, ok
}

func exitCodeOf(st *os.ProcessState) int {
	if st == nil {
		return ExitError
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return st.ExitCode()
}
