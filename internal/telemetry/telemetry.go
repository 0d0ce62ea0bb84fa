// Package telemetry holds what every vaultly package shares to report
// OpenTelemetry metrics and spans: the instrumentation scope, the
// attribute keys and their bounded values, and a counter-plus-histogram
// pair whose attribute sets are built once, so that recording allocates
// nothing.
//
// Attribute values are shapes, never secrets: backend names, operation
// names, result codes, mount names, change kinds, and entry paths only
// when the application opts in (paths are names, not values, but each
// one is a time series). No attribute ever holds a value or a token.
//
// Everything here is safe for concurrent use and starts nothing.
package telemetry

import (
	"context"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"

	"github.com/vaultly/vaultly/internal/errs"
)

// Scope is the instrumentation scope of every vaultly meter and tracer.
const Scope = "github.com/vaultly/vaultly"

// Attribute keys.
const (
	Backend = attribute.Key("vaultly.backend") // the backend's Name(): "vault", "memory", ...
	Op      = attribute.Key("vaultly.op")      // the operation: "read", "write", "kv.version", ...
	Code    = attribute.Key("vaultly.code")    // the result: "ok", "not_found", "unavailable", ...
	Kind    = attribute.Key("vaultly.kind")    // a change kind: "updated", "deleted", "destroyed"
	Mount   = attribute.Key("vaultly.mount")   // a mount (first path segment or configured mount)
	Role    = attribute.Key("vaultly.role")    // a PKI role
	Path    = attribute.Key("vaultly.path")    // an entry path; only when the application opts in
)

// Meter returns the vaultly meter of mp, or a no-op meter when mp is nil.
func Meter(mp metric.MeterProvider) metric.Meter {
	if mp == nil {
		return noop.NewMeterProvider().Meter(Scope)
	}
	return mp.Meter(Scope)
}

// Tracer returns the vaultly tracer of tp, or nil when tp is nil: callers
// start no span at all then (not even a no-op one).
func Tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		return nil
	}
	return tp.Tracer(Scope)
}

var codeNames = func() [errs.Malformed + 1]string {
	var out [errs.Malformed + 1]string
	for c := range out {
		out[c] = strings.ReplaceAll(errs.Code(c).String(), " ", "_")
	}
	return out
}()

// CodeName returns the attribute value of c: its name with '_' for
// spaces ("ok", "not_found", "malformed_response").
func CodeName(c errs.Code) string {
	if c >= 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "unknown"
}

// CodeOf returns the attribute value of err's code ("ok" for nil).
func CodeOf(err error) string { return CodeName(errs.CodeOf(err)) }

// MountOf returns the first segment of path: a bounded stand-in for it.
func MountOf(path string) string {
	m, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return m
}

// Requests counts requests by operation and result code and records their
// durations, with fixed attributes (e.g. the backend) on every point. The
// zero *Requests (nil) records nothing.
type Requests struct {
	count metric.Int64Counter
	dur   metric.Float64Histogram
	base  []attribute.KeyValue
	paths bool

	mu   sync.RWMutex
	sets map[string]*[len(codeNames)]recordOpts // op -> per code
}

type recordOpts struct {
	add    []metric.AddOption
	record []metric.RecordOption
}

// NewRequests creates the instruments name+".requests" and
// name+".request.duration" on m. With paths, each point also carries
// the path given to Done.
func NewRequests(m metric.Meter, name, what string, paths bool, base ...attribute.KeyValue) *Requests {
	r := &Requests{base: base, paths: paths, sets: map[string]*[len(codeNames)]recordOpts{}}
	r.count, _ = m.Int64Counter(name+".requests", metric.WithUnit("{request}"),
		metric.WithDescription(what+" by operation and result code"))
	r.dur, _ = m.Float64Histogram(name+".request.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of "+strings.ToLower(what[:1])+what[1:]+", by operation and result code"),
		metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
	return r
}

// Start returns the start time of a request, or the zero time when r is
// nil (so that a disabled Requests reads no clock).
func (r *Requests) Start() time.Time {
	if r == nil {
		return time.Time{}
	}
	return time.Now()
}

// Done records one request of op that began at start and ended with err.
// path is used only when paths were asked for.
func (r *Requests) Done(ctx context.Context, op, path string, start time.Time, err error) {
	if r == nil {
		return
	}
	d := time.Since(start).Seconds()
	c := errs.CodeOf(err)
	if c < 0 || int(c) >= len(codeNames) {
		c = errs.Unknown
	}
	if r.paths && path != "" {
		set := metric.WithAttributeSet(attribute.NewSet(append(r.attrs(op, c), Path.String(path))...))
		r.count.Add(ctx, 1, set)
		r.dur.Record(ctx, d, set)
		return
	}
	o := r.opts(op, c)
	r.count.Add(ctx, 1, o.add...)
	r.dur.Record(ctx, d, o.record...)
}

func (r *Requests) attrs(op string, c errs.Code) []attribute.KeyValue {
	out := make([]attribute.KeyValue, 0, len(r.base)+3)
	out = append(out, r.base...)
	return append(out, Op.String(op), Code.String(CodeName(c)))
}

func (r *Requests) opts(op string, c errs.Code) recordOpts {
	r.mu.RLock()
	per, ok := r.sets[op]
	r.mu.RUnlock()
	if !ok {
		r.mu.Lock()
		if per, ok = r.sets[op]; !ok {
			per = new([len(codeNames)]recordOpts)
			for i := range per {
				set := metric.WithAttributeSet(attribute.NewSet(r.attrs(op, errs.Code(i))...))
				per[i] = recordOpts{add: []metric.AddOption{set}, record: []metric.RecordOption{set}}
			}
			r.sets[op] = per
		}
		r.mu.Unlock()
	}
	return per[c]
}

// Counter is an Int64Counter whose points carry fixed attributes plus one
// bounded value (a code, a kind), with the option lists built once per
// value. The zero *Counter (nil) records nothing.
type Counter struct {
	c    metric.Int64Counter
	base []attribute.KeyValue
	key  attribute.Key

	mu   sync.RWMutex
	opts map[string][]metric.AddOption
}

// NewCounter creates the counter name on m; key names the attribute Add
// sets.
func NewCounter(m metric.Meter, name, unit, desc string, key attribute.Key, base ...attribute.KeyValue) *Counter {
	c := &Counter{base: base, key: key, opts: map[string][]metric.AddOption{}}
	c.c, _ = m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	return c
}

// Add adds 1 with key=value.
func (c *Counter) Add(ctx context.Context, value string) {
	if c == nil {
		return
	}
	c.mu.RLock()
	o, ok := c.opts[value]
	c.mu.RUnlock()
	if !ok {
		attrs := append(append(make([]attribute.KeyValue, 0, len(c.base)+1), c.base...), c.key.String(value))
		o = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attrs...))}
		c.mu.Lock()
		c.opts[value] = o
		c.mu.Unlock()
	}
	c.c.Add(ctx, 1, o...)
}

// EndSpan ends span with err's code as attribute and, for a failure, an
// error status whose description is the code's name (never the error's
// text, which names paths the application may not want in traces).
func EndSpan(span trace.Span, err error) {
	span.SetAttributes(Code.String(CodeOf(err)))
	if err != nil {
		span.SetStatus(codes.Error, CodeOf(err))
	}
	span.End()
}
