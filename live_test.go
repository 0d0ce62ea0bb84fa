package vaultly_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vaultly/vaultly"
)

func TestLiveRotates(t *testing.T) {
	t.Parallel()
	type App struct {
		Token vaultly.Live[string]            `secret:"app/token,ttl=nocache"`
		Limit vaultly.Live[int]               `secret:"app/limits:max,ttl=nocache"`
		Creds vaultly.Live[map[string]string] `secret:"app/creds,ttl=nocache"`
		Maybe vaultly.Live[string]            `secret:"app/maybe:k,default=fallback"`
		Opt   vaultly.Live[string]            `secret:"app/opt:k,optional"`
	}
	b := newEntries(map[string]map[string]string{
		"app/token":  {"value": "t1"},
		"app/limits": {"max": "10"},
		"app/creds":  {"user": "u1", "pass": "p1"},
	})
	s := newStore(t, b)
	var app App
	if err := s.Load(t.Context(), &app, nil); err != nil {
		t.Fatalf("Load() = %v", err)
	}
	type view struct {
		Token string
		Limit int
		Creds map[string]string
		Maybe string
	}
	get := func() view {
		t.Helper()
		var v view
		var err error
		if v.Token, err = app.Token.Get(t.Context()); err != nil {
			t.Fatalf("Token.Get() = %v", err)
		}
		if v.Limit, err = app.Limit.Get(t.Context()); err != nil {
			t.Fatalf("Limit.Get() = %v", err)
		}
		if v.Creds, err = app.Creds.Get(t.Context()); err != nil {
			t.Fatalf("Creds.Get() = %v", err)
		}
		if v.Maybe, err = app.Maybe.Get(t.Context()); err != nil {
			t.Fatalf("Maybe.Get() = %v", err)
		}
		return v
	}
	if diff := cmp.Diff(view{"t1", 10, map[string]string{"user": "u1", "pass": "p1"}, "fallback"}, get()); diff != "" {
		t.Errorf("before rotation (-want +got):\n%s", diff)
	}
	b.set("app/token", map[string]string{"value": "t2"})
	b.set("app/limits", map[string]string{"max": "20"})
	b.set("app/creds", map[string]string{"user": "u2", "pass": "p2"})
	b.set("app/maybe", map[string]string{"k": "real"})
	s.Invalidate("app/maybe")
	if diff := cmp.Diff(view{"t2", 20, map[string]string{"user": "u2", "pass": "p2"}, "real"}, get()); diff != "" {
		t.Errorf("after rotation (-want +got):\n%s", diff)
	}
	if _, err := app.Opt.Get(t.Context()); !errors.Is(err, vaultly.ErrNotFound) {
		t.Errorf("Opt.Get() of a missing optional = %v, want NotFound", err)
	}
	// A rotated value that no longer converts: InvalidArgument, no value.
	b.set("app/limits", map[string]string{"max": canary})
	if _, err := app.Limit.Get(t.Context()); !errors.Is(err, vaultly.ErrInvalidArgument) || strings.Contains(err.Error(), canary) {
		t.Errorf("Limit.Get() of a bad value = %v; want InvalidArgument without the value", err)
	} else if want := "vaultly: live App.Limit: invalid argument: cannot convert value to int"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Limit.Get() = %q, want prefix %q", err, want)
	}
}

func TestLiveLoadChecks(t *testing.T) {
	t.Parallel()
	type App struct {
		Missing vaultly.Live[string] `secret:"app/none:k"`
		Bad     vaultly.Live[int]    `secret:"app/a:k"`
		Opt     vaultly.Live[int]    `secret:"app/none:k2,optional"`
	}
	b := newEntries(map[string]map[string]string{"app/a": {"k": "x"}})
	s := newStore(t, b)
	var app App
	err := s.Load(t.Context(), &app, nil)
	if err == nil {
		t.Fatal("Load() = nil, want error")
	}
	for _, want := range []string{"load App.Missing app/none:k (test): not found", "load App.Bad app/a:k: invalid argument: cannot convert value to int"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Load() = %q, want it to contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "App.Opt") {
		t.Errorf("Load() = %q names the optional field", err)
	}
}

func TestLiveUnboundAndNewLive(t *testing.T) {
	t.Parallel()
	var l vaultly.Live[string]
	if _, err := l.Get(t.Context()); vaultly.CodeOf(err) != vaultly.Config {
		t.Errorf("unbound Get() = %v, want a Config error", err)
	}
	if got := l.String(); got != "live(unbound)" {
		t.Errorf("String() = %q, want live(unbound)", got)
	}
	b := newEntries(map[string]map[string]string{"app": {"value": "v", "n": "3"}})
	s := newStore(t, b)
	tests := []struct {
		ref  string
		want string // error substring, "" for success
	}{
		{"app", ""},
		{"vault://app?version=0", ""},
		{"app/../x", "invalid reference"},
		{"", "empty path"},
	}
	for _, tt := range tests {
		_, err := vaultly.NewLive[string](s, tt.ref, nil)
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("NewLive(%q) = %v, want error containing %q", tt.ref, err, tt.want)
		}
	}
	if _, err := vaultly.NewLive[chan int](s, "app", nil); err == nil || !strings.Contains(err.Error(), "unsupported type chan int") {
		t.Errorf("NewLive[chan int] = %v, want unsupported type", err)
	}
	n, err := vaultly.NewLive[vaultly.Secret[int]](s, "app:n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := n.String(); got != "live(app:n)" {
		t.Errorf("String() = %q, want live(app:n)", got)
	}
	if got := n.Ref(); got != (vaultly.Ref{Path: "app", Key: "n"}) {
		t.Errorf("Ref() = %+v", got)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				v, err := n.Get(t.Context())
				if err != nil || v.Reveal() != 3 {
					t.Errorf("Get() = %v, %v; want 3", v.Reveal(), err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestLiveValuesNotShared(t *testing.T) {
	t.Parallel()
	b := newEntries(map[string]map[string]string{"app": {"m": `{"a":1}`}, "whole": {"k": "v"}})
	s := newStore(t, b)
	m, err := vaultly.NewLive[map[string]int](s, "app:m", nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := vaultly.NewLive[map[string]string](s, "whole", nil)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := m.Get(t.Context())
	first["a"] = 99
	firstW, _ := w.Get(t.Context())
	firstW["k"] = "changed"
	second, err := m.Get(t.Context())
	if err != nil || second["a"] != 1 {
		t.Errorf("second Get() = %v, %v; want a fresh map with a=1", second, err)
	}
	secondW, err := w.Get(t.Context())
	if err != nil || secondW["k"] != "v" {
		t.Errorf("second whole Get() = %v, %v; want a fresh map with k=v", secondW, err)
	}
}

// TestLiveTTLSynctest checks, on a fake clock, that a Live field's ttl= is
// the cache lifetime of its reads: a rotated value shows only after it.
func TestLiveTTLSynctest(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := newEntries(map[string]map[string]string{"app": {"k": "v1"}})
		s := vaultly.New(b, &vaultly.Options{TTL: time.Hour, RefreshAhead: -1})
		defer s.Close()
		type App struct {
			K vaultly.Live[string] `secret:"app:k,ttl=1m"`
		}
		var app App
		if err := s.Load(t.Context(), &app, nil); err != nil {
			t.Fatal(err)
		}
		b.set("app", map[string]string{"k": "v2"})
		steps := []struct {
			after time.Duration
			want  string
		}{
			{0, "v1"},
			{59 * time.Second, "v1"},
			{2 * time.Second, "v2"},
		}
		for _, st := range steps {
			time.Sleep(st.after)
			got, err := app.K.Get(t.Context())
			if err != nil || got != st.want {
				t.Errorf("after +%v: Get() = %q, %v; want %q", st.after, got, err, st.want)
			}
		}
		if got := b.total.Load(); got != 2 {
			t.Errorf("backend reads = %d, want 2 (Load, then one after the ttl)", got)
		}
	})
}
