package vaulttest

import (
	"testing"

	"go.uber.org/goleak"
)

// The harness starts goroutines (process waiters, database/sql openers);
// every one must be gone when the tests end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
