package cli

import (
	"os"
	"strings"
)

// stopping are the signals that stop vaultly when no command runs (inject
// -watch, run before its command starts): see stopExit.
var stopping = []os.Signal{os.Interrupt}

// forwarded are the signals `run` passes on to its command. Windows
// delivers only an interrupt (Ctrl+C) to a console program.
var forwarded = []os.Signal{os.Interrupt}

// stopSignal stops the command before a restart: Windows processes cannot
// be asked to stop with a signal, only killed.
var stopSignal os.Signal = os.Kill

func parseSignal(name string) (os.Signal, bool) {
	switch strings.TrimPrefix(strings.ToUpper(name), "SIG") {
	case "INT":
		return os.Interrupt, true
	case "KILL":
		return os.Kill, true
	}
	return nil, false
}

// sigName is the name parseSignal takes for s.
func sigName(s os.Signal) string {
	if s == os.Interrupt {
		return "INT"
	}
	return "KILL"
}

func exitCodeOf(st *os.ProcessState) int {
	if st == nil {
		return ExitError
	}
	return st.ExitCode()
}

// stopExit is vaultly's exit code when s stops it while no command runs
// (130 for an interrupt, as a Unix shell reports SIGINT), and whether s
// stops it.
func stopExit(s os.Signal) (int, bool) {
	if s == os.Interrupt {
		return 130, true
	}
	return 0, false
}
