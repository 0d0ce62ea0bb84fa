package entrycache

import (
	"sync/atomic"
	"unsafe"
)

const stripes = 16

// Counter is a counter striped over cache lines, so that concurrent hits
// on many CPUs do not fight over one. The zero Counter is ready to use.
type Counter struct {
	c [stripes]struct {
		n atomic.Uint64
		_ [56]byte
	}
}

// Add adds n. It picks a stripe from the address of a local variable:
// goroutines run on different stacks, so concurrent callers mostly hit
// different stripes, at no cost (a random number costs more than the rest
// of a cache hit).
func (c *Counter) Add(n uint64) {
	var x byte
	c.c[(uintptr(unsafe.Pointer(&x))>>12)%stripes].n.Add(n)
}

// Load returns the sum of the stripes.
func (c *Counter) Load() uint64 {
	var t uint64
	for i := range c.c {
		t += c.c[i].n.Load()
	}
	return t
}
