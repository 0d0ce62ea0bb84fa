package login

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/internal/errs"
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
		code errs.Code
	}{
		{"400", &api.ResponseError{StatusCode: 400, Errors: []string{"invalid secret " + secret}}, errs.Unauthenticated},
		{"403", &api.ResponseError{StatusCode: 403, Errors: []string{"permission denied"}}, errs.Unauthenticated},
		{"403 multi-error", &api.ResponseError{StatusCode: 403, Errors: []string{"2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"}}, errs.Unauthenticated},
		{"404", &api.ResponseError{StatusCode: 404, Errors: []string{"no handler for route"}}, errs.Config},
		{"429", &api.ResponseError{StatusCode: 429}, errs.ResourceExhausted},
		{"503", &api.ResponseError{StatusCode: 503, Errors: []string{"Vault is sealed"}}, errs.Unavailable},
		{"canceled", fmt.Errorf("put: %w", context.Canceled), errs.Canceled},
		{"other", errors.New("boom " + secret), errs.Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Error(NewBase("approle", "apps"), tt.err, secret)
			if got := errs.CodeOf(err); got != tt.code {
				t.Errorf("code = %v, want %v (err %v)", got, tt.code, err)
			}
			if !errors.Is(err, errs.Sentinel(tt.code)) {
				t.Errorf("errors.Is(err, sentinel of %v) = false", tt.code)
			}
			e, ok := errors.AsType[*errs.Error](err)
			if !ok || e.Op != "login" || e.Ref != "auth/apps" {
				t.Errorf("error = %#v, want an *Error with op login and ref auth/apps", err)
			}
			msg := err.Error()
			if want := "vaultly: login auth/apps (vault): " + tt.code.String() + ": approle: "; !strings.HasPrefix(msg, want) {
				t.Errorf("error %q does not start with %q", msg, want)
			}
			if strings.Contains(msg, "errors occurred") || strings.Contains(msg, "\n") || strings.Contains(msg, "*") {
				t.Errorf("error %q keeps the server's multi-error layout", msg)
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

func TestBasePrints(t *testing.T) {
	b := NewBase("approle", "/auth/team/apps/")
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		if got, want := fmt.Sprintf(verb, b), "approle at auth/team/apps"; got != want {
			t.Errorf("Sprintf(%q, base) = %q, want %q", verb, got, want)
		}
	}
	if got, want := b.LogValue().String(), "approle at auth/team/apps"; got != want {
		t.Errorf("LogValue() = %q, want %q", got, want)
	}
}

func TestPrefixKeepsCode(t *testing.T) {
	b := NewBase("jwt", "")
	cause := &errs.Error{Code: errs.Config, Hint: "h", Err: errors.New("file /x does not exist")}
	err := Prefix(b, "jwt", cause)
	if got, want := err.Error(), "vaultly: login auth/jwt: configuration: jwt: file /x does not exist (h)"; got != want {
		t.Errorf("Prefix() = %q, want %q", got, want)
	}
	if !errors.Is(err, cause) || !errors.Is(err, errs.Sentinel(errs.Config)) {
		t.Errorf("Prefix() chain lost the cause or the code: %v", err)
	}
	plain := Prefix(b, "", errors.New("boom"))
	if got := errs.CodeOf(plain); got != errs.Unknown {
		t.Errorf("Prefix(plain error) code = %v, want unknown", got)
	}
}
