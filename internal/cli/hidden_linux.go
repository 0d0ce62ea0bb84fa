package cli

import (
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// readHidden turns echo off, then shows the prompt and reads a line, so
// that nothing typed right after the prompt appears is echoed.
func readHidden(fd int, showPrompt func()) ([]byte, error) {
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		showPrompt()
		return term.ReadPassword(fd)
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		showPrompt()
		return term.ReadPassword(fd)
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	showPrompt()
	return term.ReadPassword(fd)
}
