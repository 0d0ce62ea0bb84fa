package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/memsecrets"
)

func TestTelemetryAddressMustBeLoopback(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:9102", ":9102", "192.0.2.1:9102", "example.com:9102", "127.0.0.1"} {
		if tel, err := newTelemetry(addr); err == nil {
			tel.Close()
			t.Errorf("newTelemetry(%q) = nil error, want a usage error", addr)
		} else if ExitCode(err) != ExitCode(usagef("x")) {
			t.Errorf("newTelemetry(%q) = %v, want a usage error", addr, err)
		}
	}
	if tel, err := newTelemetry(""); tel != nil || err != nil {
		t.Errorf(`newTelemetry("") = %v, %v; want nil, nil`, tel, err)
	}
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	p := addTelemetryFlag(fs)
	if err := fs.Parse([]string{"--telemetry-addr", "localhost:0"}); err != nil || *p != "localhost:0" {
		t.Errorf("flag parse = %q, %v", *p, err)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestTelemetryEndpoint serves health and Prometheus metrics for a Store
// over a real Vault: /readyz reports the server and the Store, /metrics
// shows the Store's and the backend's instruments, no value anywhere.
func TestTelemetryEndpoint(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	srv.PutKV(t, "telemetry/app", map[string]any{"password": "tele-s3cret"})
	tel, err := newTelemetry("localhost:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Close()
	b, err := hashivault.New(t.Context(), tel.backendOptions(&hashivault.Options{Address: srv.Addr, Token: srv.Token, ConfigFile: "-"}))
	if err != nil {
		t.Fatal(err)
	}
	s := vaultly.New(b, tel.storeOptions(&vaultly.Options{Watch: 2 * time.Second}))
	defer s.Close()
	if _, err := s.Get(t.Context(), "telemetry/app:password"); err != nil {
		t.Fatal(err)
	}
	tel.serve(s)
	base := "http://" + tel.Addr()
	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q, want 200 ok", code, body)
	}
	code, body := get(t, base+"/readyz")
	var rep readyReport
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatalf("/readyz body %q: %v", body, err)
	}
	if code != 200 || !rep.Ready || rep.Reachable == nil || !*rep.Reachable || rep.Entries != 1 || rep.Watches != 1 || rep.LastSuccess.IsZero() {
		t.Errorf("/readyz = %d %s, want 200, ready, reachable, 1 entry, 1 watch", code, body)
	}
	code, metrics := get(t, base+"/metrics")
	for _, want := range []string{
		`vaultly_cache_misses_total{vaultly_backend="vault"} 1`,
		`vaultly_backend_requests_total{vaultly_backend="vault",vaultly_code="ok",vaultly_op="read"} 1`,
		`vaultly_vault_requests_total{vaultly_backend="vault",vaultly_code="ok",vaultly_op="kv.read"} 1`,
		`vaultly_watch_entries{vaultly_backend="vault"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code != 200 || strings.Contains(metrics+body, "tele-s3cret") || strings.Contains(metrics+body, srv.Token) {
		t.Errorf("/metrics = %d, or a value or token is in the output", code)
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", metrics)
	}

	// Not ready: a Store over a closed backend.
	m := memsecrets.New(nil)
	closed := vaultly.New(m, nil)
	closed.Close()
	tel.serve(closed)
	if code, body := get(t, base+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "store is closed") {
		t.Errorf("/readyz of a closed Store = %d %s, want 503 naming the problem", code, body)
	}
	if err := tel.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Errorf("/healthz answered after Close")
	}

}
