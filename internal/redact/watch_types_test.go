package redact_test

import (
	"github.com/vaultly/vaultly"
)

// Rows for the types of watches, freshness, metrics and health.

func init() { exportedTypes = append(exportedTypes, watchTypes...) }

var watchTypes = []typeRow{
	{name: "driver.Versioner", none: noneInterface},
	{name: "driver.VersionState", none: "a version number and flags"},
	{name: "driver.HealthReporter", none: noneInterface},
	{name: "driver.Health", none: "flags, times and an error (errors never hold a value or token)"},
	{name: "vaultly.BackendHealth", none: "an alias of driver.Health"},
	{name: "drivertest.VersionHarness", none: noneInterface},
	{name: "internal/lease.Meters", none: "instruments and the set of lease watchers (their secrets print redacted, see internal/lease.Secret)"},
	{name: "internal/telemetry.Counter", none: "an instrument and attribute sets of names and codes"},
	{name: "internal/telemetry.Requests", none: "instruments and attribute sets of names and codes"},
	{name: "vaultly.ChangeKind", none: noneEnum},
	{name: "vaultly.Change", make: func(e *env) sample {
		now := &vaultly.Entry{Path: "app", Version: 2, Fields: map[string]string{"pw": canary}}
		before := &vaultly.Entry{Path: "app", Version: 1, Fields: map[string]string{"pw": canary + "-old"}}
		c := vaultly.NewChange(vaultly.ChangeUpdated, "app", 1, 2, []string{"pw"}, now, before)
		return sample{[]any{c, &c}, []string{canary}}
	}},
	{name: "vaultly.Freshness", make: func(e *env) sample {
		s, _ := e.memStore()
		f, err := s.Freshness("app:pw")
		if err != nil || !f.Cached {
			e.t.Fatalf("Freshness = %+v, %v; want the cached entry", f, err)
		}
		return one(f, canary)
	}},
	{name: "vaultly.Health", make: func(e *env) sample {
		s, _ := e.memStore()
		return one(s.Health(e.ctx), canary)
	}},
}
