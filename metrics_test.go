package vaultly_test

import (
	"context"
	"strings"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/memsecrets"
)

// TestSpansAndPathAttributes: a span per backend fetch and write, with the
// backend, operation and code; the path only with MetricPaths, in spans
// and request metrics alike; never a value.
func TestSpansAndPathAttributes(t *testing.T) {
	t.Parallel()
	for _, paths := range []bool{false, true} {
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		reader := sdkmetric.NewManualReader()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
		m := memsecrets.New(nil)
		m.SetValue("app/k", "s3cret-value")
		s := vaultly.New(m, &vaultly.Options{TracerProvider: tp, MeterProvider: mp, MetricPaths: paths})
		ctx := context.Background()
		if _, err := s.Get(ctx, "app/k"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "app/missing"); err == nil {
			t.Fatal("Get of a missing entry: no error")
		}
		if err := s.Put(ctx, "app/k", map[string]any{"value": "s3cret-2"}); err != nil {
			t.Fatal(err)
		}
		s.Close()
		var got []string
		for _, sp := range rec.Ended() {
			line := sp.Name()
			for _, kv := range sp.Attributes() {
				line += " " + string(kv.Key) + "=" + kv.Value.String()
			}
			got = append(got, line)
		}
		want := []string{
			"vaultly.read vaultly.backend=memory vaultly.op=read vaultly.code=ok",
			"vaultly.read vaultly.backend=memory vaultly.op=read vaultly.code=not_found",
			"vaultly.write vaultly.backend=memory vaultly.op=write vaultly.code=ok",
		}
		if paths {
			want = []string{
				"vaultly.read vaultly.backend=memory vaultly.op=read vaultly.path=app/k vaultly.code=ok",
				"vaultly.read vaultly.backend=memory vaultly.op=read vaultly.path=app/missing vaultly.code=not_found",
				"vaultly.write vaultly.backend=memory vaultly.op=write vaultly.path=app/k vaultly.code=ok",
			}
		}
		if !cmpEqual(got, want) {
			t.Errorf("MetricPaths %v: spans\n%s\nwant\n%s", paths, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		mt := collect(t, reader)
		attrs := strings.Join(mt.allAttributes(), " ")
		if strings.Contains(attrs, "s3cret") || strings.Contains(strings.Join(got, " "), "s3cret") {
			t.Errorf("a value in attributes: %s", attrs)
		}
		if has := strings.Contains(attrs, "vaultly.path=app/k"); has != paths {
			t.Errorf("MetricPaths %v: request metrics carry the path: %v", paths, has)
		}
		if n := mt.sum("vaultly.backend.requests", opAttr("read"), codeAttr("not_found")); n != 1 {
			t.Errorf("vaultly.backend.requests{read, not_found} = %d, want 1", n)
		}
	}
}
