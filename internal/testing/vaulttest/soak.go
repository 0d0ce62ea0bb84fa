package vaulttest

import "os"

// Soak reports whether the long tier of the real-time tests runs
// (VAULTLY_SOAK=1, as `make test` and CI set it). Without it, `go test
// ./...` runs the same tests with shorter outages, lifetimes and loads
// and once instead of three times, so that the whole suite stays quick to
// run by hand; with it, each runs with the durations and repeats its issue
// asked for (a cluster scenario 3 times with nodes away 8 s, a 60 s mTLS
// run, ...). No test is skipped in either tier.
func Soak() bool { return os.Getenv("VAULTLY_SOAK") == "1" }

// SoakOr returns soak under the long tier (see Soak) and quick otherwise.
func SoakOr[T any](soak, quick T) T {
	if Soak() {
		return soak
	}
	return quick
}
