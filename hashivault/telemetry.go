package hashivault

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/vaultly/vaultly/internal/telemetry"
)

// Operation names of the vaultly.vault.requests metric and of spans. A
// request whose caller names no operation is "call".
const (
	opCall        = "call"
	opKVRead      = "kv.read"
	opKVVersion   = "kv.version"
	opKVManage    = "kv.manage" // Put, Patch, Delete, List, versions, metadata, engine config
	opLeaseIssue  = "lease.issue"
	opLeaseRenew  = "lease.renew"
	opLeaseRevoke = "lease.revoke"
	opPKIIssue    = "pki.issue" // issue or sign
	opPKIRevoke   = "pki.revoke"
	opPKICA       = "pki.ca"
)

type opKey struct{}

// withOp names the operation of the requests made under ctx.
func withOp(ctx context.Context, op string) context.Context {
	return context.WithValue(ctx, opKey{}, op)
}

func opOf(ctx context.Context) string {
	if op, ok := ctx.Value(opKey{}).(string); ok {
		return op
	}
	return opCall
}

// meters are the backend's instruments; a nil *meters records nothing
// (no MeterProvider and no TracerProvider).
type meters struct {
	req      *telemetry.Requests
	logins   *telemetry.Counter
	relogins *telemetry.Counter
	renewals *telemetry.Counter
	tracer   trace.Tracer
	paths    bool
	reg      metric.Registration
}

// newMeters creates the instruments of b (see the README's "Metrics and
// health"): requests and their duration by operation and code, logins,
// re-logins after a rejected token, token renewals by code, and the
// seconds left on the token.
func newMeters(b *Backend, o *Options) *meters {
	if o.MeterProvider == nil && o.TracerProvider == nil {
		return nil
	}
	m := telemetry.Meter(o.MeterProvider)
	base := telemetry.Backend.String(backendName)
	mt := &meters{
		req:      telemetry.NewRequests(m, "vaultly.vault", "Requests sent to Vault", o.MetricPaths, base),
		logins:   telemetry.NewCounter(m, "vaultly.vault.logins", "{login}", "Logins through the auth method (the first, re-logins and replacements before the max TTL), by result code", telemetry.Code, base),
		relogins: telemetry.NewCounter(m, "vaultly.vault.relogins", "{login}", "Logins made because Vault rejected the token (revoked or expired), by result code", telemetry.Code, base),
		renewals: telemetry.NewCounter(m, "vaultly.vault.token.renewals", "{renewal}", "Token renewals (renew-self), by result code", telemetry.Code, base),
		tracer:   telemetry.Tracer(o.TracerProvider),
		paths:    o.MetricPaths,
	}
	ttl, err := m.Float64ObservableGauge("vaultly.vault.token.ttl", metric.WithUnit("s"),
		metric.WithDescription("Seconds until the backend's token expires unless renewed (not reported for a token without expiry)"))
	if err == nil {
		set := metric.WithAttributeSet(attribute.NewSet(base))
		mt.reg, _ = m.RegisterCallback(func(_ context.Context, obs metric.Observer) error {
			b.mu.Lock()
			l := b.lease
			b.mu.Unlock()
			if l.TTL > 0 {
				obs.ObserveFloat64(ttl, time.Until(l.Obtained.Add(l.TTL)).Seconds(), set)
			}
			return nil
		}, ttl)
	}
	return mt
}

// start begins one Call: its start time, and a span when tracing is on.
func (m *meters) start(ctx context.Context) (context.Context, time.Time, trace.Span) {
	if m == nil {
		return ctx, time.Time{}, nil
	}
	var span trace.Span
	if m.tracer != nil {
		ctx, span = m.tracer.Start(ctx, "vault "+opOf(ctx), trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(telemetry.Backend.String(backendName), telemetry.Op.String(opOf(ctx))))
	}
	return ctx, m.req.Start(), span
}

// callDone ends a Call: the time of the last success, and what start began.
func (b *Backend) callDone(ctx context.Context, start time.Time, span trace.Span, err error) {
	if err == nil {
		b.lastOK.Store(time.Now().UnixNano())
	}
	b.tel.done(ctx, start, span, err)
}

// done ends what start began, with the Call's error.
func (m *meters) done(ctx context.Context, start time.Time, span trace.Span, err error) {
	if m == nil {
		return
	}
	m.req.Done(ctx, opOf(ctx), pathOf(ctx), start, err)
	if span != nil {
		telemetry.EndSpan(span, err)
	}
}

func (m *meters) login(err error) {
	if m != nil {
		m.logins.Add(context.Background(), telemetry.CodeOf(err))
	}
}

func (m *meters) relogin(err error) {
	if m != nil {
		m.relogins.Add(context.Background(), telemetry.CodeOf(err))
	}
}

func (m *meters) renewal(err error) {
	if m != nil {
		m.renewals.Add(context.Background(), telemetry.CodeOf(err))
	}
}

func (m *meters) close() {
	if m != nil && m.reg != nil {
		_ = m.reg.Unregister()
	}
}

type pathKey struct{}

// withPath records the entry path a request is for, for the metrics'
// opt-in path attribute.
func (b *Backend) withPath(ctx context.Context, path string) context.Context {
	if b.tel == nil || !b.tel.paths {
		return ctx
	}
	return context.WithValue(ctx, pathKey{}, path)
}

func pathOf(ctx context.Context) string {
	p, _ := ctx.Value(pathKey{}).(string)
	return p
}
