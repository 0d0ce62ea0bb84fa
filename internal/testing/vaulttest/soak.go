package vaulttest

import (
	"flag"
	"os"
	"runtime"
	"strconv"
)

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

// ParallelWaiting lets up to n tests (at least GOMAXPROCS) run in parallel
// unless -parallel was given: for the TestMain of a package whose tests
// wait on real servers, leases and certificate lifetimes rather than on
// the CPU. Call it before m.Run.
func ParallelWaiting(n int) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", strconv.Itoa(max(n, runtime.GOMAXPROCS(0))))
	}
}
