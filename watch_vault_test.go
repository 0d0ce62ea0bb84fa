package vaultly_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/approle"
	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

var watchSeq atomic.Int64

// vaultCLI runs the real vault binary against v with its root token, as an
// operator rotating a secret would, and returns its output.
func vaultCLI(t *testing.T, v *vaulttest.Server, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), vaulttest.Bin(t), args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VAULT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "VAULT_ADDR="+v.Addr, "VAULT_TOKEN="+v.Token, "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("vault %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// appRoleBackend enables AppRole at a new mount with a role that may read
// secret/data/* and secret/metadata/*, and returns a backend logged in
// through it with mp as its MeterProvider, and the mount.
func appRoleBackend(t *testing.T, v *vaulttest.Server, o *hashivault.Options) (*hashivault.Backend, string) {
	t.Helper()
	mount := fmt.Sprintf("approle-watch-%d", watchSeq.Add(1))
	v.EnableAuth(t, mount, "approle")
	v.WritePolicy(t, "watch-reader", `
path "secret/data/*"     { capabilities = ["read"] }
path "secret/metadata/*" { capabilities = ["read"] }
path "sys/internal/ui/mounts/*" { capabilities = ["read"] }`)
	v.Write(t, "auth/"+mount+"/role/app", map[string]any{"token_policies": "watch-reader", "token_ttl": "1h"})
	c := v.Client(t)
	sec, err := c.Logical().Read("auth/" + mount + "/role/app/role-id")
	if err != nil {
		t.Fatal(err)
	}
	roleID := sec.Data["role_id"].(string)
	sec, err = c.Logical().Write("auth/"+mount+"/role/app/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := approle.New(&approle.Options{Mount: mount, RoleID: auth.FromString(roleID), SecretID: auth.FromString(sec.Data["secret_id"].(string))})
	if err != nil {
		t.Fatal(err)
	}
	o.Address, o.Auth, o.ConfigFile = v.Addr, m, "-"
	b, err := hashivault.New(t.Context(), o)
	if err != nil {
		t.Fatalf("hashivault.New: %v", err)
	}
	return b, mount
}

// metrics reads what reader has collected.
type metrics struct {
	t  *testing.T
	rm metricdata.ResourceMetrics
}

func collect(t *testing.T, r *sdkmetric.ManualReader) metrics {
	t.Helper()
	m := metrics{t: t}
	if err := r.Collect(context.Background(), &m.rm); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	return m
}

func has(set attribute.Set, want []attribute.KeyValue) bool {
	for _, kv := range want {
		if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
			return false
		}
	}
	return true
}

// sum adds up the points of the counter (or histogram counts) name whose
// attributes include want.
func (m metrics) sum(name string, want ...attribute.KeyValue) int64 {
	var n int64
	for _, sm := range m.rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			if mt.Name != name {
				continue
			}
			switch d := mt.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					if has(p.Attributes, want) {
						n += p.Value
					}
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					if has(p.Attributes, want) {
						n += int64(p.Count)
					}
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					if has(p.Attributes, want) {
						n += p.Value
					}
				}
			}
		}
	}
	return n
}

// gauge returns the one point of the float gauge name, and whether there is one.
func (m metrics) gauge(name string) (float64, bool) {
	for _, sm := range m.rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			if d, ok := mt.Data.(metricdata.Gauge[float64]); ok && mt.Name == name && len(d.DataPoints) > 0 {
				return d.DataPoints[0].Value, true
			}
		}
	}
	return 0, false
}

// allAttributes lists every attribute value of every point, to check none
// is a secret.
func (m metrics) allAttributes() []string {
	var out []string
	add := func(s attribute.Set) {
		for _, kv := range s.ToSlice() {
			out = append(out, string(kv.Key)+"="+kv.Value.String())
		}
	}
	for _, sm := range m.rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			switch d := mt.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					add(p.Attributes)
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					add(p.Attributes)
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					add(p.Attributes)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					add(p.Attributes)
				}
			}
		}
	}
	return out
}

var (
	opAttr   = func(s string) attribute.KeyValue { return attribute.String("vaultly.op", s) }
	codeAttr = func(s string) attribute.KeyValue { return attribute.String("vaultly.code", s) }
	kindAttr = func(s string) attribute.KeyValue { return attribute.String("vaultly.kind", s) }
)

// within waits up to d for cond, checking every 20 ms, and returns how
// long it took, or false.
func within(d time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Since(start) > d {
			return time.Since(start), false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWatchVault is the watch against a real Vault, changed with the real
// vault CLI: a rotation (`vault kv put`) seen by Get, a Live and 100
// subscribers within 2 intervals of 1 s, one poller for all of them, a
// soft delete, undelete and destroy as changes, a re-login after the token
// was revoked, and the OpenTelemetry instruments (SDK manual reader) moving
// as expected at each step. The package's TestMain checks with goleak that
// Close left no goroutine.
func TestWatchVault(t *testing.T) {
	t.Parallel()
	v := sharedVault.Get(t)
	const interval = time.Second
	p := fmt.Sprintf("watch/%d/db", watchSeq.Add(1))
	vaultCLI(t, v, "kv", "put", "-mount=secret", p, "user=app", "password=pw-1")

	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	b, mount := appRoleBackend(t, v, &hashivault.Options{MeterProvider: mp, TracerProvider: tp, Logger: discard()})
	s := vaultly.New(b, &vaultly.Options{Watch: interval, TTL: time.Hour, MeterProvider: mp, Logger: discard()})
	closed := false
	defer func() {
		if !closed {
			s.Close()
		}
	}()
	ctx := t.Context()

	// A read (miss) and a hit.
	for range 2 {
		if got := mustGet(t, s, p+":password"); got != "pw-1" {
			t.Fatalf("Get = %q, want pw-1", got)
		}
	}
	m := collect(t, reader)
	if got := [4]int64{
		m.sum("vaultly.cache.misses"), m.sum("vaultly.cache.hits"),
		m.sum("vaultly.backend.requests", opAttr("read"), codeAttr("ok")),
		m.sum("vaultly.vault.logins", codeAttr("ok")),
	}; got != [4]int64{1, 1, 1, 1} {
		t.Errorf("after a read and a hit: misses, hits, backend reads ok, logins ok = %v, want [1 1 1 1]", got)
	}
	if n := m.sum("vaultly.vault.requests", opAttr("kv.read"), codeAttr("ok")); n != 1 {
		t.Errorf("vaultly.vault.requests{kv.read, ok} = %d, want 1", n)
	}
	if n := m.sum("vaultly.backend.request.duration", opAttr("read")); n != 1 {
		t.Errorf("vaultly.backend.request.duration{read} count = %d, want 1", n)
	}
	if ttl, ok := m.gauge("vaultly.vault.token.ttl"); !ok || ttl <= 3000 || ttl > 3600 {
		t.Errorf("vaultly.vault.token.ttl = %v (reported %v), want about 3600 s", ttl, ok)
	}

	live, err := vaultly.NewLive[string](s, p+":password", nil)
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]*recorder, 100)
	for i := range recs {
		recs[i] = &recorder{}
		stop, err := s.Subscribe(ctx, p, recs[i].add, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
	}
	if w := s.Stats().Watches; w != 1 {
		t.Fatalf("Stats().Watches with 100 subscribers, a Live and two fields' reads of one entry = %d, want 1", w)
	}

	// Rotation with `vault kv put`: seen everywhere within 2 intervals
	// (expected: within one interval plus a metadata read and a data read).
	vaultCLI(t, v, "kv", "put", "-mount=secret", p, "user=app", "password=pw-2")
	took, ok := within(2*interval, func() bool {
		if g, _ := s.Get(ctx, p+":password"); g != "pw-2" {
			return false
		}
		if l, _ := live.Get(ctx); l != "pw-2" {
			return false
		}
		for _, r := range recs {
			if len(r.got()) != 1 {
				return false
			}
		}
		return true
	})
	if !ok {
		g, _ := s.Get(ctx, p+":password")
		t.Fatalf("after vault kv put, within 2 intervals (2 s): Get = %q, subscriber 0 got %q; want pw-2 and one change", g, recs[0].got())
	}
	t.Logf("rotation seen by Get, Live and 100 subscribers %v after vault kv put returned (interval %v)", took, interval)
	for i, r := range recs {
		if got := r.got(); !cmpEqual(got, []string{"updated 1->2 [password]"}) {
			t.Errorf("subscriber %d got %q, want one update 1->2 of password", i, got)
		}
	}
	m = collect(t, reader)
	if n := m.sum("vaultly.watch.changes", kindAttr("updated")); n != 1 {
		t.Errorf("vaultly.watch.changes{updated} = %d, want 1", n)
	}
	if n := m.sum("vaultly.watch.polls", codeAttr("ok")); n < 1 {
		t.Errorf("vaultly.watch.polls{ok} = %d, want at least 1", n)
	}
	if n := m.sum("vaultly.vault.requests", opAttr("kv.version"), codeAttr("ok")); n < 1 {
		t.Errorf("vaultly.vault.requests{kv.version, ok} = %d, want at least 1", n)
	}
	if n := m.sum("vaultly.watch.entries"); n != 1 {
		t.Errorf("vaultly.watch.entries = %d, want 1", n)
	}
	if n := m.sum("vaultly.backend.requests", opAttr("read"), codeAttr("ok")); n != 2 {
		t.Errorf("backend reads after a rotation = %d, want 2 (one more for 100 subscribers)", n)
	}

	// Soft delete, undelete and destroy of the latest version.
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"kv", "delete", "-mount=secret", p}, "deleted 2->2 [password user]"},
		{[]string{"kv", "undelete", "-mount=secret", "-versions=2", p}, "updated 2->2 [password user]"},
		{[]string{"kv", "destroy", "-mount=secret", "-versions=2", p}, "destroyed 2->2 [password user]"},
	}
	for i, st := range steps {
		vaultCLI(t, v, st.args...)
		if _, ok := within(2*interval, func() bool { return len(recs[0].got()) == i+2 }); !ok {
			t.Fatalf("after vault %s, within 2 intervals: subscriber got %q, want %q next", strings.Join(st.args, " "), recs[0].got(), st.want)
		}
		if got := recs[0].got()[i+1]; got != st.want {
			t.Errorf("after vault %s: change %q, want %q", strings.Join(st.args, " "), got, st.want)
		}
	}
	if _, err := s.Get(ctx, p+":password"); !errors.Is(err, vaultly.ErrNotFound) {
		t.Errorf("Get of a destroyed latest version: %v, want NotFound", err)
	}

	// Re-login: every token of the AppRole mount is revoked; the next
	// poll meets 403 invalid token and logs in again.
	vaultCLI(t, v, "kv", "put", "-mount=secret", p, "user=app", "password=pw-3")
	if _, ok := within(2*interval, func() bool { g, _ := s.Get(ctx, p+":password"); return g == "pw-3" }); !ok {
		t.Fatal("pw-3 not seen within 2 intervals")
	}
	vaultCLI(t, v, "lease", "revoke", "-prefix", "auth/"+mount+"/login")
	if _, ok := within(3*interval, func() bool {
		return collect(t, reader).sum("vaultly.vault.relogins", codeAttr("ok")) == 1
	}); !ok {
		m := collect(t, reader)
		t.Errorf("vaultly.vault.relogins{ok} = %d, logins = %d within 3 s of revoking the token; want 1 re-login",
			m.sum("vaultly.vault.relogins"), m.sum("vaultly.vault.logins"))
	}
	m = collect(t, reader)
	if n := m.sum("vaultly.vault.logins", codeAttr("ok")); n != 2 {
		t.Errorf("vaultly.vault.logins{ok} = %d, want 2 (the first and the re-login)", n)
	}
	if h := s.Health(ctx); h.Server == nil || !h.Server.Reachable || h.Server.Sealed || h.Server.TokenExpires.IsZero() || h.LastSuccess.IsZero() {
		t.Errorf("Health = %+v (server %+v), want a reachable unsealed server with a token expiry and a last success", h, h.Server)
	}
	for _, a := range m.allAttributes() {
		for _, secret := range []string{"pw-1", "pw-2", "pw-3", v.Token} {
			if strings.Contains(a, secret) {
				t.Errorf("metric attribute %q holds a secret", a)
			}
		}
		if strings.HasPrefix(a, "vaultly.path=") {
			t.Errorf("metric attribute %q: paths are off by default", a)
		}
	}

	names := map[string]int{}
	for _, sp := range spans.Ended() {
		for _, kv := range sp.Attributes() {
			if kv.Key == "vaultly.code" && kv.Value.AsString() == "ok" {
				names[sp.Name()]++
			}
			if strings.Contains(kv.Value.String(), "pw-") || kv.Key == "vaultly.path" {
				t.Errorf("span %s attribute %s=%s: no value, no path by default", sp.Name(), kv.Key, kv.Value.String())
			}
		}
	}
	if names["vault kv.read"] < 2 || names["vault kv.version"] < 1 || names["vault sys.health"] != 1 {
		t.Errorf("hashivault spans with code ok = %v, want vault kv.read, vault kv.version and vault sys.health", names)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	if w := s.Stats().Watches; w != 0 {
		t.Errorf("Watches after Close = %d, want 0", w)
	}
}

func cmpEqual(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }
