package hashivault_test

import (
	"testing"

	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/internal/testing/paired"
)

// BenchmarkWatchPoll is the cost of one watch poll of an unchanged KV v2
// entry (CurrentVersion: one metadata read) next to a read of the entry,
// side by side on the same server, with the Vault requests each makes.
// The README's "Keeping secrets fresh" quotes it.
//
//	go test ./hashivault -run '^$' -bench BenchmarkWatchPoll
func BenchmarkWatchPoll(b *testing.B) {
	srv := hashivault.Shared(b)
	srv.PutKV(b, "bench/watched", map[string]any{"username": "app", "password": "hunter2", "port": 5432})
	srv.PutKV(b, "bench/watched", map[string]any{"username": "app", "password": "hunter3", "port": 5432})
	ctx := b.Context()
	back := hashivault.NewBackend(b, &hashivault.Options{Address: srv.Addr, Token: srv.Token, KVVersion: 2})
	first, err := back.Read(ctx, "bench/watched", 0)
	if err != nil {
		b.Fatal(err)
	}
	n := first.Version
	ds := paired.Run(b,
		func() {
			if e, err := back.Read(ctx, "bench/watched", 0); err != nil || e.Version != n {
				b.Fatalf("Read = %v, %v", e, err)
			}
		},
		func() {
			if st, err := back.CurrentVersion(ctx, "bench/watched"); err != nil || st.Version != n {
				b.Fatalf("CurrentVersion = %+v, %v", st, err)
			}
		})
	b.ReportMetric(float64(ds[0].Nanoseconds())/1e6, "read-ms")
	b.ReportMetric(float64(ds[1].Nanoseconds())/1e6, "poll-ms")
	b.ReportMetric(float64(ds[1])/float64(ds[0]), "poll/read")
}
