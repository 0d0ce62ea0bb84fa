// Package bench holds vaultly's comparison benchmarks. It has no API: the
// benchmarks live in its _test.go files and run against one real Vault dev
// server, a counting reverse proxy in front of it, and a Vault Proxy
// (`vault proxy` from the same binary) with its cache on.
//
//	go test ./bench -run '^$' -bench . -benchmem -count 6 | benchstat -col /via -
//
// or `scripts/bench.sh`, which also runs the memory benchmark once and
// prints the ratios. A plain `go test ./bench` runs only a few-second smoke
// test of the harness. Figures measured on the project's machine are in
// RESULTS.md.
package bench
