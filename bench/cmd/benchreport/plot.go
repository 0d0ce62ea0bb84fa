package main

import (
	"fmt"
	"math"
	"strings"
)

// series is one line of a panel: points (x, y) and a label.
type series struct {
	label  string
	color  string
	xs, ys []float64
	dashed bool
}

// panel draws one chart at (ox, oy) of size w × h with a log x axis when
// logX, a linear y axis from 0.
func panel(b *strings.Builder, ox, oy, w, h float64, title, xlabel, ylabel string, xticks []float64, xnames []string, logX bool, ss []series) {
	ymax := 0.0
	for _, s := range ss {
		for _, y := range s.ys {
			if !math.IsNaN(y) {
				ymax = math.Max(ymax, y)
			}
		}
	}
	if ymax == 0 {
		ymax = 1
	}
	ymax = niceCeil(ymax * 1.1)
	xmin, xmax := xticks[0], xticks[len(xticks)-1]
	tx := func(x float64) float64 {
		if logX {
			return ox + 50 + (math.Log10(x)-math.Log10(xmin))/(math.Log10(xmax)-math.Log10(xmin))*(w-70)
		}
		return ox + 50 + (x-xmin)/(xmax-xmin)*(w-70)
	}
	ty := func(y float64) float64 { return oy + h - 40 - y/ymax*(h-70) }
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f" font-size="13" font-weight="bold">%s</text>`+"\n", ox+50, oy+18, title)
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`+"\n", tx(xmin), ty(0), tx(xmax), ty(0))
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`+"\n", tx(xmin), ty(0), tx(xmin), ty(ymax))
	for i, x := range xticks {
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="10" text-anchor="middle">%s</text>`+"\n", tx(x), ty(0)+14, xnames[i])
	}
	for i := 0; i <= 4; i++ {
		y := ymax * float64(i) / 4
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", tx(xmin), ty(y), tx(xmax), ty(y))
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="10" text-anchor="end">%s</text>`+"\n", tx(xmin)-4, ty(y)+3, trim(y))
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle">%s</text>`+"\n", ox+w/2+15, oy+h-8, xlabel)
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle" transform="rotate(-90 %.1f %.1f)">%s</text>`+"\n", ox+12, oy+h/2, ox+12, oy+h/2, ylabel)
	for k, s := range ss {
		var pts []string
		for i := range s.xs {
			if math.IsNaN(s.ys[i]) {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", tx(s.xs[i]), ty(s.ys[i])))
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", tx(s.xs[i]), ty(s.ys[i]), s.color)
		}
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="5,4"`
		}
		fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), s.color, dash)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="10" fill="%s">%s</text>`+"\n", ox+w-150, oy+34+float64(k)*13, s.color, s.label)
	}
}

func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// plot draws the scaling curves: warm hit and heap per entry against the
// number of cached entries, and startup time against Load's parallelism.
func plot(r results) string {
	var b strings.Builder
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" width="1050" height="300" font-family="sans-serif">` + "\n")
	b.WriteString(`<rect width="1050" height="300" fill="white"/>` + "\n")
	ns := []float64{1, 1e3, 1e5, 1e6}
	names := []string{"1", "1k", "100k", "1M"}
	var hit, heap []float64
	for _, n := range names {
		hit = append(hit, r.med("BenchmarkHit/entries="+n, "ns/op"))
		heap = append(heap, r.med("BenchmarkHit/entries="+n, "heap-B/entry"))
	}
	heap[0] = math.NaN() // the Store's fixed cost, not per entry
	panel(&b, 0, 0, 350, 300, "Warm hit vs cached entries", "entries (log)", "ns/op", ns, names, true,
		[]series{{label: "Store.Get hit", color: "#1f77b4", xs: ns, ys: hit}, {label: "goal 50 ns", color: "#d62728", xs: []float64{1, 1e6}, ys: []float64{50, 50}, dashed: true}})
	panel(&b, 350, 0, 350, 300, "Heap per entry beyond its data", "entries (log)", "bytes", ns, names, true,
		[]series{{label: "Store heap/entry", color: "#2ca02c", xs: ns, ys: heap}, {label: "goal 1 KB", color: "#d62728", xs: []float64{1, 1e6}, ys: []float64{1024, 1024}, dashed: true}})
	pars := []float64{1, 4, 8, 16, 40}
	var ld []float64
	for _, p := range pars {
		ld = append(ld, r.med(fmt.Sprintf("BenchmarkStartup/par=%d", int(p)), "ns/op")/1e6)
	}
	hand := r.med("BenchmarkStartup/via=hand", "ns/op") / 1e6
	def := r.med("BenchmarkStartup/via=vaultly-load", "ns/op") / 1e6
	panel(&b, 700, 0, 350, 300, "Load 200 fields / 40 paths, 2 ms RTT", "Parallelism", "ms", pars, []string{"1", "4", "8", "16", "40"}, false,
		[]series{
			{label: "Load, Parallelism N", color: "#9467bd", xs: pars, ys: ld},
			{label: "40 hand-written reads", color: "#ff7f0e", xs: []float64{1, 40}, ys: []float64{hand, hand}, dashed: true},
			{label: "Load, default (40)", color: "#8c564b", xs: []float64{40}, ys: []float64{def}},
		})
	b.WriteString("</svg>\n")
	return b.String()
}
