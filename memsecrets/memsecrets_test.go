package memsecrets_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/drivertest"
	"github.com/vaultly/vaultly/memsecrets"
)

type harness struct {
	b *memsecrets.Backend
	n int
}

func (h *harness) MakeBackend(context.Context) (driver.Backend, error) { return h.b, nil }
func (h *harness) Put(_ context.Context, path string, fields map[string]any) (int, error) {
	return h.b.Set(path, fields), nil
}
func (h *harness) Capabilities() drivertest.Capabilities {
	return drivertest.Capabilities{Versions: true}
}
func (h *harness) Close() {}

func (h *harness) LeasePath(_ context.Context, ttl, maxTTL time.Duration) (string, error) {
	h.n++
	p := fmt.Sprintf("database/creds/role%d", h.n)
	h.b.SetRole(p, memsecrets.Role{TTL: ttl, MaxTTL: maxTTL})
	return p, nil
}

func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, func(context.Context, *testing.T) (drivertest.Harness, error) {
		return &harness{b: memsecrets.New(nil)}, nil
	})
}

func TestCallsAndInjection(t *testing.T) {
	ctx := t.Context()
	b := memsecrets.New(&memsecrets.Options{Name: "fake", DefaultKey: "data"})
	if b.Name() != "fake" || b.DefaultKey() != "data" {
		t.Errorf("Name, DefaultKey = %q, %q; want fake, data", b.Name(), b.DefaultKey())
	}
	if v := b.Set("/a", map[string]any{"k": "1"}); v != 1 {
		t.Errorf("first Set version = %d, want 1", v)
	}
	if v := b.SetValue("a", "x"); v != 2 {
		t.Errorf("second Set version = %d, want 2", v)
	}
	var changed []string
	remove := b.OnChange(func(p string) { changed = append(changed, p) })

	unavailable := driver.NewError(driver.Unavailable, errors.New("down"))
	steps := []struct {
		name     string
		setup    func()
		path     string
		wantCode driver.Code
	}{
		{"ok", func() {}, "a", driver.OK},
		{"fail next 2 (1)", func() { b.FailNext(2, unavailable) }, "a", driver.Unavailable},
		{"fail next 2 (2)", func() {}, "a", driver.Unavailable},
		{"fail next used up", func() {}, "a", driver.OK},
		{"path error", func() { b.SetError("/a", driver.NewError(driver.PermissionDenied, nil)) }, "a", driver.PermissionDenied},
		{"other path unaffected", func() { b.SetValue("b", "y") }, "b", driver.OK},
		{"path error cleared", func() { b.SetError("a", nil) }, "a", driver.OK},
		{"every path", func() { b.SetError("", unavailable) }, "b", driver.Unavailable},
		{"every path cleared", func() { b.SetError("", nil) }, "b", driver.OK},
		{"hook", func() {
			b.SetHook(func(_ context.Context, c memsecrets.Call) error {
				if c.Path == "a" {
					return driver.NewError(driver.ResourceExhausted, nil)
				}
				return nil
			})
		}, "a", driver.ResourceExhausted},
		{"hook removed", func() { b.SetHook(nil) }, "a", driver.OK},
	}
	for _, st := range steps {
		st.setup()
		_, err := b.Read(ctx, st.path, 0)
		if got := driver.CodeOf(err); got != st.wantCode {
			t.Errorf("%s: Read(%q) code = %v (%v), want %v", st.name, st.path, got, err, st.wantCode)
		}
	}
	if got := b.CallCount(memsecrets.OpRead, "a"); got != 8 {
		t.Errorf("CallCount(read, a) = %d, want 8", got)
	}
	if err := b.Write(ctx, "c/d", map[string]any{"n": 1}); err != nil {
		t.Fatal(err)
	}
	if names, err := b.List(ctx, "/"); err != nil || !cmp.Equal(names, []string{"a", "b", "c/"}) {
		t.Errorf("List(/) = %v, %v; want [a b c/]", names, err)
	}
	if err := b.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	b.Remove("b")
	remove()
	b.SetValue("after", "removed")
	if diff := cmp.Diff([]string{"b", "c/d", "a", "b"}, changed); diff != "" {
		t.Errorf("OnChange paths mismatch (-want +got):\n%s", diff)
	}
	calls := b.Calls()
	wantTail := []memsecrets.Call{{Op: memsecrets.OpWrite, Path: "c/d"}, {Op: memsecrets.OpList, Path: ""}, {Op: memsecrets.OpDelete, Path: "a"}}
	if diff := cmp.Diff(wantTail, calls[len(calls)-3:]); diff != "" {
		t.Errorf("last calls mismatch (-want +got):\n%s", diff)
	}
	b.ResetCalls()
	if len(b.Calls()) != 0 {
		t.Errorf("Calls() after ResetCalls = %v", b.Calls())
	}
	if err := b.Write(ctx, "x", map[string]any{"bad": make(chan int)}); driver.CodeOf(err) != driver.InvalidArgument {
		t.Errorf("Write(unencodable) error = %v, want InvalidArgument", err)
	}
	b.Close()
	if !b.Closed() {
		t.Errorf("Closed() = false after Close")
	}
}

// TestCallLogBounded: under a long run of calls the log keeps the latest
// MaxCalls and stays within 2*MaxCalls, while CallCount counts them all.
func TestCallLogBounded(t *testing.T) {
	b := memsecrets.New(nil)
	b.SetValue("k", "v")
	ctx := context.Background()
	const n = 3*memsecrets.MaxCalls + 7
	for range n {
		if _, err := b.Read(ctx, "k", 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Read(ctx, "other", 0); err == nil {
		t.Fatal("read of a missing path succeeded")
	}
	calls := b.Calls()
	if len(calls) != memsecrets.MaxCalls {
		t.Fatalf("len(Calls()) = %d, want MaxCalls %d", len(calls), memsecrets.MaxCalls)
	}
	if last := calls[len(calls)-1]; last.Path != "other" {
		t.Errorf("the last call kept is %+v, want the read of other", last)
	}
	if got := b.CallCount(memsecrets.OpRead, "k"); got != n {
		t.Errorf("CallCount(read, k) = %d, want %d", got, n)
	}
	b.ResetCalls()
	if len(b.Calls()) != 0 || b.CallCount(memsecrets.OpRead, "k") != 0 {
		t.Error("ResetCalls left calls behind")
	}
}

func TestHookSeesContext(t *testing.T) {
	b := memsecrets.New(nil)
	b.SetValue("a", "v")
	b.SetHook(func(ctx context.Context, _ memsecrets.Call) error {
		<-ctx.Done()
		return ctx.Err()
	})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := b.Read(ctx, "a", 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Read with a blocking hook and cancelled ctx = %v, want context.Canceled", err)
	}
}

// TestLeases follows one role's leases on a synctest clock: TTL, renewals
// up to the max TTL, whole-second reporting, expiry, out-of-band loss, and
// the calls recorded.
func TestLeases(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		b := memsecrets.New(nil)
		b.SetRole("/database/creds/app", memsecrets.Role{TTL: 4 * time.Second, MaxTTL: 8 * time.Second, Granularity: time.Second})
		e, err := b.IssueLease(ctx, "database/creds/app")
		if err != nil {
			t.Fatal(err)
		}
		want := &driver.Entry{Path: "database/creds/app", Fields: map[string]string{"username": "app-1", "password": "app-1-password"},
			Lease: &driver.Lease{ID: "database/creds/app/1", Duration: 4 * time.Second, Renewable: true}}
		if diff := cmp.Diff(want, e); diff != "" {
			t.Errorf("IssueLease (-want +got):\n%s", diff)
		}
		issued := time.Now()
		renew := func(after, inc time.Duration) (*driver.Lease, error) {
			time.Sleep(time.Until(issued.Add(after)))
			return b.RenewLease(ctx, e.Lease.ID, inc)
		}
		steps := []struct {
			after, inc time.Duration
			want       time.Duration // 0: error
			code       driver.Code
		}{
			{2500 * time.Millisecond, 0, 4 * time.Second, driver.OK},         // the TTL again
			{3 * time.Second, 3 * time.Second, 3 * time.Second, driver.OK},   // the increment
			{5500 * time.Millisecond, time.Hour, 2 * time.Second, driver.OK}, // capped: 2.5s left, reported 2s
			{8 * time.Second, time.Second, 0, driver.NotFound},               // past the max TTL: gone
		}
		for _, st := range steps {
			l, err := renew(st.after, st.inc)
			if got := driver.CodeOf(err); got != st.code {
				t.Fatalf("at +%v RenewLease(%v) code = %v (%v), want %v", st.after, st.inc, got, err, st.code)
			}
			if err == nil && (l.Duration != st.want || !l.Renewable) {
				t.Errorf("at +%v RenewLease(%v) = %v renewable %v, want %v renewable", st.after, st.inc, l.Duration, l.Renewable, st.want)
			}
		}
		st, _ := b.Lease(e.Lease.ID)
		if st.Renewals != 3 || st.Alive(time.Now()) || !st.MaxEnd.Equal(issued.Add(8*time.Second)) {
			t.Errorf("Lease(%q) = %+v, want 3 renewals, ended at its max end", e.Lease.ID, st)
		}

		// Lost behind the client's back.
		e2, _ := b.IssueLease(ctx, "database/creds/app")
		if !b.Revoke(e2.Lease.ID) || b.Revoke("nope") {
			t.Error("Revoke reports known leases wrongly")
		}
		if _, err := b.RenewLease(ctx, e2.Lease.ID, 0); driver.CodeOf(err) != driver.NotFound {
			t.Errorf("RenewLease of a revoked lease = %v, want NotFound", err)
		}
		if err := b.RevokeLease(ctx, e2.Lease.ID); err != nil {
			t.Errorf("RevokeLease of a revoked lease = %v, want nil", err)
		}

		// Errors injected on the role's path reach every lease call.
		b.SetError("database/creds/app", driver.NewError(driver.Unavailable, nil))
		if _, err := b.RenewLease(ctx, e2.Lease.ID, 0); driver.CodeOf(err) != driver.Unavailable {
			t.Errorf("RenewLease with an error on the role's path = %v, want Unavailable", err)
		}
		b.SetError("database/creds/app", nil)

		var got []memsecrets.Call
		for _, c := range b.Calls() {
			got = append(got, memsecrets.Call{Op: c.Op, LeaseID: c.LeaseID})
		}
		wantCalls := []memsecrets.Call{{Op: "issue"}, {Op: "renew", LeaseID: "database/creds/app/1"}, {Op: "renew", LeaseID: "database/creds/app/1"},
			{Op: "renew", LeaseID: "database/creds/app/1"}, {Op: "renew", LeaseID: "database/creds/app/1"}, {Op: "issue"},
			{Op: "renew", LeaseID: "database/creds/app/2"}, {Op: "revoke", LeaseID: "database/creds/app/2"}, {Op: "renew", LeaseID: "database/creds/app/2"}}
		if diff := cmp.Diff(wantCalls, got); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
		if n := len(b.Leases("database/creds/app")); n != 2 {
			t.Errorf("Leases() = %d leases, want 2", n)
		}
	})
}

func TestLeaseRoles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		b := memsecrets.New(nil)
		b.Set("kv/plain", map[string]any{"value": "x"})
		b.SetRole("aws/creds/deploy", memsecrets.Role{TTL: time.Hour, NotRenewable: true,
			Fields: func(n int) map[string]any { return map[string]any{"access_key": fmt.Sprint("AK", n), "ttl": 3600} }})
		b.SetRole("forever", memsecrets.Role{})

		e, err := b.IssueLease(ctx, "aws/creds/deploy")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]string{"access_key": "AK1", "ttl": "3600"}, e.Fields); diff != "" {
			t.Errorf("fields from Role.Fields (-want +got):\n%s", diff)
		}
		if e.Lease.Renewable {
			t.Error("NotRenewable role issued a renewable lease")
		}
		if _, err := b.RenewLease(ctx, e.Lease.ID, 0); driver.CodeOf(err) != driver.InvalidArgument {
			t.Errorf("RenewLease of a lease that is not renewable = %v, want InvalidArgument", err)
		}
		f, _ := b.IssueLease(ctx, "forever")
		if f.Lease.Duration != 0 || f.Lease.Renewable {
			t.Errorf("a role without TTL issued %+v, want a lease without an end, not renewable", *f.Lease)
		}
		tests := []struct {
			path string
			want driver.Code
		}{
			{"kv/plain", driver.InvalidArgument},
			{"nothing", driver.NotFound},
		}
		for _, tt := range tests {
			if _, err := b.IssueLease(ctx, tt.path); driver.CodeOf(err) != tt.want {
				t.Errorf("IssueLease(%q) = %v, want code %v", tt.path, err, tt.want)
			}
		}
		// SetRole again keeps counting: lease IDs stay unique.
		b.SetRole("aws/creds/deploy", memsecrets.Role{TTL: time.Minute})
		if e2, _ := b.IssueLease(ctx, "aws/creds/deploy"); e2.Lease.ID != "aws/creds/deploy/2" || !e2.Lease.Renewable {
			t.Errorf("after SetRole again: lease %+v, want ID aws/creds/deploy/2, renewable", *e2.Lease)
		}
	})
}
