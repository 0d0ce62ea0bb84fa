//go:build !linux

package cli

import "syscall"

// childProcAttr is nil where there is no parent-death signal: a command
// `vaultly run` starts outlives a vaultly that is killed with SIGKILL.
func childProcAttr() *syscall.SysProcAttr { return nil }
