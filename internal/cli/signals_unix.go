//go:build !windows

package cli

import (
	"os"
	"strings"
	"syscall"
)

// stopping are the signals that stop vaultly when no command runs (inject
// -watch, run before its command starts): see stopExit.
var stopping = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT}

// forwarded are the signals `run` passes on to its command.
var forwarded = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

// stopSignal asks the command to stop before a restart.
var stopSignal os.Signal = syscall.SIGTERM

var signalNames = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "TERM": syscall.SIGTERM,
	"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "KILL": syscall.SIGKILL,
}

func parseSignal(name string) (os.Signal, bool) {
	s, ok := signalNames[strings.TrimPrefix(strings.ToUpper(name), "SIG")]
	return s, ok
}

// sigName is the name parseSignal takes for s ("TERM").
func sigName(s os.Signal) string {
	for n, v := range signalNames {
		if v == s {
			return n
		}
	}
	return s.String()
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

// stopExit is vaultly's exit code when s stops it while no command runs
// (128+N, as a shell reports it), and whether s stops it: INT, TERM and
// QUIT do.
func stopExit(s os.Signal) (int, bool) {
	switch s {
	case syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT:
		return 128 + int(s.(syscall.Signal)), true
	}
	return 0, false
}
