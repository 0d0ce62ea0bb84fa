package auth_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/auth"
)

func TestMethodFuncErrors(t *testing.T) {
	plain := errors.New("token service down")
	coded := &vaultly.Error{Code: vaultly.Unavailable, Err: plain}
	tests := []struct {
		name string
		err  error
		code vaultly.Code
		is   error
	}{
		{"plain", plain, vaultly.Unauthenticated, vaultly.ErrUnauthenticated},
		{"wrapped plain", fmt.Errorf("fetch: %w", plain), vaultly.Unauthenticated, vaultly.ErrUnauthenticated},
		{"coded", coded, vaultly.Unavailable, vaultly.ErrUnavailable},
		{"coded in a chain", fmt.Errorf("fetch: %w", coded), vaultly.Unavailable, vaultly.ErrUnavailable},
		{"canceled", fmt.Errorf("fetch: %w", context.Canceled), vaultly.Canceled, vaultly.ErrCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := auth.MethodFunc(func(context.Context, *api.Client) (*api.Secret, error) { return nil, tt.err })
			_, err := m.Login(context.Background(), nil)
			e, ok := errors.AsType[*vaultly.Error](err)
			if !ok {
				t.Fatalf("Login() error %T %v, want a *vaultly.Error", err, err)
			}
			if e.Op != "login" || e.Code != tt.code {
				t.Errorf("Login() error op %q code %v, want login, %v", e.Op, e.Code, tt.code)
			}
			if !errors.Is(err, tt.is) || (tt.code != vaultly.Canceled && !errors.Is(err, plain)) {
				t.Errorf("Login() error %v: errors.Is with the code's sentinel or the cause is false", err)
			}
		})
	}
	m := auth.MethodFunc(func(context.Context, *api.Client) (*api.Secret, error) { return &api.Secret{}, nil })
	if _, err := m.Login(context.Background(), nil); err != nil {
		t.Errorf("Login() = %v, want nil", err)
	}
}
