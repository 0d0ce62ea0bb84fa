package vaultly_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/driver"
)

type causeErr struct{ status int }

func (e *causeErr) Error() string { return fmt.Sprintf("status %d", e.status) }

func TestWrapError(t *testing.T) {
	cause := &causeErr{status: 403}
	tests := []struct {
		name     string
		err      error
		wantCode vaultly.Code
		wantMsg  string
		sentinel error
	}{
		{"driver error", &driver.Error{Code: driver.PermissionDenied, Err: cause, Hint: "check policy"},
			vaultly.PermissionDenied, "vaultly: get app/db:pw (vault): permission denied: status 403 (check policy)", vaultly.ErrPermissionDenied},
		{"driver error without cause", driver.NewError(driver.NotFound, nil),
			vaultly.NotFound, "vaultly: get app/db:pw (vault): not found", vaultly.ErrNotFound},
		{"context canceled", context.Canceled, vaultly.Canceled, "vaultly: get app/db:pw (vault): canceled: context canceled", vaultly.ErrCanceled},
		{"deadline", fmt.Errorf("dial: %w", context.DeadlineExceeded), vaultly.DeadlineExceeded,
			"vaultly: get app/db:pw (vault): deadline exceeded: dial: context deadline exceeded", vaultly.ErrDeadlineExceeded},
		{"plain", errors.New("boom\nsecond line"), vaultly.Unknown, "vaultly: get app/db:pw (vault): unknown: boom second line", nil},
		{"unavailable", driver.NewError(driver.Unavailable, nil), vaultly.Unavailable, "vaultly: get app/db:pw (vault): unavailable", vaultly.ErrUnavailable},
		{"exhausted", driver.NewError(driver.ResourceExhausted, nil), vaultly.ResourceExhausted, "vaultly: get app/db:pw (vault): resource exhausted", vaultly.ErrResourceExhausted},
		{"unauthenticated", driver.NewError(driver.Unauthenticated, nil), vaultly.Unauthenticated, "vaultly: get app/db:pw (vault): unauthenticated", vaultly.ErrUnauthenticated},
		{"invalid", driver.NewError(driver.InvalidArgument, nil), vaultly.InvalidArgument, "vaultly: get app/db:pw (vault): invalid argument", vaultly.ErrInvalidArgument},
		{"config", driver.NewError(driver.Config, nil), vaultly.Config, "vaultly: get app/db:pw (vault): configuration", vaultly.ErrConfig},
		{"conflict", driver.NewError(driver.Conflict, nil), vaultly.Conflict, "vaultly: get app/db:pw (vault): conflict", vaultly.ErrConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := vaultly.WrapError("get", "app/db:pw", "vault", tc.err)
			if got := vaultly.CodeOf(err); got != tc.wantCode {
				t.Errorf("CodeOf = %v, want %v", got, tc.wantCode)
			}
			if got := err.Error(); got != tc.wantMsg {
				t.Errorf("Error() = %q, want %q", got, tc.wantMsg)
			}
			if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
				t.Errorf("errors.Is(err, %v) = false", tc.sentinel)
			}
			for _, other := range []error{vaultly.ErrNotFound, vaultly.ErrUnavailable, vaultly.ErrConfig} {
				if other != tc.sentinel && errors.Is(err, other) {
					t.Errorf("errors.Is(err, %v) = true, want false", other)
				}
			}
			var ve *vaultly.Error
			if !errors.As(err, &ve) {
				t.Fatalf("errors.As(*vaultly.Error) = false")
			}
			if _, ok := ve.Err.(*driver.Error); ok {
				t.Errorf("the *driver.Error was kept as the cause; want it unpacked")
			}
			if errors.As(ve.Err, new(*vaultly.Error)) {
				t.Errorf("wrapped twice: %v", err)
			}
		})
	}
	// errors.As to the backend's own error type.
	err := vaultly.WrapError("get", "x", "vault", &driver.Error{Code: driver.PermissionDenied, Err: cause})
	var ce *causeErr
	if !errors.As(err, &ce) || ce.status != 403 {
		t.Errorf("errors.As(err, *causeErr) = %v, %+v; want the original cause", ce != nil, ce)
	}
	if vaultly.WrapError("get", "x", "vault", nil) != nil {
		t.Errorf("WrapError(nil) != nil")
	}
}

func TestWrapErrorOnce(t *testing.T) {
	inner := vaultly.WrapError("", "", "vault", driver.NewError(driver.NotFound, nil))
	outer := vaultly.WrapError("get", "a:b", "memory", inner)
	var ve *vaultly.Error
	errors.As(outer, &ve)
	if ve.Op != "get" || ve.Ref != "a:b" || ve.Backend != "vault" {
		t.Errorf("rewrapped = %+v; want missing Op/Ref filled, Backend kept", ve)
	}
	if errors.As(ve.Err, new(*vaultly.Error)) {
		t.Errorf("WrapError of a *vaultly.Error nested it: %v", outer)
	}
	full := vaultly.WrapError("put", "x", "vault", driver.NewError(driver.Conflict, nil))
	if again := vaultly.WrapError("get", "y", "mem", full); again != full {
		t.Errorf("WrapError of a complete *vaultly.Error = %v, want it unchanged", again)
	}
	// A wrapped *vaultly.Error (fmt %w) is wrapped once more: the chain
	// still has the code.
	if got := vaultly.CodeOf(fmt.Errorf("ctx: %w", full)); got != vaultly.Conflict {
		t.Errorf("CodeOf(fmt-wrapped) = %v, want conflict", got)
	}
}

func TestErrorRetryAfter(t *testing.T) {
	err := vaultly.WrapError("get", "x", "vault", &driver.Error{Code: driver.ResourceExhausted, RetryAfter: 3 * time.Second})
	var ve *vaultly.Error
	if !errors.As(err, &ve) || ve.RetryAfter != 3*time.Second {
		t.Errorf("RetryAfter = %v, want 3s", ve.RetryAfter)
	}
}

func TestCodeOf(t *testing.T) {
	tests := []struct {
		err  error
		want vaultly.Code
	}{
		{nil, vaultly.OK},
		{errors.New("x"), vaultly.Unknown},
		{context.Canceled, vaultly.Canceled},
		{driver.NewError(driver.Unavailable, nil), vaultly.Unavailable},
		{fmt.Errorf("w: %w", &vaultly.Error{Code: vaultly.Config}), vaultly.Config},
	}
	for _, tc := range tests {
		if got := vaultly.CodeOf(tc.err); got != tc.want {
			t.Errorf("CodeOf(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if got := vaultly.Code(99).String(); got != "unknown" {
		t.Errorf("Code(99).String() = %q", got)
	}
	for _, c := range []vaultly.Code{vaultly.Unavailable, vaultly.ResourceExhausted} {
		if !c.Retryable() {
			t.Errorf("%v.Retryable() = false", c)
		}
	}
	for _, c := range []vaultly.Code{vaultly.NotFound, vaultly.PermissionDenied, vaultly.InvalidArgument, vaultly.Unknown, vaultly.Unauthenticated} {
		if c.Retryable() {
			t.Errorf("%v.Retryable() = true", c)
		}
	}
}
