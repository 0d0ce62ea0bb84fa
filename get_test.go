package vaultly_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/memsecrets"
)

func TestGetAs(t *testing.T) {
	t.Parallel()
	b := newEntries(map[string]map[string]string{
		"app": {"s": " x ", "n": "42", "neg": "-7", "b": "yes", "d": "1m", "u": "https://h/p", "j": `{"a":[1,2]}`, "big": "300", "value": "dflt", "f": "2.5"},
	})
	s := newStore(t, b)
	ctx := t.Context()
	check := func(name string, got, want any, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: error %v", name, err)
			return
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
		}
	}
	str, err := vaultly.GetAs[string](ctx, s, "app:s")
	check("GetAs[string]", str, " x ", err)
	def, err := vaultly.GetAs[string](ctx, s, "/app")
	check("GetAs[string] default key", def, "dflt", err)
	n, err := vaultly.GetAs[int](ctx, s, "app:n")
	check("GetAs[int]", n, 42, err)
	neg, err := vaultly.GetAs[int64](ctx, s, "app:neg")
	check("GetAs[int64]", neg, int64(-7), err)
	bo, err := vaultly.GetAs[bool](ctx, s, "app:b")
	check("GetAs[bool]", bo, true, err)
	d, err := vaultly.GetAs[time.Duration](ctx, s, "app:d")
	check("GetAs[Duration]", d, time.Minute, err)
	f, err := vaultly.GetAs[float64](ctx, s, "app:f")
	check("GetAs[float64]", f, 2.5, err)
	u, err := vaultly.GetAs[*url.URL](ctx, s, "app:u")
	check("GetAs[*url.URL]", u.String(), "https://h/p", err)
	j, err := vaultly.GetAs[map[string][]int](ctx, s, "app:j")
	check("GetAs[map]", j, map[string][]int{"a": {1, 2}}, err)
	sec, err := vaultly.GetAs[vaultly.Secret[int]](ctx, s, "app:n")
	check("GetAs[Secret[int]]", sec.Reveal(), 42, err)
}

func TestGetAsErrors(t *testing.T) {
	t.Parallel()
	b := newEntries(map[string]map[string]string{"app": {"n": canary, "big": "300"}})
	s := newStore(t, b)
	ctx := t.Context()
	tests := []struct {
		name string
		get  func() error
		code vaultly.Code
		want string
	}{
		{"int", func() error { _, err := vaultly.GetAs[int](ctx, s, "app:n"); return err }, vaultly.InvalidArgument,
			"vaultly: get app:n: invalid argument: cannot convert value to int: invalid syntax"},
		{"bool", func() error { _, err := vaultly.GetAs[bool](ctx, s, "/app:n"); return err }, vaultly.InvalidArgument,
			"vaultly: get app:n: invalid argument: cannot convert value to bool"},
		{"int64", func() error { _, err := vaultly.GetAs[int64](ctx, s, "app:n"); return err }, vaultly.InvalidArgument,
			"vaultly: get app:n: invalid argument: cannot convert value to int64: invalid syntax"},
		{"float64", func() error { _, err := vaultly.GetAs[float64](ctx, s, "app:n"); return err }, vaultly.InvalidArgument,
			"vaultly: get app:n: invalid argument: cannot convert value to float64: invalid syntax"},
		{"duration", func() error { _, err := vaultly.GetAs[time.Duration](ctx, s, "app:n"); return err }, vaultly.InvalidArgument,
			"vaultly: get app:n: invalid argument: cannot convert value to time.Duration: invalid duration"},
		{"uint8 overflow", func() error { _, err := vaultly.GetAs[uint8](ctx, s, "app:big"); return err }, vaultly.InvalidArgument,
			"vaultly: get app:big: invalid argument: cannot convert value to uint8: out of range"},
		{"missing key", func() error { _, err := vaultly.GetAs[int](ctx, s, "app:nope"); return err }, vaultly.NotFound, "not found"},
		{"missing entry", func() error { _, err := vaultly.GetAs[string](ctx, s, "nope"); return err }, vaultly.NotFound, "not found"},
		{"bad ref", func() error { _, err := vaultly.GetAs[string](ctx, s, "a/../b"); return err }, vaultly.InvalidArgument, "invalid reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.get()
			if err == nil {
				t.Fatal("got nil error")
			}
			if got := vaultly.CodeOf(err); got != tt.code {
				t.Errorf("CodeOf = %v, want %v", got, tt.code)
			}
			var ve *vaultly.Error
			if !errors.As(err, &ve) {
				t.Errorf("error %T is not a *vaultly.Error", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), canary) {
				t.Errorf("error shows the value: %q", err)
			}
		})
	}
}

func TestGetAsWarmAllocs(t *testing.T) {
	b := newEntries(map[string]map[string]string{"app": {"s": "x", "n": "42", "b": "true", "d": "2s"}})
	s := vaultly.New(b, &vaultly.Options{TTL: time.Hour, RefreshAhead: -1})
	defer s.Close()
	ctx := context.Background()
	for _, ref := range []string{"app:s", "app:n", "app:b", "app:d"} {
		if _, err := s.Get(ctx, ref); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		fn   func()
	}{
		{"string", func() { _, _ = vaultly.GetAs[string](ctx, s, "app:s") }},
		{"int", func() { _, _ = vaultly.GetAs[int](ctx, s, "app:n") }},
		{"bool", func() { _, _ = vaultly.GetAs[bool](ctx, s, "app:b") }},
		{"int64", func() { _, _ = vaultly.GetAs[int64](ctx, s, "app:n") }},
		{"float64", func() { _, _ = vaultly.GetAs[float64](ctx, s, "app:n") }},
		{"duration", func() { _, _ = vaultly.GetAs[time.Duration](ctx, s, "app:d") }},
	}
	for _, tt := range tests {
		if got := testing.AllocsPerRun(100, tt.fn); got != 0 {
			t.Errorf("GetAs[%s] on a warm key: %v allocs/op, want 0", tt.name, got)
		}
	}
}

func BenchmarkGetAs(b *testing.B) {
	be := newEntries(map[string]map[string]string{"app": {"s": "x", "n": "42", "b": "true", "d": "5s"}})
	s := vaultly.New(be, &vaultly.Options{TTL: time.Hour, RefreshAhead: -1})
	defer s.Close()
	ctx := context.Background()
	b.Run("string", func(b *testing.B) { benchGetAs[string](b, ctx, s, "app:s") })
	b.Run("int", func(b *testing.B) { benchGetAs[int](b, ctx, s, "app:n") })
	b.Run("bool", func(b *testing.B) { benchGetAs[bool](b, ctx, s, "app:b") })
	b.Run("duration", func(b *testing.B) { benchGetAs[time.Duration](b, ctx, s, "app:d") })
}

func benchGetAs[T any](b *testing.B, ctx context.Context, s *vaultly.Store, ref string) {
	if _, err := vaultly.GetAs[T](ctx, s, ref); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := vaultly.GetAs[T](ctx, s, ref); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

var errBadPort = errors.New("port out of service range")

// svcPort rejects ports below 1024 with an error that quotes its input.
type svcPort int

func (p *svcPort) UnmarshalText(b []byte) error {
	n, err := strconv.Atoi(string(b))
	if err != nil || n < 1024 {
		return fmt.Errorf("port %q: %w", b, errBadPort)
	}
	*p = svcPort(n)
	return nil
}

// TestUserUnmarshalErrorReachable: Load, GetAs and Live keep a user
// UnmarshalText error reachable with errors.Is, without its text.
func TestUserUnmarshalErrorReachable(t *testing.T) {
	t.Parallel()
	const canary = "80Zq9canary"
	mem := memsecrets.New(nil)
	mem.Set("app/svc", map[string]any{"port": canary})
	s := vaultly.New(mem, nil)
	defer s.Close()
	ctx := t.Context()
	type Whole struct {
		Port svcPort `json:"port"`
	}
	var cfg struct {
		Port  svcPort                 `secret:"app/svc:port"`
		Whole Whole                   `secret:"app/svc"`
		Map   map[string]svcPort      `secret:"app/svc"`
		Sec   vaultly.Secret[svcPort] `secret:"app/svc:port"`
	}
	loadErr := s.Load(ctx, &cfg, nil)
	_, getErr := vaultly.GetAs[svcPort](ctx, s, "app/svc:port")
	l, err := vaultly.NewLive[svcPort](s, "app/svc:port", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, liveErr := l.Get(ctx)
	for name, err := range map[string]error{"Load": loadErr, "GetAs": getErr, "Live.Get": liveErr} {
		if !errors.Is(err, errBadPort) || !errors.Is(err, vaultly.ErrInvalidArgument) {
			t.Errorf("%s error = %v; want errors.Is with errBadPort and ErrInvalidArgument", name, err)
		}
		if strings.Contains(fmt.Sprint(err), canary) {
			t.Errorf("%s error = %q shows the value", name, err)
		}
	}
	if fe := strings.Count(fmt.Sprint(loadErr), "rejected by UnmarshalText"); fe != 4 {
		t.Errorf("Load error = %q; want 4 fields rejected by UnmarshalText", loadErr)
	}
}
