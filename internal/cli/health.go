package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/vaultly/vaultly"
)

// healthServer is the loopback endpoint of the long-running modes
// (-listen): GET /health answers the Stores' health (200, or 503 with the
// problems) and GET /metrics the library's metrics in Prometheus' text
// format. It has no authentication, so it listens only on a loopback
// address; nothing it answers holds a value or a token (paths, codes and
// counts only). Safe for concurrent use; Close stops it.
type healthServer struct {
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
	srv    *http.Server
	ln     net.Listener
	done   chan struct{}

	mu     sync.Mutex
	stores map[string]*vaultly.Store // by mount
}

// listenHealth checks addr (a loopback host:port) and starts listening.
func listenHealth(addr string) (*healthServer, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, usagef("-listen %s: want HOST:PORT", addr)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, usagef("-listen %s: the endpoint has no authentication; give a loopback address (127.0.0.1:PORT)", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-listen %s: %w", addr, err)
	}
	h := &healthServer{reader: sdkmetric.NewManualReader(), ln: ln, done: make(chan struct{}), stores: map[string]*vaultly.Store{}}
	h.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(h.reader))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", h.health)
	mux.HandleFunc("GET /metrics", h.metrics)
	h.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(h.done)
		_ = h.srv.Serve(ln)
	}()
	return h, nil
}

// Addr is the address listened on.
func (h *healthServer) Addr() string { return h.ln.Addr().String() }

func (h *healthServer) add(mount string, s *vaultly.Store) {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.stores[mount] = s
	h.mu.Unlock()
}

// Close stops the server and waits for it.
func (h *healthServer) Close(ctx context.Context) error {
	if h == nil {
		return nil
	}
	err := h.srv.Shutdown(ctx)
	<-h.done
	return errors.Join(err, h.mp.Shutdown(ctx))
}

type storeHealth struct {
	Mount          string    `json:"mount"`
	OK             bool      `json:"ok"`
	Problems       []string  `json:"problems,omitempty"`
	LastSuccess    time.Time `json:"last_success,omitzero"`
	Entries        int       `json:"entries"`
	Stale          int       `json:"stale"`
	Watches        int       `json:"watches"`
	WatchesFailing int       `json:"watches_failing"`
	LeasesAtRisk   []string  `json:"leases_at_risk,omitempty"`
}

func (h *healthServer) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	h.mu.Lock()
	mounts := slices.Sorted(func(yield func(string) bool) {
		for m := range h.stores {
			if !yield(m) {
				return
			}
		}
	})
	stores := make([]*vaultly.Store, len(mounts))
	for i, m := range mounts {
		stores[i] = h.stores[m]
	}
	h.mu.Unlock()
	out := struct {
		OK     bool          `json:"ok"`
		Stores []storeHealth `json:"stores"`
	}{OK: true, Stores: []storeHealth{}}
	for i, s := range stores {
		st := s.Health(ctx)
		out.OK = out.OK && st.OK()
		out.Stores = append(out.Stores, storeHealth{Mount: mounts[i], OK: st.OK(), Problems: st.Problems, LastSuccess: st.LastSuccess,
			Entries: st.Entries, Stale: st.Stale, Watches: st.Watches, WatchesFailing: st.WatchesFailing, LeasesAtRisk: st.LeasesAtRisk})
	}
	w.Header().Set("Content-Type", "application/json")
	if !out.OK {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(out)
}

func (h *healthServer) metrics(w http.ResponseWriter, r *http.Request) {
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(r.Context(), &rm); err != nil {
		http.Error(w, "collecting metrics failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	writePrometheus(w, &rm)
}

// writePrometheus writes rm in Prometheus' text exposition format: sums as
// counters (or gauges when not monotonic), gauges, and histograms with
// their buckets, sum and count. Names have their dots as underscores.
func writePrometheus(w io.Writer, rm *metricdata.ResourceMetrics) {
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			name := promName(m.Name)
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				writePoints(w, name, m.Description, sumType(d.IsMonotonic), d.DataPoints)
			case metricdata.Sum[float64]:
				writePoints(w, name, m.Description, sumType(d.IsMonotonic), d.DataPoints)
			case metricdata.Gauge[int64]:
				writePoints(w, name, m.Description, "gauge", d.DataPoints)
			case metricdata.Gauge[float64]:
				writePoints(w, name, m.Description, "gauge", d.DataPoints)
			case metricdata.Histogram[float64]:
				writeHistogram(w, name, m.Description, d.DataPoints)
			case metricdata.Histogram[int64]:
				writeHistogram(w, name, m.Description, d.DataPoints)
			}
		}
	}
}

func sumType(monotonic bool) string {
	if monotonic {
		return "counter"
	}
	return "gauge"
}

func promName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r == ':' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}

func labels(set attribute.Set, extra ...string) string {
	var parts []string
	for _, kv := range set.ToSlice() {
		parts = append(parts, promName(string(kv.Key))+"="+strconv.Quote(kv.Value.String()))
	}
	parts = append(parts, extra...)
	if len(parts) == 0 {
		return ""
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func writePoints[N int64 | float64](w io.Writer, name, help, typ string, pts []metricdata.DataPoint[N]) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	for _, p := range pts {
		fmt.Fprintf(w, "%s%s %v\n", name, labels(p.Attributes), p.Value)
	}
}

func writeHistogram[N int64 | float64](w io.Writer, name, help string, pts []metricdata.HistogramDataPoint[N]) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	for _, p := range pts {
		var cum uint64
		for i, b := range p.Bounds {
			cum += p.BucketCounts[i]
			fmt.Fprintf(w, "%s_bucket%s %d\n", name, labels(p.Attributes, `le="`+strconv.FormatFloat(b, 'g', -1, 64)+`"`), cum)
		}
		fmt.Fprintf(w, "%s_bucket%s %d\n", name, labels(p.Attributes, `le="+Inf"`), p.Count)
		fmt.Fprintf(w, "%s_sum%s %v\n%s_count%s %d\n", name, labels(p.Attributes), p.Sum, name, labels(p.Attributes), p.Count)
	}
}
