// Package memsecrets is an in-memory vaultly backend: the test double to use
// in tests of code that reads secrets through a *vaultly.Store.
//
// It keeps versions (every Set or Write adds one, numbered from 1), records
// its calls (Calls keeps the latest MaxCalls, CallCount counts them all),
// and can inject errors (SetError, FailNext) or run a hook before each call
// (SetHook) to block, count or fail it. It implements
// driver.Backend and every optional driver interface: Writer, Lister,
// DefaultKeyer, ChangeNotifier (a Store in front of it drops its cached
// entry when the test calls Set), Versioner (the latest version's number
// and whether DeleteVersion or DestroyVersion made it unreadable, as Vault
// KV v2 reports them), and Leaser — SetRole makes a path issue
// fake dynamic secrets with leases that have a TTL and a max TTL, can be
// renewed, and can be lost (Revoke), so that vaultly.OpenDynamic and
// sqlsecrets are testable without Vault, under testing/synctest too (leases
// follow time.Now, so a synctest bubble's fake clock drives them).
//
//	b := memsecrets.New(nil)
//	b.Set("myapp/db", map[string]any{"username": "app", "password": "s3cret", "port": 5432})
//	s := vaultly.New(b, nil)
//	defer s.Close()
//	pw, err := s.Get(ctx, "myapp/db:password")
//
// A *Backend is safe for concurrent use. Close only marks it closed (see
// Closed); it holds no resources.
package memsecrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/internal/fieldtext"
	"github.com/vaultly/vaultly/internal/notify"
	"github.com/vaultly/vaultly/internal/pathlist"
)

// Options configures a Backend. A nil *Options means defaults.
type Options struct {
	// Name is the backend's name in errors and logs. Default: "memory".
	Name string
	// DefaultKey, if set, is reported through driver.DefaultKeyer as the
	// field read by references without ":key". Default: "" (the Store's
	// default, "value").
	DefaultKey string
}

// Ops recorded in Call.Op.
const (
	OpRead   = "read"
	OpWrite  = "write"
	OpDelete = "delete"
	OpList   = "list"
	OpIssue  = "issue"  // IssueLease
	OpRenew  = "renew"  // RenewLease
	OpRevoke = "revoke" // RevokeLease
)

// Call is one recorded call to the backend.
type Call struct {
	Op      string // one of the Op constants
	Path    string // the path; the prefix for OpList; the role's path for lease calls ("" for an unknown lease)
	Version int    // for OpRead: the version asked for (0 = latest)
	LeaseID string // for OpRenew and OpRevoke: the lease
}

type version struct {
	fields             map[string]string
	created            time.Time
	deleted, destroyed bool // DeleteVersion, DestroyVersion (watch.go)
}

// Backend is an in-memory secret store. Create it with New.
//
// It prints as its name for every fmt verb, in slog and in JSON
// ("memsecrets.Backend(memory)"), never a stored value. Its state sits
// behind a pointer, so even a *Backend in an unexported field of a
// caller's struct, which fmt prints without calling its methods, shows an
// address and not the values.
type Backend struct{ *backend }

type backend struct {
	name, defKey string

	mu        sync.Mutex
	entries   map[string][]version
	calls     []Call         // the latest calls, at most 2*MaxCalls (Calls returns MaxCalls)
	counts    map[opPath]int // every call since New or ResetCalls, by op and path
	pathErr   map[string]error
	failN     int
	failErr   error
	hook      func(ctx context.Context, c Call) error
	listeners notify.Listeners
	closed    bool

	roles  map[string]*role
	leases map[string]*leaseState
	order  []string // lease IDs in issue order

	pki map[string]*pkiMount // fake PKI mounts (pki.go)
}

var (
	_ driver.Backend        = (*Backend)(nil)
	_ driver.Writer         = (*Backend)(nil)
	_ driver.Lister         = (*Backend)(nil)
	_ driver.ChangeNotifier = (*Backend)(nil)
	_ driver.DefaultKeyer   = (*Backend)(nil)
	_ driver.Leaser         = (*Backend)(nil)
	_ driver.Versioner      = (*Backend)(nil)
)

// New returns an empty Backend.
func New(opts *Options) *Backend {
	b := &Backend{&backend{name: "memory", entries: map[string][]version{}, pathErr: map[string]error{},
		roles: map[string]*role{}, leases: map[string]*leaseState{}}}
	if opts != nil {
		if opts.Name != "" {
			b.name = opts.Name
		}
		b.defKey = opts.DefaultKey
	}
	return b
}

// Name returns the backend's name ("memory" unless Options.Name is set).
func (b *Backend) Name() string { return b.name }

// String returns "memsecrets.Backend(NAME)": never a stored value.
func (b *Backend) String() string {
	if b == nil || b.backend == nil {
		return "memsecrets.Backend(<nil>)"
	}
	return "memsecrets.Backend(" + b.name + ")"
}

// GoString is String, for %#v.
func (b *Backend) GoString() string { return b.String() }

// Format writes String for every verb and flag.
func (b *Backend) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, b.String()) }

// LogValue is String, for log/slog.
func (b *Backend) LogValue() slog.Value { return slog.StringValue(b.String()) }

// MarshalJSON encodes String as a JSON string.
func (b *Backend) MarshalJSON() ([]byte, error) { return json.Marshal(b.String()) }

// DefaultKey returns Options.DefaultKey.
func (b *Backend) DefaultKey() string { return b.defKey }

// Set stores fields as a new version of the entry at path (a leading '/'
// is ignored) and returns the version number. Strings are stored as they
// are, other values as their JSON text (42 → "42"). It panics if a value
// cannot be encoded as JSON: that is a bug in the test. Set is not recorded
// in Calls and does not run the hook.
func (b *Backend) Set(path string, fields map[string]any) int {
	f, err := fieldtext.Normalize(fields)
	if err != nil {
		panic("memsecrets: Set " + path + ": " + err.Error())
	}
	return b.set(strings.TrimPrefix(path, "/"), f)
}

// SetValue is Set(path, {"value": value}).
func (b *Backend) SetValue(path, value string) int {
	return b.set(strings.TrimPrefix(path, "/"), map[string]string{"value": value})
}

func (b *Backend) set(path string, f map[string]string) int {
	b.mu.Lock()
	b.entries[path] = append(b.entries[path], version{fields: f, created: time.Now()})
	n := len(b.entries[path])
	b.mu.Unlock()
	b.listeners.Notify(path)
	return n
}

// Remove deletes the entry at path with all its versions, like Delete,
// without recording a call.
func (b *Backend) Remove(path string) {
	path = strings.TrimPrefix(path, "/")
	b.mu.Lock()
	delete(b.entries, path)
	b.mu.Unlock()
	b.listeners.Notify(path)
}

// SetError makes every call on path fail with err until SetError(path, nil).
// path "" applies to every path. Use a *driver.Error to choose the code the
// Store sees, e.g. driver.NewError(driver.Unavailable, nil).
func (b *Backend) SetError(path string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	path = strings.TrimPrefix(path, "/")
	if err == nil {
		delete(b.pathErr, path)
		return
	}
	b.pathErr[path] = err
}

// FailNext makes the next n calls (of any op) fail with err.
func (b *Backend) FailNext(n int, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failN, b.failErr = n, err
}

// SetHook installs fn, called at the start of every recorded call with the
// call's context. It may block (it should honour ctx); a non-nil error is
// returned by the call. nil removes the hook.
func (b *Backend) SetHook(fn func(ctx context.Context, c Call) error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hook = fn
}

// MaxCalls is how many of the latest calls Calls keeps, so that a Backend
// under a long-running load holds bounded memory. CallCount counts every
// call.
const MaxCalls = 100_000

// opPath keys CallCount's counts.
type opPath struct{ op, path string }

// Calls returns the calls recorded since New or ResetCalls, oldest first:
// the latest MaxCalls of them.
func (b *Backend) Calls() []Call {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.calls[max(0, len(b.calls)-MaxCalls):])
}

// CallCount returns how many calls since New or ResetCalls had op and
// path (all of them, also beyond MaxCalls).
func (b *Backend) CallCount(op, path string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.counts[opPath{op, path}]
}

// ResetCalls forgets the recorded calls.
func (b *Backend) ResetCalls() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls, b.counts = nil, nil
}

// Closed reports whether Close was called.
func (b *Backend) Closed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// begin records c and applies the hook and injected errors.
func (b *Backend) begin(ctx context.Context, c Call) error {
	b.mu.Lock()
	if len(b.calls) >= 2*MaxCalls {
		b.calls = append(b.calls[:0], b.calls[len(b.calls)-MaxCalls:]...)
	}
	b.calls = append(b.calls, c)
	if b.counts == nil {
		b.counts = map[opPath]int{}
	}
	b.counts[opPath{c.Op, c.Path}]++
	hook := b.hook
	var err error
	if b.failN > 0 {
		b.failN--
		err = b.failErr
	} else if e, ok := b.pathErr[c.Path]; ok {
		err = e
	} else if e, ok := b.pathErr[""]; ok {
		err = e
	}
	b.mu.Unlock()
	if err != nil {
		return err
	}
	if hook != nil {
		if err := hook(ctx, c); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Read returns the entry at path: version 0 is the latest, others the
// numbered version. A missing entry or version has code NotFound.
func (b *Backend) Read(ctx context.Context, path string, v int) (*driver.Entry, error) {
	if err := b.begin(ctx, Call{Op: OpRead, Path: path, Version: v}); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	vs := b.entries[path]
	if len(vs) == 0 {
		return nil, driver.NewError(driver.NotFound, errors.New("no entry"))
	}
	if v < 0 || v > len(vs) {
		return nil, driver.NewError(driver.NotFound, errors.New("no such version"))
	}
	n := v
	if n == 0 {
		n = len(vs)
	}
	ver := vs[n-1]
	if err := ver.unreadable(n); err != nil {
		return nil, err
	}
	return &driver.Entry{
		Path:     path,
		Version:  n,
		Fields:   maps.Clone(ver.fields),
		Metadata: &driver.Metadata{CreatedTime: ver.created},
	}, nil
}

// Write stores fields as a new version (driver.Writer).
func (b *Backend) Write(ctx context.Context, path string, fields map[string]any) error {
	if err := b.begin(ctx, Call{Op: OpWrite, Path: path}); err != nil {
		return err
	}
	f, err := fieldtext.Normalize(fields)
	if err != nil {
		return driver.NewError(driver.InvalidArgument, err)
	}
	b.set(path, f)
	return nil
}

// Delete removes the entry at path with all its versions (driver.Writer).
// Deleting a missing entry is not an error.
func (b *Backend) Delete(ctx context.Context, path string) error {
	if err := b.begin(ctx, Call{Op: OpDelete, Path: path}); err != nil {
		return err
	}
	b.Remove(path)
	return nil
}

// List returns the sorted names directly under prefix; folders end in '/'
// (driver.Lister). An empty result is not an error.
func (b *Backend) List(ctx context.Context, prefix string) ([]string, error) {
	prefix = strings.Trim(prefix, "/")
	if err := b.begin(ctx, Call{Op: OpList, Path: prefix}); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return pathlist.Children(maps.Keys(b.entries), prefix), nil
}

// OnChange adds fn, called after every Set, SetValue, Remove, Write and
// Delete with the path, and returns a function that removes it
// (driver.ChangeNotifier). Each registration is independent.
func (b *Backend) OnChange(fn func(path string)) (remove func()) {
	return b.listeners.Add(fn)
}

// Close marks the backend closed; it keeps working.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}
