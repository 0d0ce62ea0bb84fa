package vaultly

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/vaultly/vaultly/internal/lease"
	"github.com/vaultly/vaultly/internal/telemetry"
)

// Operation names of the vaultly.backend.requests metric.
const (
	opRead    = "read"
	opWrite   = "write"
	opDelete  = "delete"
	opList    = "list"
	opVersion = "version" // a watch's driver.Versioner poll
)

// storeMeters are a Store's instruments and tracer. A nil *storeMeters
// (no MeterProvider and no TracerProvider) records nothing and costs a nil
// check; the cache counters are observed at collection time from the
// counters Stats reads, so the hot path never touches an instrument.
type storeMeters struct {
	req     *telemetry.Requests
	polls   *telemetry.Counter
	changes *telemetry.Counter
	tracer  trace.Tracer
	backend attribute.KeyValue
	paths   bool
	reg     metric.Registration
}

// newStoreMeters creates s's instruments; the lease engine's meters (which
// Health also reads) exist whether or not there is a MeterProvider.
func newStoreMeters(s *Store, o *Options) *storeMeters {
	m := telemetry.Meter(o.MeterProvider)
	base := telemetry.Backend.String(s.name)
	s.leases = lease.NewMeters(m, o.MetricPaths, base)
	if o.MeterProvider == nil && o.TracerProvider == nil {
		return nil
	}
	sm := &storeMeters{
		req:     telemetry.NewRequests(m, "vaultly.backend", "Requests to the backend (each attempt)", o.MetricPaths, base),
		polls:   telemetry.NewCounter(m, "vaultly.watch.polls", "{poll}", "Watch polls, by result code", telemetry.Code, base),
		changes: telemetry.NewCounter(m, "vaultly.watch.changes", "{change}", "Changes seen by watches, by kind", telemetry.Kind, base),
		tracer:  telemetry.Tracer(o.TracerProvider),
		backend: base,
		paths:   o.MetricPaths,
	}
	if o.MeterProvider == nil {
		return sm
	}
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, _ := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		return c
	}
	hits := counter("vaultly.cache.hits", "{read}", "Reads answered from the cache")
	misses := counter("vaultly.cache.misses", "{read}", "Reads that needed a backend read (cold, expired, NoCache)")
	refreshes := counter("vaultly.cache.refreshes", "{refresh}", "Background refreshes ahead of expiry started")
	refreshFailures := counter("vaultly.cache.refresh_failures", "{refresh}", "Background refreshes that failed")
	evictions := counter("vaultly.cache.evictions", "{entry}", "Entries evicted to respect MaxEntries")
	stale := counter("vaultly.cache.stale_serves", "{read}", "Reads answered with a stale entry after a failed fetch")
	entries, _ := m.Int64ObservableGauge("vaultly.cache.entries", metric.WithUnit("{entry}"), metric.WithDescription("Entries cached now"))
	watches, _ := m.Int64ObservableGauge("vaultly.watch.entries", metric.WithUnit("{entry}"), metric.WithDescription("Entries watched now (one poller each)"))
	failing, _ := m.Int64ObservableGauge("vaultly.watch.failing", metric.WithUnit("{entry}"), metric.WithDescription("Watched entries whose last poll failed"))
	oldest, _ := m.Float64ObservableGauge("vaultly.cache.oldest_age", metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest cached value: seconds since it was read or last confirmed unchanged by a watch"))
	set := metric.WithAttributeSet(attribute.NewSet(base))
	sm.reg, _ = m.RegisterCallback(func(_ context.Context, obs metric.Observer) error {
		st := s.Stats()
		obs.ObserveInt64(hits, int64(st.Hits), set)
		obs.ObserveInt64(misses, int64(st.Misses), set)
		obs.ObserveInt64(refreshes, int64(st.Refreshes), set)
		obs.ObserveInt64(refreshFailures, int64(st.RefreshFailures), set)
		obs.ObserveInt64(evictions, int64(st.Evictions), set)
		obs.ObserveInt64(stale, int64(st.StaleServes), set)
		obs.ObserveInt64(entries, int64(st.Entries), set)
		n, bad := s.watchStats()
		obs.ObserveInt64(watches, int64(n), set)
		obs.ObserveInt64(failing, int64(bad), set)
		if age, ok := s.oldestAge(time.Now()); ok {
			obs.ObserveFloat64(oldest, age.Seconds(), set)
		}
		return nil
	}, hits, misses, refreshes, refreshFailures, evictions, stale, entries, watches, failing, oldest)
	return sm
}

// start is the start time of a backend request (zero when off).
func (m *storeMeters) start() time.Time {
	if m == nil {
		return time.Time{}
	}
	return m.req.Start()
}

// done records a backend request of op on path that began at start.
func (m *storeMeters) done(ctx context.Context, op, path string, start time.Time, err error) {
	if m != nil {
		m.req.Done(ctx, op, path, start, err)
	}
}

func (m *storeMeters) poll(err error) {
	if m != nil {
		m.polls.Add(context.Background(), telemetry.CodeOf(err))
	}
}

func (m *storeMeters) change(k ChangeKind) {
	if m != nil {
		m.changes.Add(context.Background(), k.String())
	}
}

// span starts a span "vaultly.<op>" when tracing is on.
func (m *storeMeters) span(ctx context.Context, op, path string) (context.Context, trace.Span) {
	if m == nil || m.tracer == nil {
		return ctx, nil
	}
	attrs := []attribute.KeyValue{m.backend, telemetry.Op.String(op)}
	if m.paths {
		attrs = append(attrs, telemetry.Path.String(path))
	}
	return m.tracer.Start(ctx, "vaultly."+op, trace.WithAttributes(attrs...))
}

func endSpan(span trace.Span, err error) {
	if span != nil {
		telemetry.EndSpan(span, err)
	}
}

func (m *storeMeters) close() {
	if m != nil && m.reg != nil {
		_ = m.reg.Unregister()
	}
}

// oldestAge is how long ago the least recently read or confirmed cached
// value was known to be current; false with nothing cached.
func (s *Store) oldestAge(now time.Time) (time.Duration, bool) {
	var oldest time.Time
	for _, es := range s.c.Cached() {
		it := es.Item()
		if it == nil {
			continue
		}
		t := it.Fetched
		if c := it.Confirmed(); c.After(t) {
			t = c
		}
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	if oldest.IsZero() {
		return 0, false
	}
	return now.Sub(oldest), true
}
