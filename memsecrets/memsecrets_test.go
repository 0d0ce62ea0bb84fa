package memsecrets_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

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
	b.OnChange(func(p string) { changed = append(changed, p) })

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
