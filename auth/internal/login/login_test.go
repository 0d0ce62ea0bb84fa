package login

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/driver"
)

func TestMount(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "approle"}, {"/approle/", "approle"}, {"auth/apps", "apps"}, {"/auth/team/apps/", "team/apps"},
	}
	for _, tt := range tests {
		if got := Mount(tt.in, "approle"); got != tt.want {
			t.Errorf("Mount(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestError(t *testing.T) {
	const secret = "s.supersecretvalue"
	tests := []struct {
		name string
		err  error
		code driver.Code
	}{
		{"400", &api.ResponseError{StatusCode: 400, Errors: []string{"invalid secret " + secret}}, driver.Unauthenticated},
		{"403", &api.ResponseError{StatusCode: 403, Errors: []string{"permission denied"}}, driver.Unauthenticated},
		{"404", &api.ResponseError{StatusCode: 404, Errors: []string{"no handler for route"}}, driver.Config},
		{"429", &api.ResponseError{StatusCode: 429}, driver.ResourceExhausted},
		{"503", &api.ResponseError{StatusCode: 503, Errors: []string{"Vault is sealed"}}, driver.Unavailable},
		{"canceled", fmt.Errorf("put: %w", context.Canceled), driver.Canceled},
		{"other", errors.New("boom " + secret), driver.Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Error("approle", "apps", tt.err, secret)
			if got := driver.CodeOf(err); got != tt.code {
				t.Errorf("code = %v, want %v (err %v)", got, tt.code, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, "approle at auth/apps") {
				t.Errorf("error %q does not name the method and mount", msg)
			}
			if strings.Contains(msg, secret) {
				t.Errorf("error %q contains the credential", msg)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("errors.Is(err, cause) = false; the cause must stay reachable")
			}
		})
	}
}
