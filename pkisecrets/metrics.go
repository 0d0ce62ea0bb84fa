package pkisecrets

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/vaultly/vaultly/internal/telemetry"
)

// certMeters are a Source's instruments (Options.MeterProvider); a nil
// *certMeters records nothing.
//
//	vaultly.pki.issues        certificates obtained (signed or issued), by result code
//	vaultly.pki.ca_refreshes  reads of the mount's CA certificates, by result code
//	vaultly.pki.cert.ttl      seconds until the current certificate expires
//
// Every point carries the backend, the mount and the role (names an
// operator configures, never a key, a serial or a subject).
type certMeters struct {
	issues, ca *telemetry.Counter
	reg        metric.Registration
}

func newCertMeters(s *Source, mp metric.MeterProvider) *certMeters {
	if mp == nil {
		return nil
	}
	m := telemetry.Meter(mp)
	base := []attribute.KeyValue{telemetry.Backend.String(s.backend), telemetry.Mount.String(s.mount), telemetry.Role.String(s.role)}
	cm := &certMeters{
		issues: telemetry.NewCounter(m, "vaultly.pki.issues", "{certificate}", "Certificates obtained from the PKI mount (signed or issued), by result code", telemetry.Code, base...),
		ca:     telemetry.NewCounter(m, "vaultly.pki.ca_refreshes", "{read}", "Reads of the PKI mount's CA certificates, by result code", telemetry.Code, base...),
	}
	ttl, err := m.Float64ObservableGauge("vaultly.pki.cert.ttl", metric.WithUnit("s"),
		metric.WithDescription("Seconds until the current certificate expires"))
	if err == nil {
		set := metric.WithAttributeSet(attribute.NewSet(base...))
		cm.reg, _ = m.RegisterCallback(func(_ context.Context, obs metric.Observer) error {
			if c := s.cur.Load(); c != nil {
				obs.ObserveFloat64(ttl, time.Until(c.NotAfter()).Seconds(), set)
			}
			return nil
		}, ttl)
	}
	return cm
}

func (m *certMeters) issued(err error) {
	if m != nil {
		m.issues.Add(context.Background(), telemetry.CodeOf(err))
	}
}

func (m *certMeters) caRefreshed(err error) {
	if m != nil {
		m.ca.Add(context.Background(), telemetry.CodeOf(err))
	}
}

func (m *certMeters) close() {
	if m != nil && m.reg != nil {
		_ = m.reg.Unregister()
	}
}
