package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/vaultly/vaultly"
)

// healthServer is the loopback endpoint of the long-running modes
// (-listen): GET /health answers the Stores' health (200, or 503 with the
// problems) and GET /metrics the library's OpenTelemetry metrics in
// Prometheus' text format, through the OTel Prometheus exporter. It has no authentication, so it listens only on a loopback
// address; nothing it answers holds a value or a token (paths, codes and
// counts only). Safe for concurrent use; Close stops it.
type healthServer struct {
	mp   *sdkmetric.MeterProvider
	prom http.Handler // the OTel Prometheus exporter's registry, as text
	srv  *http.Server
	ln   net.Listener
	done chan struct{}

	mu      sync.Mutex
	stores  map[string]*vaultly.Store // by mount
	waiting string                    // what a waiting start waits for ("": nothing): unhealthy meanwhile
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
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("-listen: metrics exporter: %w", err)
	}
	h := &healthServer{ln: ln, done: make(chan struct{}), stores: map[string]*vaultly.Store{}}
	h.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	h.prom = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
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

// setWaiting says what a waiting start (run -config, inject -watch
// -config) waits for; "" once nothing.
func (h *healthServer) setWaiting(s string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.waiting = s
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
	waiting := h.waiting
	h.mu.Unlock()
	out := struct {
		OK      bool          `json:"ok"`
		Waiting string        `json:"waiting,omitempty"`
		Stores  []storeHealth `json:"stores"`
	}{OK: waiting == "", Waiting: waiting, Stores: []storeHealth{}}
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
	h.prom.ServeHTTP(w, r)
}
