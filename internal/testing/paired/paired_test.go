package paired

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		in   []time.Duration
		want time.Duration
	}{
		{"none", nil, 0},
		{"one", []time.Duration{5}, 5},
		{"odd unsorted", []time.Duration{9, 1, 5}, 5},
		{"even takes upper", []time.Duration{4, 1, 3, 2}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]time.Duration(nil), tt.in...)
			if got := Median(in); got != tt.want {
				t.Errorf("Median(%v) = %v, want %v", tt.in, got, tt.want)
			}
			if diff := cmp.Diff(tt.in, in); diff != "" {
				t.Errorf("Median changed its input (-before +after):\n%s", diff)
			}
		})
	}
}

func TestRunRotatesAndMeasures(t *testing.T) {
	var order []string
	var got []time.Duration
	res := testing.Benchmark(func(b *testing.B) {
		order = order[:0]
		got = Run(b,
			func() { order = append(order, "a") },
			func() { order = append(order, "b"); time.Sleep(time.Millisecond) },
		)
	})
	if res.N < 2 {
		t.Fatalf("benchmark ran %d iterations, want at least 2", res.N)
	}
	if diff := cmp.Diff([]string{"a", "b", "b", "a"}, order[:4]); diff != "" {
		t.Errorf("call order of the first two iterations (-want +got):\n%s", diff)
	}
	if len(got) != 2 || got[1] < time.Millisecond || got[0] >= got[1] {
		t.Errorf("Run medians = %v, want [<b's] and [>= 1ms]", got)
	}
}
