package cli

import "syscall"

// childProcAttr asks the kernel to send the command `vaultly run` starts
// SIGTERM when vaultly dies, however it dies (even by SIGKILL, when it
// cannot forward anything), so the command is never left running
// unsupervised with secrets in its environment. The kernel ties the signal
// to the thread that started the command; Go ends threads only for
// goroutines that exit while locked to one (runtime.LockOSThread), which
// vaultly never does around a start.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
