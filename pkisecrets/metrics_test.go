package pkisecrets

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
)

// TestMetrics: issues and CA reads are counted by code, and the gauge
// follows the current certificate's end; attributes are the backend,
// mount and role only.
func TestMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reader := sdkmetric.NewManualReader()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
		f := newFakePKI(time.Minute)
		s := mustNew(t, f, &Options{MeterProvider: mp, CARefresh: -1})
		defer s.Close(context.Background())
		collect := func() map[string]map[string]float64 {
			var rm metricdata.ResourceMetrics
			if err := reader.Collect(context.Background(), &rm); err != nil {
				t.Fatal(err)
			}
			out := map[string]map[string]float64{}
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					pts := map[string]float64{}
					add := func(set attribute.Set, v float64) {
						for _, kv := range set.ToSlice() {
							switch kv.Key {
							case "vaultly.backend", "vaultly.mount", "vaultly.role", "vaultly.code":
							default:
								t.Errorf("%s: unexpected attribute %s=%s", m.Name, kv.Key, kv.Value.String())
							}
						}
						code, _ := set.Value("vaultly.code")
						pts[code.AsString()] += v
					}
					switch d := m.Data.(type) {
					case metricdata.Sum[int64]:
						for _, p := range d.DataPoints {
							add(p.Attributes, float64(p.Value))
						}
					case metricdata.Gauge[float64]:
						for _, p := range d.DataPoints {
							add(p.Attributes, p.Value)
						}
					}
					out[m.Name] = pts
				}
			}
			return out
		}
		got := collect()
		if got["vaultly.pki.issues"]["ok"] != 1 || got["vaultly.pki.ca_refreshes"]["ok"] != 1 {
			t.Errorf("after New: issues %v, CA reads %v; want 1 ok each", got["vaultly.pki.issues"], got["vaultly.pki.ca_refreshes"])
		}
		if ttl := got["vaultly.pki.cert.ttl"][""]; ttl < 58 || ttl > 60 {
			t.Errorf("vaultly.pki.cert.ttl = %v, want about 60 s", ttl)
		}
		f.SetError("", driver.NewError(driver.Unavailable, errors.New("down")))
		time.Sleep(50 * time.Second) // past the re-issue point: retries fail
		synctest.Wait()
		got = collect()
		if got["vaultly.pki.issues"]["unavailable"] < 1 {
			t.Errorf("issues while the backend is down = %v, want failures counted as unavailable", got["vaultly.pki.issues"])
		}
		if ttl := got["vaultly.pki.cert.ttl"][""]; ttl > 11 {
			t.Errorf("vaultly.pki.cert.ttl 50 s later = %v, want at most 10 s", ttl)
		}
		f.SetError("", nil)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if got = collect(); got["vaultly.pki.issues"]["ok"] < 2 {
			t.Errorf("issues after recovery = %v, want a second ok", got["vaultly.pki.issues"])
		}
	})
}
