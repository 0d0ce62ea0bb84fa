package lease

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/internal/telemetry"
	"github.com/vaultly/vaultly/memsecrets"
)

// points returns, per instrument, the value of each point keyed by its
// attributes ("k=v,k=v").
func points(t *testing.T, r *sdkmetric.ManualReader) map[string]map[string]float64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	key := func(s attribute.Set) string {
		out := ""
		for _, kv := range s.ToSlice() {
			if kv.Key != telemetry.Backend {
				out += string(kv.Key) + "=" + kv.Value.String() + ","
			}
		}
		return out
	}
	out := map[string]map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			pts := map[string]float64{}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					pts[key(p.Attributes)] += float64(p.Value)
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					pts[key(p.Attributes)] = p.Value
				}
			}
			out[m.Name] = pts
		}
	}
	return out
}

// TestMeters: issues, renewals, rotations and a lost lease are counted,
// the gauge reports the time left per mount, and Failing and AtRisk follow
// a failing renewal until it recovers.
func TestMeters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reader := sdkmetric.NewManualReader()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
		meters := NewMeters(telemetry.Meter(mp), false, telemetry.Backend.String("memory"))
		defer meters.Close()
		b := memsecrets.New(nil)
		b.SetRole("database/creds/app", vaultRole())
		w, err := Start(t.Context(), b, "database/creds/app", &Options{Rand: half, Meters: meters})
		if err != nil {
			t.Fatal(err)
		}
		got := points(t, reader)
		if got["vaultly.lease.issues"]["vaultly.code=ok,"] != 1 {
			t.Errorf("issues after Start = %v, want 1 ok", got["vaultly.lease.issues"])
		}
		if left := got["vaultly.lease.ttl"]["vaultly.mount=database,"]; left < 3.5 || left > 4 {
			t.Errorf("vaultly.lease.ttl = %v, want the 4s lease per mount", got["vaultly.lease.ttl"])
		}
		time.Sleep(12 * time.Second) // ttl 4s, max 8s: renewals and rotations
		synctest.Wait()
		got = points(t, reader)
		if got["vaultly.lease.renewals"]["vaultly.code=ok,"] < 2 || got["vaultly.lease.rotations"][""] < 1 {
			t.Errorf("after 12s: renewals %v, rotations %v; want some of each", got["vaultly.lease.renewals"], got["vaultly.lease.rotations"])
		}
		// The backend fails: the watcher is at risk until it recovers.
		b.SetError("", driver.NewError(driver.Unavailable, errors.New("sealed")))
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if !w.Failing() || len(meters.AtRisk()) != 1 {
			t.Errorf("while failing: Failing = %v, AtRisk = %v; want true, [database/creds/app]", w.Failing(), meters.AtRisk())
		}
		b.SetError("", nil)
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if w.Failing() || len(meters.AtRisk()) != 0 {
			t.Errorf("after recovery: Failing = %v, AtRisk = %v; want false, none", w.Failing(), meters.AtRisk())
		}
		// Revoked out of band: a renewal finds it gone.
		lost0 := points(t, reader)["vaultly.lease.lost"][""]
		b.Revoke(w.Current().ID())
		time.Sleep(4 * time.Second)
		synctest.Wait()
		if got := points(t, reader)["vaultly.lease.lost"][""]; got != lost0+1 {
			t.Errorf("vaultly.lease.lost after a revocation = %v, want %v", got, lost0+1)
		}
		if err := w.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := points(t, reader)["vaultly.lease.ttl"]; len(got) != 0 {
			t.Errorf("vaultly.lease.ttl after Close = %v, want no point", got)
		}
	})
}
