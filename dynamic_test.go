package vaultly_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
	"github.com/vaultly/vaultly/memsecrets"
	"github.com/vaultly/vaultly/sqlsecrets"
)

// The typed handle over memsecrets' fake leases, inside synctest bubbles:
// the whole lease engine (internal/lease) runs as it does against Vault, on
// a fake clock. The real-server tests are TestDynamicRealRotation below,
// hashivault/lease_test.go and sqlsecrets.

// vaultRole is a database role as the real-Vault tests configure it: ttl
// 4s, max 8s, durations reported in whole seconds.
func vaultRole() memsecrets.Role {
	return memsecrets.Role{TTL: 4 * time.Second, MaxTTL: 8 * time.Second, Granularity: time.Second}
}

func newLeaseStore(t *testing.T, path string, r memsecrets.Role) (*memsecrets.Backend, *vaultly.Store) {
	t.Helper()
	b := memsecrets.New(nil)
	b.SetRole(path, r)
	s := vaultly.New(b, nil)
	t.Cleanup(func() { s.Close() })
	return b, s
}

type dbEvent = vaultly.DynamicEvent[vaultly.DatabaseCredentials]

// seen is one event as a subscriber saw it, with the fake clock's time and
// whether the leases concerned were still alive then.
type seen struct {
	Kind      string
	Gen, Prev uint64
	User      string
	Alive     bool // the lease of Leased
	PrevAlive bool // the lease of Previous
	at        time.Time
}

type eventLog struct {
	b  *memsecrets.Backend
	mu sync.Mutex
	ev []seen
}

func (l *eventLog) add(ev dbEvent) {
	now := time.Now()
	st, _ := l.b.Lease(ev.Leased.Lease.ID)
	e := seen{Kind: ev.Kind.String(), Gen: ev.Leased.Lease.Generation, User: ev.Leased.Value.Username, Alive: st.Alive(now), at: now}
	if ev.Previous != nil {
		ps, _ := l.b.Lease(ev.Previous.Lease.ID)
		e.Prev, e.PrevAlive = ev.Previous.Lease.Generation, ps.Alive(now)
	}
	l.mu.Lock()
	l.ev = append(l.ev, e)
	l.mu.Unlock()
}

func (l *eventLog) get() []seen {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ev)
}

// TestDynamicRenewRotateRetire: a ttl 4s / max 8s role for 20s: each
// generation is renewed twice, replaced before its max TTL while it still
// works, retired while it still works, and Current always holds a live
// lease with its decoded credentials.
func TestDynamicRenewRotateRetire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, s := newLeaseStore(t, "database/creds/app", vaultRole())
		d, err := vaultly.OpenDynamic[vaultly.DatabaseCredentials](t.Context(), s, "database/creds/app", nil)
		if err != nil {
			t.Fatal(err)
		}
		log := &eventLog{b: b}
		d.Subscribe(log.add)
		start := time.Now()
		for time.Since(start) < 20*time.Second {
			time.Sleep(50 * time.Millisecond)
			cur := d.Current()
			st, _ := b.Lease(cur.Lease.ID)
			if !st.Alive(time.Now()) {
				t.Fatalf("at +%v Current() is generation %d, whose lease has ended", time.Since(start), cur.Lease.Generation)
			}
			if want := fmt.Sprintf("app-%d", st.N); cur.Value.Username != want || cur.Value.Password.Reveal() != want+"-password" {
				t.Fatalf("at +%v Current() = user %q, want %q with its password", time.Since(start), cur.Value.Username, want)
			}
			if d.MinValid() > cur.Lease.Generation {
				t.Fatalf("MinValid() = %d > current generation %d", d.MinValid(), cur.Lease.Generation)
			}
		}
		if err := d.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		got := log.get()
		var want []seen
		for g := uint64(1); g <= 2; g++ {
			user := fmt.Sprintf("app-%d", g)
			want = append(want,
				seen{Kind: "renewed", Gen: g, User: user, Alive: true},
				seen{Kind: "renewed", Gen: g, User: user, Alive: true},
				seen{Kind: "rotated", Gen: g + 1, Prev: g, User: fmt.Sprintf("app-%d", g+1), Alive: true, PrevAlive: true},
				seen{Kind: "retired", Gen: g, User: user, Alive: true})
		}
		if len(got) < len(want) {
			t.Fatalf("events in 20s: %v, want at least %d", got, len(want))
		}
		if diff := cmp.Diff(want, got[:len(want)], cmpopts.IgnoreUnexported(seen{})); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		for _, e := range got {
			if e.Kind == "rotated" {
				st, _ := b.Lease(fmt.Sprintf("database/creds/app/%d", e.Prev))
				// The replacement is issued at 2/3 (±10%) of the time left
				// as last reported, in whole seconds: at worst 2s reported
				// for 2s left, so at least 2s - 2s×0.77 = 0.47s of overlap.
				if overlap := st.MaxEnd.Sub(e.at); overlap < 450*time.Millisecond {
					t.Errorf("generation %d replaced %v before its max TTL, want an overlap >= 450ms", e.Prev, overlap)
				}
			}
		}
		if n := b.CallCount(memsecrets.OpRevoke, "database/creds/app"); n != 0 {
			t.Errorf("revocations without RevokeOnClose = %d, want 0", n)
		}
	})
}

// TestDynamicLostLease: a lease revoked behind the handle's back is noticed
// at its next renewal (one renew request), retired at once, and replaced.
func TestDynamicLostLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, s := newLeaseStore(t, "database/creds/app", vaultRole())
		d, err := vaultly.OpenDynamic[vaultly.DatabaseCredentials](t.Context(), s, "database/creds/app", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close(t.Context())
		var (
			mu   sync.Mutex
			errs []error
		)
		log := &eventLog{b: b}
		d.Subscribe(func(ev dbEvent) {
			log.add(ev)
			if ev.Err != nil {
				mu.Lock()
				errs = append(errs, ev.Err)
				mu.Unlock()
			}
		})
		lost := d.Current().Lease.ID
		b.Revoke(lost)
		time.Sleep(3500 * time.Millisecond) // the renewal at ~2.7s finds it gone
		synctest.Wait()
		want := []seen{
			{Kind: "failed", Gen: 1, User: "app-1"},
			{Kind: "retired", Gen: 1, User: "app-1"},
			{Kind: "rotated", Gen: 2, Prev: 1, User: "app-2", Alive: true},
		}
		if diff := cmp.Diff(want, log.get(), cmpopts.IgnoreUnexported(seen{})); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		if got := d.Current().Lease.Generation; got != 2 || d.MinValid() != 2 {
			t.Errorf("after the loss: generation %d, MinValid %d; want 2, 2", got, d.MinValid())
		}
		if st, _ := b.Lease(lost); st.Renewals != 0 {
			t.Errorf("lost lease renewed %d times, want 0", st.Renewals)
		}
		renews := 0
		for _, c := range b.Calls() {
			if c.Op == memsecrets.OpRenew && c.LeaseID == lost {
				renews++
			}
		}
		if renews != 1 {
			t.Errorf("renew requests for the lost lease = %d, want 1", renews)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(errs) != 1 {
			t.Fatalf("failure errors = %v, want 1", errs)
		}
		err = errs[0]
		var ve *vaultly.Error
		if !errors.As(err, &ve) || !errors.Is(err, vaultly.ErrNotFound) || ve.Op != "renew" || ve.Ref != "database/creds/app" || ve.Backend != "memory" {
			t.Errorf("failure error = %#v (%v), want a *vaultly.Error renew database/creds/app (memory) with code NotFound", ve, err)
		}
	})
}

// TestDynamicCloseRevokes: with RevokeOnClose, Close revokes every lease
// still alive — the current one and the previous one during the overlap —
// and nothing without it.
func TestDynamicCloseRevokes(t *testing.T) {
	for _, revoke := range []bool{false, true} {
		t.Run(fmt.Sprint("revoke=", revoke), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b, s := newLeaseStore(t, "database/creds/app", vaultRole())
				d, err := vaultly.OpenDynamic[vaultly.DatabaseCredentials](t.Context(), s, "database/creds/app", &vaultly.DynamicOptions{RevokeOnClose: revoke})
				if err != nil {
					t.Fatal(err)
				}
				for d.Current().Lease.Generation < 2 {
					time.Sleep(100 * time.Millisecond)
				}
				if err := d.Close(t.Context()); err != nil {
					t.Fatal(err)
				}
				now := time.Now()
				var alive []string
				for _, st := range b.Leases("") {
					if st.Alive(now) {
						alive = append(alive, st.ID)
					}
				}
				var want []string
				if !revoke {
					want = []string{"database/creds/app/1", "database/creds/app/2"}
				}
				if diff := cmp.Diff(want, alive); diff != "" {
					t.Errorf("leases alive after Close right after a rotation (-want +got):\n%s", diff)
				}
				if err := d.Close(t.Context()); err != nil {
					t.Errorf("second Close = %v", err)
				}
			})
		})
	}
}

// TestDynamicCloseRevokeError: a failed revocation is a *vaultly.Error
// naming the path.
func TestDynamicCloseRevokeError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, s := newLeaseStore(t, "database/creds/app", vaultRole())
		d, err := vaultly.OpenDynamic[vaultly.DatabaseCredentials](t.Context(), s, "database/creds/app", &vaultly.DynamicOptions{RevokeOnClose: true})
		if err != nil {
			t.Fatal(err)
		}
		b.SetError("database/creds/app", driver.NewError(driver.Unavailable, errors.New("down")))
		err = d.Close(t.Context())
		if !errors.Is(err, vaultly.ErrUnavailable) || !strings.Contains(err.Error(), "revoke database/creds/app (memory)") {
			t.Errorf("Close with a failing revocation = %v, want an unavailable error naming revoke database/creds/app", err)
		}
	})
}

// TestDynamicWholeEntryRule: T follows Load's whole-entry rule: json names,
// case-insensitive Go names, json:"-", casts, Secret fields, a map, and a
// missing key leaving the field zero.
func TestDynamicWholeEntryRule(t *testing.T) {
	type AWS struct {
		AccessKey string                 `json:"access_key"`
		SecretKey vaultly.Secret[string] `json:"secret_key"`
		Token     vaultly.Secret[string] `json:"security_token"` // not issued: stays zero
		TTL       int                    // matched by Go name, case-insensitively
		Skip      string                 `json:"-"`
	}
	synctest.Test(t, func(t *testing.T) {
		b, s := newLeaseStore(t, "aws/creds/deploy", memsecrets.Role{TTL: time.Hour, Fields: func(n int) map[string]any {
			return map[string]any{"access_key": fmt.Sprint("AK", n), "secret_key": "sk", "ttl": 3600, "skip": "x"}
		}})
		_ = b
		d, err := vaultly.OpenDynamic[AWS](t.Context(), s, "aws/creds/deploy", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close(t.Context())
		v := d.Current().Value
		got := []any{v.AccessKey, v.SecretKey.Reveal(), v.Token.Reveal(), v.TTL, v.Skip}
		if diff := cmp.Diff([]any{"AK1", "sk", "", 3600, ""}, got); diff != "" {
			t.Errorf("decoded fields (-want +got):\n%s", diff)
		}
		m, err := vaultly.OpenDynamic[map[string]string](t.Context(), s, "aws/creds/deploy", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close(t.Context())
		if diff := cmp.Diff(map[string]string{"access_key": "AK2", "secret_key": "sk", "ttl": "3600", "skip": "x"}, m.Current().Value); diff != "" {
			t.Errorf("map decoded (-want +got):\n%s", diff)
		}
	})
}

// TestDynamicSubscribeDeliversEveryEvent: 500 rotations (1000 events) reach
// a fast subscriber and one blocked until the end, both complete and in
// order, while the renewals go on.
func TestDynamicSubscribeDeliversEveryEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, s := newLeaseStore(t, "database/creds/app", memsecrets.Role{TTL: 3 * time.Second, MaxTTL: 3 * time.Second, NotRenewable: true})
		d, err := vaultly.OpenDynamic[vaultly.DatabaseCredentials](t.Context(), s, "database/creds/app", nil)
		if err != nil {
			t.Fatal(err)
		}
		const n = 500
		var (
			mu        sync.Mutex
			slow, all []string
			release   = make(chan struct{})
		)
		name := func(ev dbEvent) string { return fmt.Sprintf("%s %d", ev.Kind, ev.Leased.Lease.Generation) }
		stopSlow := d.Subscribe(func(ev dbEvent) {
			<-release // blocks until every event has been published
			mu.Lock()
			slow = append(slow, name(ev))
			mu.Unlock()
		})
		defer stopSlow()
		d.Subscribe(func(ev dbEvent) {
			mu.Lock()
			all = append(all, name(ev))
			mu.Unlock()
		})
		for d.Current().Lease.Generation < n+1 {
			time.Sleep(time.Second)
		}
		if got := d.Current().Value.Username; got != fmt.Sprintf("app-%d", n+1) {
			t.Errorf("Current().Value.Username = %q, want app-%d", got, n+1)
		}
		time.Sleep(2 * time.Second) // generation n is retired
		close(release)
		if err := d.Close(t.Context()); err != nil { // delivers what is queued
			t.Fatal(err)
		}
		var want []string
		for gen := 2; gen <= n+1; gen++ {
			want = append(want, fmt.Sprint("rotated ", gen), fmt.Sprint("retired ", gen-1))
		}
		mu.Lock()
		defer mu.Unlock()
		if len(all) > len(want) {
			all, slow = all[:len(want)], slow[:min(len(slow), len(want))]
		}
		if diff := cmp.Diff(want, all); diff != "" {
			t.Errorf("fast subscriber's events (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, slow); diff != "" {
			t.Errorf("slow subscriber's events (-want +got):\n%s", diff)
		}
	})
}

func TestDynamicSubscribeStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, s := newLeaseStore(t, "database/creds/app", memsecrets.Role{TTL: 3 * time.Second, NotRenewable: true})
		d, err := vaultly.OpenDynamic[vaultly.DatabaseCredentials](t.Context(), s, "database/creds/app", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close(t.Context())
		got := make(chan uint64, 10)
		stop := d.Subscribe(func(ev dbEvent) { got <- ev.Leased.Lease.Generation })
		if g := <-got; g != 2 {
			t.Fatalf("first event generation = %d, want 2", g)
		}
		stop()
		stop() // twice is fine
		n := len(got)
		time.Sleep(10 * time.Second) // several more rotations
		if len(got) != n {
			t.Errorf("events after stop: %d, want 0", len(got)-n)
		}
	})
}

func TestOpenDynamicErrors(t *testing.T) {
	type bad struct {
		C chan int `json:"c"`
	}
	type oldTags struct {
		Token string `secret:"token"`
	}
	type badCast struct {
		Port int `json:"port"`
	}
	b := memsecrets.New(nil)
	b.SetRole("database/creds/app", memsecrets.Role{TTL: time.Hour})
	b.SetRole("weird/creds", memsecrets.Role{TTL: time.Hour, Fields: func(int) map[string]any { return map[string]any{"port": "pw-c4n4ry"} }})
	b.SetRole("denied/creds", memsecrets.Role{TTL: time.Hour})
	b.SetError("denied/creds", driver.NewError(driver.PermissionDenied, errors.New("denied")))
	s := vaultly.New(b, nil)
	defer s.Close()
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
		{"not a whole entry", func() error {
			_, err := vaultly.OpenDynamic[string](t.Context(), s, "database/creds/app", nil)
			return err
		}, vaultly.InvalidArgument, "does not take a whole entry"},
		{"secret tag from the old grammar", func() error {
			_, err := vaultly.OpenDynamic[oldTags](t.Context(), s, "database/creds/app", nil)
			return err
		}, vaultly.InvalidArgument, `field Token: a secret tag does not apply to a field of a dynamic secret; name its key with json:"token"`},
		{"issued value does not cast", func() error {
			_, err := vaultly.OpenDynamic[badCast](t.Context(), s, "weird/creds", nil)
			return err
		}, vaultly.InvalidArgument, `key "port"`},
		{"negative increment", func() error {
			_, err := vaultly.OpenDynamic[vaultly.DatabaseCredentials](t.Context(), s, "database/creds/app", &vaultly.DynamicOptions{Increment: -time.Second})
			return err
		}, vaultly.InvalidArgument, "increment"},
		{"backend without leases", func() error {
			m := vaultly.New(plainBackend{}, nil)
			defer m.Close()
			_, err := vaultly.OpenDynamic[vaultly.DatabaseCredentials](t.Context(), m, "database/creds/app", nil)
			return err
		}, vaultly.Config, "does not issue"},
		{"no role", func() error {
			_, err := vaultly.OpenDynamic[vaultly.DatabaseCredentials](t.Context(), s, "database/creds/nope", nil)
			return err
		}, vaultly.NotFound, "dynamic database/creds/nope (memory)"},
		{"issue fails", func() error {
			_, err := vaultly.OpenDynamic[vaultly.DatabaseCredentials](t.Context(), s, "denied/creds", nil)
			return err
		}, vaultly.PermissionDenied, "denied/creds"},
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
			if strings.Contains(err.Error(), "c4n4ry") || strings.Contains(err.Error(), "-password") {
				t.Errorf("error %q contains a secret value", err)
			}
			if _, ok := errors.AsType[*vaultly.Error](err); !ok {
				t.Errorf("error %T is not a *vaultly.Error", err)
			}
		})
	}
	// Failures before the first issue issue nothing; a failed decode
	// revokes nothing either (RevokeOnClose unset) but stops the watcher.
	for _, st := range b.Leases("database/creds/app") {
		t.Errorf("lease %s issued by a failed OpenDynamic", st.ID)
	}
}

type plainBackend struct{}

func (plainBackend) Read(context.Context, string, int) (*driver.Entry, error) {
	return nil, driver.NewError(driver.NotFound, errors.New("nothing"))
}
func (plainBackend) Name() string { return "plain" }
func (plainBackend) Close() error { return nil }

func TestOpenDynamics(t *testing.T) {
	b := memsecrets.New(nil)
	b.SetRole("database/creds/app", memsecrets.Role{TTL: time.Hour})
	s := vaultly.New(b, nil)
	defer s.Close()
	type Config struct {
		Name string                                        // untouched
		DB   *vaultly.Dynamic[vaultly.DatabaseCredentials] `dynamic:"database/creds/app"`
	}
	var cfg Config
	closeAll, err := vaultly.OpenDynamics(t.Context(), s, &cfg, &vaultly.DynamicOptions{RevokeOnClose: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.DB.Current().Value.Username; got != "app-1" {
		t.Errorf("cfg.DB.Current().Value.Username = %q, want app-1", got)
	}
	if err := closeAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st, _ := b.Lease("database/creds/app/1"); !st.Revoked {
		t.Error("closeAll did not close the handle (its lease is not revoked)")
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
	t.Parallel()
	v := vaulttest.Start(t, nil)
	pg := vaulttest.StartPostgres(t)
	// Soak tier: ttl 4s / max 8s, generation 1 retired at ~6.7s (renewed at
	// ~2.7s, replaced at ~5.3s when the renewal is capped, retired half way
	// to its end). Plain tier: ttl 4s / max 5s, the first renewal is
	// capped: replaced at ~2.7s, retired at ~3.8s. Jitter ±10%.
	maxTTL, retireBy := vaulttest.SoakOr("8s", "5s"), vaulttest.SoakOr(12*time.Second, 9*time.Second)
	path := v.ConfigureDatabase(t, pg, "database", vaulttest.DatabaseRole{Name: "app", DefaultTTL: "4s", MaxTTL: maxTTL})
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
	case <-time.After(retireBy):
		// Tolerance ~5s over the expected time for a loaded machine.
		t.Fatalf("no generation retired within %s (max_ttl %s)", retireBy, maxTTL)
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
