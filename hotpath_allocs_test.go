package vaultly_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/memsecrets"
)

// TestGetHitAllocs: a warm Get, GetRef and Entry with the default
// Options (refresh-ahead on) allocate nothing, for one key and for a key
// among many. The benchmarks show the time; this guards the allocations.
func TestGetHitAllocs(t *testing.T) {
	mem := memsecrets.New(nil)
	mem.Set("myapp/db", map[string]any{"username": "app", "password": "hunter2"})
	for i := range 1000 {
		mem.SetValue(fmt.Sprintf("many/k%d", i), "v")
	}
	s := vaultly.New(mem, nil)
	defer s.Close()
	ctx := context.Background()
	refs := []string{"myapp/db:password", "myapp/db:username", "many/k0", "many/k999"}
	for i := range 1000 {
		if _, err := s.Get(ctx, fmt.Sprintf("many/k%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, ref := range refs {
		if _, err := s.Get(ctx, ref); err != nil {
			t.Fatal(err)
		}
	}
	r := vaultly.MustParseRef("myapp/db:password")
	tests := []struct {
		name string
		fn   func()
	}{
		{"Get one key", func() { _, _ = s.Get(ctx, "myapp/db:password") }},
		{"Get round robin", func() {
			for _, ref := range refs {
				_, _ = s.Get(ctx, ref)
			}
		}},
		{"GetRef", func() { _, _ = s.GetRef(ctx, r, nil) }},
		{"Entry", func() { _, _ = s.Entry(ctx, "myapp/db", 0, nil) }},
	}
	for _, tt := range tests {
		if got := testing.AllocsPerRun(200, tt.fn); got != 0 {
			t.Errorf("%s on a warm key: %v allocs/op, want 0", tt.name, got)
		}
	}
}
