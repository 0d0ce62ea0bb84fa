package lease

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/internal/telemetry"
)

// Meters are the instruments of the Watchers of one owner (a Store), and
// the set of those Watchers, which Health reads. A nil *Meters records
// nothing. It is safe for concurrent use.
//
// Instruments: vaultly.lease.issues and vaultly.lease.renewals (by result
// code), vaultly.lease.rotations, vaultly.lease.lost (leases found revoked
// or expired on the server) and the gauge vaultly.lease.ttl, the seconds
// until the current lease of each path ends, with the attribute
// vaultly.mount (the path's first segment; the soonest end per mount) or,
// with paths, vaultly.path.
type Meters struct {
	issues, renewals *telemetry.Counter
	rotations, lost  metric.Int64Counter
	plain            []metric.AddOption
	base             []attribute.KeyValue
	paths            bool
	reg              metric.Registration

	mu       sync.Mutex
	watchers map[*Watcher]struct{}
}

// NewMeters creates the instruments on m (a no-op meter is fine) with the
// attributes base on every point.
func NewMeters(m metric.Meter, paths bool, base ...attribute.KeyValue) *Meters {
	lm := &Meters{base: base, paths: paths, watchers: map[*Watcher]struct{}{},
		plain: []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(base...))}}
	lm.issues = telemetry.NewCounter(m, "vaultly.lease.issues", "{lease}", "Dynamic secrets issued (first issues and replacements), by result code", telemetry.Code, base...)
	lm.renewals = telemetry.NewCounter(m, "vaultly.lease.renewals", "{renewal}", "Lease renewals, by result code", telemetry.Code, base...)
	lm.rotations, _ = m.Int64Counter("vaultly.lease.rotations", metric.WithUnit("{lease}"), metric.WithDescription("Dynamic secrets replaced by a new one"))
	lm.lost, _ = m.Int64Counter("vaultly.lease.lost", metric.WithUnit("{lease}"), metric.WithDescription("Leases found revoked or expired on the server before their end"))
	ttl, err := m.Float64ObservableGauge("vaultly.lease.ttl", metric.WithUnit("s"),
		metric.WithDescription("Seconds until the current lease ends unless renewed (the soonest per mount, or per path when paths are on)"))
	if err == nil {
		lm.reg, _ = m.RegisterCallback(func(_ context.Context, obs metric.Observer) error {
			now := time.Now()
			for key, left := range lm.ttls(now) {
				attrs := append(append([]attribute.KeyValue(nil), base...), key)
				obs.ObserveFloat64(ttl, left.Seconds(), metric.WithAttributeSet(attribute.NewSet(attrs...)))
			}
			return nil
		}, ttl)
	}
	return lm
}

// ttls returns the time left of the current lease of each watcher, keyed by
// its attribute (the soonest for a shared key).
func (m *Meters) ttls(now time.Time) map[attribute.KeyValue]time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[attribute.KeyValue]time.Duration{}
	for w := range m.watchers {
		cur := w.Current()
		if cur == nil || cur.Expires.IsZero() {
			continue
		}
		key := telemetry.Mount.String(telemetry.MountOf(w.path))
		if m.paths {
			key = telemetry.Path.String(w.path)
		}
		left := cur.Expires.Sub(now)
		if old, ok := out[key]; !ok || left < old {
			out[key] = left
		}
	}
	return out
}

// AtRisk returns the paths of the watchers whose last renewal or issue
// failed (each keeps retrying on its own).
func (m *Meters) AtRisk() []string {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for w := range m.watchers {
		if w.Failing() {
			out = append(out, w.path)
		}
	}
	return out
}

// Close unregisters the gauge.
func (m *Meters) Close() {
	if m != nil && m.reg != nil {
		_ = m.reg.Unregister()
	}
}

func (m *Meters) add(w *Watcher) {
	if m != nil {
		m.mu.Lock()
		m.watchers[w] = struct{}{}
		m.mu.Unlock()
	}
}

func (m *Meters) remove(w *Watcher) {
	if m != nil {
		m.mu.Lock()
		delete(m.watchers, w)
		m.mu.Unlock()
	}
}

func (m *Meters) issued(err error) {
	if m != nil {
		m.issues.Add(context.Background(), telemetry.CodeOf(err))
	}
}

// event counts what ev says happened.
func (m *Meters) event(ev Event) {
	if m == nil {
		return
	}
	ctx := context.Background()
	switch ev.Kind {
	case Renewed:
		m.renewals.Add(ctx, telemetry.CodeName(driver.OK))
	case Rotated:
		m.rotations.Add(ctx, 1, m.plain...)
	case Failed:
		if ev.Op == "renew" {
			m.renewals.Add(ctx, telemetry.CodeOf(ev.Err))
			if driver.CodeOf(ev.Err) == driver.NotFound {
				m.lost.Add(ctx, 1, m.plain...)
			}
		}
	}
}

// Failing reports whether the last renewal or issue failed and nothing has
// succeeded since (the watcher keeps trying).
func (w *Watcher) Failing() bool { return w.failing.Load() }

// observe keeps Failing and the meters current; emit calls it.
func (w *Watcher) observe(ev Event) {
	switch ev.Kind {
	case Failed:
		w.failing.Store(true)
	case Renewed, Rotated:
		w.failing.Store(false)
	}
	w.meters.event(ev)
}
