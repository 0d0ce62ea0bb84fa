//go:build !linux

package cli

import "golang.org/x/term"

// readHidden shows the prompt and reads a line without echo.
func readHidden(fd int, showPrompt func()) ([]byte, error) {
	showPrompt()
	return term.ReadPassword(fd)
}
