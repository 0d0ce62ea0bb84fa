package auth_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/hashivault"
)

var quiet = slog.New(slog.DiscardHandler)

// TestHashivaultWithEveryMethod gives each method to the Vault backend
// (hashivault.New with Options.Auth), which logs in with it, reads a secret
// the method's policy allows and is refused one it does not.
func TestHashivaultWithEveryMethod(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	setups := append([]func(*testing.T) method{
		e.tokenMethod, e.appRoleMethod, e.userpassMethod, e.ldapMethod, e.jwtMethod, e.kubeMethod,
	}, extraMethods(e)...)
	ctx := context.Background()
	for _, setup := range setups {
		m := setup(t)
		t.Run(m.name, func(t *testing.T) {
			e.grant(t, m.name)
			b, err := hashivault.New(ctx, &hashivault.Options{
				Address: e.srv.Addr, CACert: e.srv.CACert, Auth: m.good, ConfigFile: "-", Logger: quiet,
			})
			if err != nil {
				t.Fatalf("hashivault.New: %v", err)
			}
			defer b.Close()
			ent, err := b.Read(ctx, m.name+"/ok", 0)
			if err != nil {
				t.Fatalf("Read(%s/ok): %v", m.name, err)
			}
			if got, want := ent.Fields["value"], "v-"+m.name; got != want {
				t.Errorf("Read(%s/ok) value = %q, want %q", m.name, got, want)
			}
			_, err = b.Read(ctx, "denied/"+m.name, 0)
			if got, want := driver.CodeOf(err), driver.PermissionDenied; got != want {
				t.Errorf("Read(denied/%s): code %v, want %v (err %v)", m.name, got, want, err)
			}

			bad, err := hashivault.New(ctx, &hashivault.Options{
				Address: e.srv.Addr, CACert: e.srv.CACert, Auth: m.bad, ConfigFile: "-", Logger: quiet,
			})
			if err == nil {
				_, err = bad.Read(ctx, m.name+"/ok", 0)
				bad.Close()
			}
			if got, want := driver.CodeOf(err), driver.Unauthenticated; got != want {
				t.Errorf("with bad credentials: code %v, want %v (err %v)", got, want, err)
			}
		})
	}
}
