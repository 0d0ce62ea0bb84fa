package vaultly_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
	"github.com/vaultly/vaultly/memsecrets"
	"github.com/vaultly/vaultly/sqlsecrets"
)

// leaserStub is a driver.Backend + driver.Leaser whose watcher the test
// drives by hand, to check the typed handle's own guarantees (decoding,
// event order, no dropped events). The lease behaviour itself is tested
// against the real Vault server in hashivault and below.
type leaserStub struct {
	fields map[string]string
	err    error

	mu sync.Mutex
	w  *watcherStub
}

func (s *leaserStub) Read(context.Context, string, int) (*driver.Entry, error) {
	return nil, driver.NewError(driver.NotFound, errors.New("nothing"))
}
func (s *leaserStub) Name() string { return "stub" }
func (s *leaserStub) Close() error { return nil }

func (s *leaserStub) Lease(ctx context.Context, path string, opts *driver.LeaseOptions) (driver.LeaseWatcher, error) {
	if s.err != nil {
		return nil, s.err
	}
	w := &watcherStub{notify: opts.Notify, path: path, fields: s.fields}
	w.cur = w.leased(1)
	w.min = 1
	s.mu.Lock()
	s.w = w
	s.mu.Unlock()
	return w, nil
}

type watcherStub struct {
	notify func(driver.LeaseEvent)
	path   string
	fields map[string]string
	mu     sync.Mutex
	cur    *driver.Leased
	min    uint64
	closed bool
}

func (w *watcherStub) leased(gen uint64) *driver.Leased {
	f := map[string]string{}
	for k, v := range w.fields {
		f[k] = fmt.Sprintf("%s-%d", v, gen)
	}
	now := time.Now()
	return &driver.Leased{Entry: &driver.Entry{Path: w.path, Fields: f, Lease: &driver.Lease{ID: fmt.Sprintf("%s/%d", w.path, gen)}},
		Generation: gen, Issued: now, Expires: now.Add(time.Minute), Renewable: true}
}

// rotate publishes generation gen, as the backend does.
func (w *watcherStub) rotate(gen uint64) {
	w.mu.Lock()
	prev := w.cur
	w.cur = w.leased(gen)
	cur := w.cur
	w.mu.Unlock()
	w.notify(driver.LeaseEvent{Kind: driver.LeaseRotated, Leased: cur, Previous: prev})
}

func (w *watcherStub) Current() *driver.Leased {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cur
}
func (w *watcherStub) MinValid() uint64 { w.mu.Lock(); defer w.mu.Unlock(); return w.min }
func (w *watcherStub) Close(context.Context) error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	return nil
}

func newStubStore(t *testing.T, b *leaserStub) *vaultly.Store {
	t.Helper()
	s := vaultly.New(b, nil)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestDynamicSubscribeDeliversEveryEvent(t *testing.T) {
	b := &leaserStub{fields: map[string]string{"username": "u", "password": "p"}}
	s := newStubStore(t, b)
	d, err := vaultly.OpenDynamic[vaultly.DatabaseCredentials](t.Context(), s, "database/creds/app", nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	var (
		mu        sync.Mutex
		slow, all []uint64
		release   = make(chan struct{})
	)
	stopSlow := d.Subscribe(func(ev vaultly.DynamicEvent[vaultly.DatabaseCredentials]) {
		<-release // blocks until every event has been published
		mu.Lock()
		slow = append(slow, ev.Leased.Lease.Generation)
		mu.Unlock()
	})
	defer stopSlow()
	d.Subscribe(func(ev vaultly.DynamicEvent[vaultly.DatabaseCredentials]) {
		mu.Lock()
		all = append(all, ev.Leased.Lease.Generation)
		mu.Unlock()
	})
	for gen := uint64(2); gen < n+2; gen++ {
		b.w.rotate(gen)
	}
	if got := d.Current().Lease.Generation; got != n+1 {
		t.Errorf("Current().Lease.Generation = %d, want %d", got, n+1)
	}
	if got := d.Current().Value.Username; got != fmt.Sprintf("u-%d", n+1) {
		t.Errorf("Current().Value.Username = %q, want %q", got, fmt.Sprintf("u-%d", n+1))
	}
	close(release)
	if err := d.Close(t.Context()); err != nil { // delivers what is queued
		t.Fatal(err)
	}
	var want []uint64
	for gen := uint64(2); gen < n+2; gen++ {
		want = append(want, gen)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(want, slow); diff != "" {
		t.Errorf("slow subscriber's events (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, all); diff != "" {
		t.Errorf("fast subscriber's events (-want +got):\n%s", diff)
	}
}

func TestDynamicSubscribeStop(t *testing.T) {
	b := &leaserStub{fields: map[string]string{"username": "u", "password": "p"}}
	d, err := vaultly.OpenDynamic[vaultly.DatabaseCredentials](t.Context(), newStubStore(t, b), "database/creds/app", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(t.Context())
	got := make(chan uint64, 10)
	stop := d.Subscribe(func(ev vaultly.DynamicEvent[vaultly.DatabaseCredentials]) { got <- ev.Leased.Lease.Generation })
	b.w.rotate(2)
	if g := <-got; g != 2 {
		t.Fatalf("first event generation = %d, want 2", g)
	}
	stop()
	stop() // twice is fine
	b.w.rotate(3)
	d.Close(t.Context())
	if len(got) != 0 {
		t.Errorf("events after stop: %d, want 0", len(got))
	}
}

func TestOpenDynamicErrors(t *testing.T) {
	type bad struct {
		C chan int `secret:"username"`
	}
	type notStruct = string
	b := &leaserStub{fields: map[string]string{"username": "u", "password": "p"}}
	s := newStubStore(t, b)
	tests := []struct {
		name string
		open func() error
		want vaultly.Code
		text string
	}{
		{"key in path", func() error {
			_, err := vaultly.OpenDynamic[vaultly.DatabaseCredentials](t.Context(), s, "database/creds/app:username", nil)
			return err
		}, vaultly.InvalidArgument, "without key"},
		{"bad path", func() error {
			_, err := vaultly.OpenDynamic[vaultly.DatabaseCredentials](t.Context(), s, "database/../x", nil)
			return err
		}, vaultly.InvalidArgument, ""},
		{"unsupported field type", func() error {
			_, err := vaultly.OpenDynamic[bad](t.Context(), s, "database/creds/app", nil)
			return err
		}, vaultly.InvalidArgument, "field C"},
		{"not a struct", func() error {
			_, err := vaultly.OpenDynamic[notStruct](t.Context(), s, "database/creds/app", nil)
			return err
		}, vaultly.InvalidArgument, "not a struct"},
		{"missing key", func() error {
			type creds struct {
				Token string `secret:"token"`
			}
			_, err := vaultly.OpenDynamic[creds](t.Context(), s, "database/creds/app", nil)
			return err
		}, vaultly.NotFound, "field Token"},
		{"backend without leases", func() error {
			m := vaultly.New(plainBackend{}, nil)
			defer m.Close()
			_, err := vaultly.OpenDynamic[vaultly.DatabaseCredentials](t.Context(), m, "database/creds/app", nil)
			return err
		}, vaultly.Config, "does not issue"},
		{"issue fails", func() error {
			s := newStubStore(t, &leaserStub{err: driver.NewError(driver.PermissionDenied, errors.New("denied"))})
			_, err := vaultly.OpenDynamic[vaultly.DatabaseCredentials](t.Context(), s, "database/creds/app", nil)
			return err
		}, vaultly.PermissionDenied, "database/creds/app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.open()
			if got := vaultly.CodeOf(err); got != tt.want {
				t.Fatalf("code = %v (%v), want %v", got, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not mention %q", err, tt.text)
			}
			if strings.Contains(err.Error(), "p-1") {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

type plainBackend struct{}

func (plainBackend) Read(context.Context, string, int) (*driver.Entry, error) {
	return nil, driver.NewError(driver.NotFound, errors.New("nothing"))
}
func (plainBackend) Name() string { return "plain" }
func (plainBackend) Close() error { return nil }

func TestOpenDynamics(t *testing.T) {
	b := &leaserStub{fields: map[string]string{"username": "u", "password": "p"}}
	s := newStubStore(t, b)
	type Config struct {
		Name string                                        // untouched
		DB   *vaultly.Dynamic[vaultly.DatabaseCredentials] `dynamic:"database/creds/app"`
	}
	var cfg Config
	closeAll, err := vaultly.OpenDynamics(t.Context(), s, &cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.DB.Current().Value.Username; got != "u-1" {
		t.Errorf("cfg.DB.Current().Value.Username = %q, want u-1", got)
	}
	if err := closeAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !b.w.closed {
		t.Error("closeAll did not close the handle")
	}

	type unexported struct {
		db *vaultly.Dynamic[vaultly.DatabaseCredentials] `dynamic:"database/creds/app"`
	}
	_ = unexported{}.db
	type wrongType struct {
		DB string `dynamic:"database/creds/app"`
	}
	type emptyPath struct {
		DB *vaultly.Dynamic[vaultly.DatabaseCredentials] `dynamic:""`
	}
	tests := []struct {
		name string
		dst  any
		text string
	}{
		{"not a pointer", Config{}, "non-nil pointer"},
		{"unexported", &unexported{}, "unexported.db"},
		{"wrong type", &wrongType{}, "wrongType.DB"},
		{"empty path", &emptyPath{}, "emptyPath.DB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := vaultly.OpenDynamics(t.Context(), s, tt.dst, nil)
			if got := vaultly.CodeOf(err); got != vaultly.InvalidArgument {
				t.Fatalf("code = %v (%v), want InvalidArgument", got, err)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not name %q", err, tt.text)
			}
		})
	}
}

// TestDynamicRealRotation runs the typed handle against the real Vault
// database secrets engine and PostgreSQL (role default_ttl=4s, max_ttl=8s):
// events arrive in order, the password never prints, new credentials log in
// and a pool through sqlsecrets.FromDynamic keeps working.
func TestDynamicRealRotation(t *testing.T) {
	v := vaulttest.Start(t, nil)
	pg := vaulttest.StartPostgres(t)
	path := v.ConfigureDatabase(t, pg, "database", vaulttest.DatabaseRole{Name: "app", DefaultTTL: "4s", MaxTTL: "8s"})
	b, err := hashivault.New(t.Context(), &hashivault.Options{Address: v.Addr, Token: v.Token, ConfigFile: "-"})
	if err != nil {
		t.Fatal(err)
	}
	s := vaultly.New(b, nil)
	defer s.Close()

	d, err := vaultly.OpenDynamic[vaultly.DatabaseCredentials](t.Context(), s, path, &vaultly.DynamicOptions{RevokeOnClose: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	first := d.Current()
	pw := first.Value.Password.Reveal()
	if pw == "" || first.Value.Username == "" || first.Lease.Generation != 1 || first.Lease.ID == "" {
		t.Fatalf("first credentials incomplete: user %q, generation %d, lease %q, password set %v",
			first.Value.Username, first.Lease.Generation, first.Lease.ID, pw != "")
	}
	js, _ := json.Marshal(first)
	for _, out := range []string{fmt.Sprint(first), fmt.Sprintf("%+v", *first), fmt.Sprintf("%#v", first.Value), string(js)} {
		if strings.Contains(out, pw) {
			t.Fatalf("printed credentials contain the password: %s", out)
		}
	}

	type got struct {
		kind      string
		gen, prev uint64
	}
	var (
		mu  sync.Mutex
		evs []got
	)
	retired := make(chan struct{}, 1)
	d.Subscribe(func(ev vaultly.DynamicEvent[vaultly.DatabaseCredentials]) {
		g := got{kind: ev.Kind.String(), gen: ev.Leased.Lease.Generation}
		if ev.Previous != nil {
			g.prev = ev.Previous.Lease.Generation
		}
		mu.Lock()
		evs = append(evs, g)
		mu.Unlock()
		if ev.Kind == vaultly.LeaseRetired {
			select {
			case retired <- struct{}{}:
			default:
			}
		}
	})

	c, err := sqlsecrets.NewConnector(stdlib.GetDefaultDriver(), sqlsecrets.FromDynamic(d),
		&sqlsecrets.Options{DSN: sqlsecrets.PostgresURL((&url.URL{Scheme: "postgres", Host: pg.Addr(), Path: "/postgres", RawQuery: "sslmode=disable"}).String())})
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	var one int
	if err := db.QueryRow("SELECT 1").Scan(&one); err != nil {
		t.Fatalf("query with generation 1: %v", err)
	}

	select {
	case <-retired:
	case <-time.After(12 * time.Second):
		t.Fatal("no generation retired within 12s (max_ttl 8s)")
	}
	cur := d.Current()
	if cur.Lease.Generation != 2 || cur.Value.Username == first.Value.Username {
		t.Fatalf("after retirement: generation %d user %q, want generation 2 with a new user", cur.Lease.Generation, cur.Value.Username)
	}
	if d.MinValid() != 2 {
		t.Errorf("MinValid() = %d, want 2", d.MinValid())
	}
	var user string
	if err := db.QueryRow("SELECT current_user").Scan(&user); err != nil {
		t.Fatalf("query after rotation: %v", err)
	}
	if user != cur.Value.Username {
		t.Errorf("pool connected as %q after rotation, want %q", user, cur.Value.Username)
	}
	mu.Lock()
	var kinds []got
	for _, e := range evs {
		if e.kind != "renewed" {
			kinds = append(kinds, e)
		}
	}
	mu.Unlock()
	want := []got{{"rotated", 2, 1}, {"retired", 1, 0}}
	if diff := cmp.Diff(want, kinds, cmp.AllowUnexported(got{})); diff != "" {
		t.Errorf("events other than renewals (-want +got):\n%s", diff)
	}
}

// The `dynamic` tag lives beside Load's `secret` tag: Load leaves it alone.
func TestLoadIgnoresDynamicFields(t *testing.T) {
	b := memsecrets.New(nil)
	b.Set("app/cfg", map[string]any{"name": "x"})
	s := vaultly.New(b, nil)
	defer s.Close()
	var cfg struct {
		Name string                                        `secret:"app/cfg:name"`
		DB   *vaultly.Dynamic[vaultly.DatabaseCredentials] `dynamic:"database/creds/app"`
	}
	if err := s.Load(t.Context(), &cfg, nil); err != nil {
		t.Fatalf("Load on a struct with a dynamic field: %v", err)
	}
	if cfg.Name != "x" || cfg.DB != nil {
		t.Errorf("Load set Name=%q DB=%v, want x and nil", cfg.Name, cfg.DB)
	}
}
