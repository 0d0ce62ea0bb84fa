//go:build !race

package bounded

// raceBuild: this test binary has the race detector (see programs).
const raceBuild = false
