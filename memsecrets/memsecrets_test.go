package memsecrets_test

import (
	"context"
	"testing"

	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/drivertest"
	"github.com/vaultly/vaultly/memsecrets"
)

type harness struct{ b *memsecrets.Backend }

func (h *harness) MakeBackend(context.Context) (driver.Backend, error) { return h.b, nil }
func (h *harness) Put(_ context.Context, path string, fields map[string]any) (int, error) {
	return h.b.Set(path, fields), nil
}
func (h *harness) Capabilities() drivertest.Capabilities {
	return drivertest.Capabilities{Versions: true}
}
func (h *harness) Close() {}

func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, func(context.Context, *testing.T) (drivertest.Harness, error) {
		return &harness{b: memsecrets.New(nil)}, nil
	})
}
