package vaulttest

import "testing"

// Bin returns the path of the pinned vault binary for tests that run it
// themselves (the CLI, scripts). When it is missing the test skips, or fails
// when VAULTLY_REQUIRE_VAULT=1.
func Bin(t testing.TB) string {
	t.Helper()
	p, err := BinPath()
	if err != nil {
		unavailable(t, "%v", err)
	}
	return p
}
