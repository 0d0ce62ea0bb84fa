package vaultly

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vaultly/vaultly/driver"
)

// BackendHealth is a backend's own report (driver.HealthReporter).
type BackendHealth = driver.Health

// Health is a Store's state for readiness probes and diagnostics. It holds
// no value and no token.
type Health struct {
	// Backend is the backend's name.
	Backend string
	// Server is the backend's report when it implements
	// driver.HealthReporter (hashivault does: reachable, sealed, token
	// expiry), nil otherwise.
	Server *BackendHealth
	// OutageSince is when the Store's outage breaker opened (see
	// OutagePolicy): since then the backend gets one probe at a time and
	// stale reads are served without asking it. Zero while it is closed.
	OutageSince time.Time
	// LastSuccess is the end of the last backend read through the Store
	// (a fetch or a watch poll) that succeeded; zero if none yet.
	LastSuccess time.Time
	// Entries is the number of cached entries, Stale of those that are
	// being served stale after a failed read (Options.StaleOnError).
	Entries, Stale int
	// Watches is the number of watched entries, WatchesFailing of those
	// whose last poll failed.
	Watches, WatchesFailing int
	// LeasesAtRisk are the paths of the dynamic secrets (OpenDynamic)
	// whose last renewal or issue failed; each keeps trying on its own.
	LeasesAtRisk []string
	// Problems describes, one line each, what is wrong: the server's
	// error, stale entries, failing watches, leases at risk. Empty when
	// all is well.
	Problems []string
}

// OK reports whether there is no problem.
func (h Health) OK() bool { return len(h.Problems) == 0 }

// Err returns nil when all is well, else an Unavailable *Error listing the
// problems (or the server's own error, with its code, when that is the only
// one).
func (h Health) Err() error {
	if h.OK() {
		return nil
	}
	if h.Server != nil && h.Server.Err != nil && len(h.Problems) == 1 {
		return h.Server.Err
	}
	return &Error{Op: "health", Backend: h.Backend, Code: Unavailable, Err: errors.New(strings.Join(h.Problems, "; "))}
}

// Health reports the Store's state: the backend's own report (one request
// for hashivault, bounded by ctx), the last successful read, stale
// entries, failing watches and dynamic secrets whose renewal fails. Use
// Health.Err as a readiness probe's answer, or look at the fields to
// decide what matters for the application (a Store serving from its cache
// while Vault is down may well be ready).
func (s *Store) Health(ctx context.Context) Health {
	h := Health{Backend: s.name}
	if hr, ok := s.b.(driver.HealthReporter); ok && !s.isClosed() {
		bh := hr.Health(ctx)
		h.Server = &bh
		if bh.Err != nil {
			h.Problems = append(h.Problems, bh.Err.Error())
		}
	}
	if s.isClosed() {
		h.Problems = append(h.Problems, "store is closed")
	}
	if n := s.lastOK.Load(); n != 0 {
		h.LastSuccess = time.Unix(0, n)
	}
	if err := s.out.Err(); err != nil {
		h.OutageSince = s.out.State().Since
		h.Problems = append(h.Problems, err.Error())
	}
	for _, es := range s.c.Cached() {
		if it := es.Item(); it != nil {
			h.Entries++
			if !it.StaleSince().IsZero() {
				h.Stale++
			}
		}
	}
	h.Watches, h.WatchesFailing = s.watchStats()
	h.LeasesAtRisk = s.leases.AtRisk()
	slices.Sort(h.LeasesAtRisk)
	if h.Stale > 0 {
		h.Problems = append(h.Problems, strconv.Itoa(h.Stale)+" cached entries served stale after failed reads")
	}
	if h.WatchesFailing > 0 {
		h.Problems = append(h.Problems, strconv.Itoa(h.WatchesFailing)+" watched entries whose last poll failed")
	}
	if len(h.LeasesAtRisk) > 0 {
		h.Problems = append(h.Problems, "leases whose renewal fails: "+strings.Join(h.LeasesAtRisk, ", "))
	}
	return h
}
