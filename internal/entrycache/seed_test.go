package entrycache_test

import (
	"testing"
	"time"

	"github.com/vaultly/vaultly/internal/entrycache"
)

// TestSeed: a seeded item is never a hit, under any TTL, keeps the time it
// was read, and the first read of its slot replaces it.
func TestSeed(t *testing.T) {
	t.Parallel()
	for _, ttl := range []time.Duration{time.Hour, entrycache.UntilRefreshed} {
		c := newCache(ttl, 10)
		r := c.Register("app/a", "app/a", 0, "value")
		s := c.SlotOf(r)
		read := time.Now().Add(-time.Minute)
		if !c.Seed(s, val("old"), read) {
			t.Fatal("Seed on an empty slot = false, want true")
		}
		if c.Seed(s, val("again"), read) {
			t.Error("Seed on a slot with an item = true, want false")
		}
		if _, _, res := c.Get("app/a"); res != entrycache.Miss {
			t.Errorf("TTL %v: Get of a seeded entry = %v, want Miss", ttl, res)
		}
		for _, readTTL := range []time.Duration{ttl, entrycache.UntilRefreshed, 24 * time.Hour} {
			if it, _ := c.Lookup(s, readTTL); it != nil {
				t.Errorf("TTL %v: Lookup(%v) of a seeded entry = %v, want nil (never fresh)", ttl, readTTL, it.Value)
			}
		}
		it := s.Item()
		if it == nil || !it.Seeded() || !it.Fetched.Equal(read) || it.Value["value"] != "old" || c.Len() != 1 {
			t.Fatalf("TTL %v: seeded item = %+v, Len %d; want the seeded value read at %v", ttl, it, c.Len(), read)
		}
		call, _ := s.Join(false)
		c.Finish(s, call, val("new"), nil, true)
		if got := cached(s); got != "new" || s.Item().Seeded() {
			t.Errorf("TTL %v: after a read the slot holds %q (seeded %v), want the read's value", ttl, got, s.Item().Seeded())
		}
		if _, v, res := c.Get("app/a"); res != entrycache.Hit || v != "new" {
			t.Errorf("TTL %v: Get after the read = %q, %v; want a hit", ttl, v, res)
		}
		c.Close()
	}
}
