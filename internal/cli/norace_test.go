//go:build !race

package cli

// raceBuild: this test binary has the race detector (see linkPrograms).
const raceBuild = false
