package memsecrets

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/internal/fieldtext"
)

// Role makes a path issue dynamic secrets, like a role of Vault's database
// secrets engine at database/creds/NAME: each IssueLease creates new fields
// bound to a new lease. Leases follow time.Now (a synctest bubble's clock
// inside one): a lease ends when its TTL has passed without a renewal, when
// its MaxTTL since issue is reached, or when it is revoked.
type Role struct {
	// TTL is each lease's duration when issued, and the extension a
	// renewal asking for 0 gets. Default: 0, leases without an end, which
	// cannot be renewed.
	TTL time.Duration
	// MaxTTL caps each lease's life from its issue: a renewal never takes
	// it past that, so near the end it grants less than asked. Default: 0,
	// no cap.
	MaxTTL time.Duration
	// NotRenewable issues leases that cannot be renewed: RenewLease fails
	// with InvalidArgument. Default false.
	NotRenewable bool
	// Granularity truncates every duration reported by IssueLease and
	// RenewLease to a multiple of it, as Vault reports whole seconds
	// (time.Second); the leases themselves keep exact ends. Default: 0,
	// exact durations.
	Granularity time.Duration
	// Fields returns the fields of the n-th secret issued at the path
	// (n from 1); values as for Set. Default: {"username": "NAME-n",
	// "password": "NAME-n-password"}, NAME being the path's last segment.
	Fields func(n int) map[string]any
}

type role struct {
	Role
	issued int
}

// LeaseState is what the backend knows of one lease it issued.
type LeaseState struct {
	ID       string
	Path     string    // the role's path
	N        int       // the lease is the N-th issued at Path, from 1
	Issued   time.Time // when it was issued
	Expires  time.Time // when it ends unless renewed; zero: no end
	MaxEnd   time.Time // the end no renewal goes past; zero: no cap
	Revoked  bool      // by RevokeLease or Revoke
	Renewals int       // successful renewals
}

// Alive reports whether the lease is still valid at now.
func (s LeaseState) Alive(now time.Time) bool {
	return !s.Revoked && (s.Expires.IsZero() || now.Before(s.Expires))
}

type leaseState struct {
	LeaseState
	role *role
}

// SetRole makes path issue dynamic secrets with the lease terms of r
// (driver.Leaser); a leading '/' is ignored. Changing a role affects leases
// issued afterwards. A path may hold a role and an entry at once: Read
// serves the entry, IssueLease the role.
func (b *Backend) SetRole(path string, r Role) {
	path = strings.TrimPrefix(path, "/")
	b.mu.Lock()
	defer b.mu.Unlock()
	if old, ok := b.roles[path]; ok {
		old.Role = r // keep the issue count, so lease IDs stay unique
		return
	}
	b.roles[path] = &role{Role: r}
}

// Revoke ends lease id as if it was revoked behind the client's back (by an
// operator, or lost by a restarted server): its next renewal fails with
// NotFound. Unlike RevokeLease it is not recorded and runs no hook. It
// reports whether the lease was known.
func (b *Backend) Revoke(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	l, ok := b.leases[id]
	if ok {
		l.Revoked = true
	}
	return ok
}

// Leases returns the state of every lease issued at path ("" for every
// path), in the order they were issued.
func (b *Backend) Leases(path string) []LeaseState {
	path = strings.TrimPrefix(path, "/")
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []LeaseState
	for _, id := range b.order {
		if l := b.leases[id]; path == "" || l.Path == path {
			out = append(out, l.LeaseState)
		}
	}
	return out
}

// Lease returns the state of lease id.
func (b *Backend) Lease(id string) (LeaseState, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l, ok := b.leases[id]
	if !ok {
		return LeaseState{}, false
	}
	return l.LeaseState, true
}

// IssueLease issues the next secret of the role at path (driver.Leaser).
// Lease IDs are "PATH/N". A path without a role is NotFound, or
// InvalidArgument when it holds an entry (a secret without a lease).
func (b *Backend) IssueLease(ctx context.Context, path string) (*driver.Entry, error) {
	path = strings.TrimPrefix(path, "/")
	if err := b.begin(ctx, Call{Op: OpIssue, Path: path}); err != nil {
		return nil, err
	}
	b.mu.Lock()
	r, ok := b.roles[path]
	if !ok {
		_, entry := b.entries[path]
		b.mu.Unlock()
		if entry {
			return nil, driver.NewError(driver.InvalidArgument, errors.New("the secret has no lease"))
		}
		return nil, driver.NewError(driver.NotFound, errors.New("no role"))
	}
	r.issued++
	n, terms := r.issued, r.Role
	b.mu.Unlock()

	var raw map[string]any
	if terms.Fields != nil {
		raw = terms.Fields(n)
	} else {
		name := path[strings.LastIndexByte(path, '/')+1:]
		raw = map[string]any{"username": name + "-" + strconv.Itoa(n), "password": name + "-" + strconv.Itoa(n) + "-password"}
	}
	fields, err := fieldtext.Normalize(raw)
	if err != nil {
		panic("memsecrets: Role.Fields for " + path + ": " + err.Error())
	}

	now := time.Now()
	l := &leaseState{LeaseState: LeaseState{ID: path + "/" + strconv.Itoa(n), Path: path, N: n, Issued: now}, role: r}
	if terms.TTL > 0 {
		l.Expires = now.Add(terms.TTL)
		if terms.MaxTTL > 0 {
			l.MaxEnd = now.Add(terms.MaxTTL)
			l.Expires = minTime(l.Expires, l.MaxEnd)
		}
	}
	b.mu.Lock()
	b.leases[l.ID] = l
	b.order = append(b.order, l.ID)
	b.mu.Unlock()
	return &driver.Entry{
		Path:   path,
		Fields: fields,
		Lease:  &driver.Lease{ID: l.ID, Duration: truncate(remaining(l.Expires, now), terms.Granularity), Renewable: renewable(terms)},
	}, nil
}

// RenewLease extends lease id by increment from now (0: the role's TTL),
// never past its MaxEnd (driver.Leaser). A lease that was revoked, has
// ended or was never issued is NotFound; one that is not renewable is
// InvalidArgument.
func (b *Backend) RenewLease(ctx context.Context, id string, increment time.Duration) (*driver.Lease, error) {
	b.mu.Lock()
	l, ok := b.leases[id]
	path := ""
	if ok {
		path = l.Path
	}
	b.mu.Unlock()
	if err := b.begin(ctx, Call{Op: OpRenew, Path: path, LeaseID: id}); err != nil {
		return nil, err
	}
	if increment < 0 {
		return nil, driver.NewError(driver.InvalidArgument, errors.New("negative increment"))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if !ok || !l.Alive(now) {
		return nil, driver.NewError(driver.NotFound, fmt.Errorf("lease %s not found", id))
	}
	terms := l.role.Role
	if l.Expires.IsZero() || terms.NotRenewable {
		return nil, driver.NewError(driver.InvalidArgument, fmt.Errorf("lease %s is not renewable", id))
	}
	if increment == 0 {
		increment = terms.TTL
	}
	end := now.Add(increment)
	if !l.MaxEnd.IsZero() {
		end = minTime(end, l.MaxEnd)
	}
	l.Expires = end
	l.Renewals++
	return &driver.Lease{ID: id, Duration: truncate(end.Sub(now), terms.Granularity), Renewable: true}, nil
}

// RevokeLease ends lease id now (driver.Leaser). An unknown or ended lease
// is not an error.
func (b *Backend) RevokeLease(ctx context.Context, id string) error {
	b.mu.Lock()
	path := ""
	if l, ok := b.leases[id]; ok {
		path = l.Path
	}
	b.mu.Unlock()
	if err := b.begin(ctx, Call{Op: OpRevoke, Path: path, LeaseID: id}); err != nil {
		return err
	}
	b.Revoke(id)
	return nil
}

func renewable(r Role) bool { return r.TTL > 0 && !r.NotRenewable }

func remaining(end, now time.Time) time.Duration {
	if end.IsZero() {
		return 0
	}
	return max(end.Sub(now), 0)
}

func truncate(d, g time.Duration) time.Duration {
	if g <= 0 {
		return d
	}
	return d.Truncate(g)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
