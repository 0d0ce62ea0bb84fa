package cli

// The health and metrics endpoint of the long-running modes (run, inject
// -watch): a loopback HTTP server with
//
//	GET /healthz   200 "ok" while the process runs (liveness)
//	GET /readyz    200 when Store.Health has no problem, else 503; a JSON
//	               body with the report (no value, no token)
//	GET /metrics   the OpenTelemetry metrics of the Store and the Vault
//	               backend in Prometheus text format
//
// A command adds the flag with addTelemetryFlag, builds the options of its
// backend and Store with telemetry.backendOptions / storeOptions (they
// carry the MeterProvider), and once its Store exists calls serve; Close
// stops the server and the provider.

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/pflag"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/hashivault"
)

// telemetryFlagName is the flag of the endpoint's address.
const telemetryFlagName = "telemetry-addr"

// addTelemetryFlag adds -telemetry-addr to fs and returns where its value
// goes: "" (the default) serves nothing; "127.0.0.1:9102" or
// "localhost:0" serves the endpoint on that loopback address.
func addTelemetryFlag(fs *pflag.FlagSet) *string {
	return fs.String(telemetryFlagName, "", "serve /healthz, /readyz and /metrics (Prometheus) on this loopback `address`, e.g. 127.0.0.1:9102")
}

// telemetry is the endpoint of one command: its MeterProvider (feeding the
// Prometheus registry) and, once serve is called, its HTTP server. A nil
// *telemetry (no address given) does nothing.
type telemetry struct {
	ln  net.Listener
	mp  *sdkmetric.MeterProvider
	reg *prometheus.Registry
	srv *http.Server

	mu    sync.Mutex
	store *vaultly.Store
	done  chan struct{}
}

// newTelemetry checks addr and listens on it: an address that is not a
// loopback IP or "localhost" is a usage error (the endpoint has no
// authentication). "" returns nil, nil.
func newTelemetry(addr string) (*telemetry, error) {
	if addr == "" {
		return nil, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, usagef("-%s %q: want host:port on a loopback address, e.g. 127.0.0.1:9102", telemetryFlagName, addr)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, usagef("-%s %q: the endpoint has no authentication, so it listens only on a loopback address (127.0.0.1, ::1, localhost)", telemetryFlagName, addr)
	}
	if host == "localhost" {
		addr = net.JoinHostPort("127.0.0.1", addr[len(host)+1:])
	}
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, vaultly.WrapError("telemetry", addr, "", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, &vaultly.Error{Op: "telemetry", Ref: addr, Code: vaultly.Unavailable, Err: err}
	}
	return &telemetry{ln: ln, mp: sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp)), reg: reg}, nil
}

// Addr is the address the endpoint listens on (with the port chosen for
// ":0").
func (t *telemetry) Addr() string {
	if t == nil {
		return ""
	}
	return t.ln.Addr().String()
}

// backendOptions adds the MeterProvider to o.
func (t *telemetry) backendOptions(o *hashivault.Options) *hashivault.Options {
	if t != nil {
		o.MeterProvider = t.mp
	}
	return o
}

// storeOptions adds the MeterProvider to o.
func (t *telemetry) storeOptions(o *vaultly.Options) *vaultly.Options {
	if t != nil {
		o.MeterProvider = t.mp
	}
	return o
}

// serve starts answering, about s; it returns at once. Calling it again
// changes the Store /readyz reports on.
func (t *telemetry) serve(s *vaultly.Store) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.store = s
	if t.srv != nil {
		return
	}
	t.srv = &http.Server{Handler: t.handler(), ReadHeaderTimeout: 5 * time.Second}
	t.done = make(chan struct{})
	go func() {
		defer close(t.done)
		_ = t.srv.Serve(t.ln)
	}()
}

// readyTimeout bounds the backend check of one /readyz.
const readyTimeout = 5 * time.Second

// readyReport is /readyz's body.
type readyReport struct {
	Ready          bool      `json:"ready"`
	Problems       []string  `json:"problems,omitempty"`
	Reachable      *bool     `json:"reachable,omitempty"`
	Sealed         *bool     `json:"sealed,omitempty"`
	TokenExpires   time.Time `json:"token_expires,omitzero"`
	LastSuccess    time.Time `json:"last_success,omitzero"`
	Entries        int       `json:"entries"`
	Stale          int       `json:"stale"`
	Watches        int       `json:"watches"`
	WatchesFailing int       `json:"watches_failing"`
	LeasesAtRisk   []string  `json:"leases_at_risk,omitempty"`
}

func (t *telemetry) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		t.mu.Lock()
		s := t.store
		t.mu.Unlock()
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		h := s.Health(ctx)
		rep := readyReport{Ready: h.OK(), Problems: h.Problems, LastSuccess: h.LastSuccess, Entries: h.Entries,
			Stale: h.Stale, Watches: h.Watches, WatchesFailing: h.WatchesFailing, LeasesAtRisk: h.LeasesAtRisk}
		if h.Server != nil {
			rep.Reachable, rep.Sealed, rep.TokenExpires = &h.Server.Reachable, &h.Server.Sealed, h.Server.TokenExpires
		}
		body, _ := json.MarshalIndent(rep, "", "  ")
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
		if !rep.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = w.Write(append(body, '\n'))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(t.reg, promhttp.HandlerOpts{}))
	return mux
}

// Close stops the server (waiting for it) and the MeterProvider.
func (t *telemetry) Close() error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	srv, done := t.srv, t.done
	t.mu.Unlock()
	var errs []error
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, srv.Shutdown(ctx))
		cancel()
		<-done
	} else {
		errs = append(errs, t.ln.Close())
	}
	errs = append(errs, t.mp.Shutdown(context.Background()))
	if err := errors.Join(errs...); err != nil {
		return vaultly.WrapError("telemetry", t.Addr(), "", err)
	}
	return nil
}
