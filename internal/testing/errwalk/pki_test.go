package errwalk

import (
	"context"
	"errors"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/vaultly/vaultly"
	vdriver "github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
	"github.com/vaultly/vaultly/memsecrets"
	"github.com/vaultly/vaultly/pkisecrets"
)

// The rows of the certificate functions (driver.CertIssuer, its Vault and
// memory implementations, package pkisecrets), kept apart from the main
// table and added to it before the tests run.
func init() { maps.Copy(table, pkiTable) }

// pkiMounts remembers, per world, that its Vault has the PKI mount
// "errwalk-pki" (role "web") and its memory backend the mount
// "errwalk-pki" (roles "web" and "short", 1s certificates).
var pkiMounts sync.Map // *world -> struct{}

func withPKI(t *testing.T, w *world) {
	t.Helper()
	if _, done := pkiMounts.LoadOrStore(w, struct{}{}); done {
		return
	}
	w.srv.EnablePKI(t, "errwalk-pki", vaulttest.PKIRole{Name: "web", AllowedDomains: "errwalk.test", AllowSubdomains: true, TTL: "1m"})
	w.mem.SetPKIRole("errwalk-pki", "web", memsecrets.PKIRole{TTL: time.Hour})
	w.mem.SetPKIRole("errwalk-pki", "short", memsecrets.PKIRole{TTL: time.Second})
}

func memSource(t *testing.T, w *world, role string, o *pkisecrets.Options) *pkisecrets.Source {
	t.Helper()
	withPKI(t, w)
	o.Mount, o.CommonName, o.Logger = "errwalk-pki", "a.errwalk.test", quiet
	s, err := pkisecrets.New(bg, w.mem, role, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(bg) })
	return s
}

var pkiTable = map[string]walk{
	"driver.IssuedCert.MarshalJSON": {never: func(*testing.T, *world) error {
		return ignore(vdriver.IssuedCert{Certificate: []byte("x"), PrivateKey: []byte("k")}.MarshalJSON())
	}},

	"hashivault.Backend.IssueCert": {code: vaultly.NotFound, noOp: true, vault: true, call: func(t *testing.T, w *world) error {
		withPKI(t, w)
		return ignore(w.vault.IssueCert(bg, "errwalk-pki", "no-such-role", &vdriver.CertRequest{CommonName: "a.errwalk.test"}))
	}},
	"hashivault.Backend.SignCSR": {code: vaultly.InvalidArgument, noOp: true, vault: true, call: func(t *testing.T, w *world) error {
		withPKI(t, w)
		return ignore(w.vault.SignCSR(bg, "errwalk-pki", "web", []byte("not a csr"), &vdriver.CertRequest{CommonName: "a.errwalk.test"}))
	}},
	"hashivault.Backend.CACerts": {code: vaultly.Unavailable, noOp: true, call: func(t *testing.T, w *world) error {
		return ignore(w.down.CACerts(bg, "errwalk-pki"))
	}},
	"hashivault.Backend.RevokeCert": {code: vaultly.Unauthenticated, noOp: true, vault: true, call: func(t *testing.T, w *world) error {
		withPKI(t, w)
		c, err := w.vault.IssueCert(bg, "errwalk-pki", "web", &vdriver.CertRequest{CommonName: "a.errwalk.test"})
		if err != nil {
			t.Fatal(err)
		}
		return w.revoked.RevokeCert(bg, "errwalk-pki", c.Certificate)
	}},

	"memsecrets.Backend.IssueCert": {code: vaultly.NotFound, noOp: true, call: func(t *testing.T, w *world) error {
		return ignore(w.mem.IssueCert(bg, "no-such-pki", "web", nil))
	}},
	"memsecrets.Backend.SignCSR": {code: vaultly.InvalidArgument, noOp: true, call: func(t *testing.T, w *world) error {
		withPKI(t, w)
		return ignore(w.mem.SignCSR(bg, "errwalk-pki", "web", []byte("not a csr"), nil))
	}},
	"memsecrets.Backend.CACerts": {code: vaultly.NotFound, noOp: true, call: func(t *testing.T, w *world) error {
		return ignore(w.mem.CACerts(bg, "no-such-pki"))
	}},
	"memsecrets.Backend.RevokeCert": {code: vaultly.InvalidArgument, noOp: true, call: func(t *testing.T, w *world) error {
		withPKI(t, w)
		return w.mem.RevokeCert(bg, "errwalk-pki", []byte("not a certificate"))
	}},

	"pkisecrets.New": {code: vaultly.NotFound, vault: true, call: func(t *testing.T, w *world) error {
		withPKI(t, w)
		return ignore(pkisecrets.New(bg, w.vault, "no-such-role", &pkisecrets.Options{Mount: "errwalk-pki", CommonName: "a.errwalk.test", Logger: quiet}))
	}},
	"pkisecrets.Issue": {code: vaultly.Unavailable, call: func(t *testing.T, w *world) error {
		return ignore(pkisecrets.Issue(bg, w.down, "web", &pkisecrets.Options{Mount: "errwalk-pki", CommonName: "a.errwalk.test"}))
	}},
	"pkisecrets.ServerTLSConfig": {code: vaultly.InvalidArgument, call: func(t *testing.T, w *world) error {
		_, _, err := pkisecrets.ServerTLSConfig(bg, w.vault, "web", &pkisecrets.Options{IPSANs: []string{"not-an-ip"}})
		return err
	}},
	"pkisecrets.ClientTLSConfig": {code: vaultly.Config, call: func(t *testing.T, w *world) error {
		_, _, err := pkisecrets.ClientTLSConfig(bg, nil, "web", nil)
		return err
	}},
	"pkisecrets.ParseKeyType": {code: vaultly.InvalidArgument, call: func(*testing.T, *world) error { return ignore(pkisecrets.ParseKeyType("dsa")) }},
	"pkisecrets.ParseMode":    {code: vaultly.InvalidArgument, call: func(*testing.T, *world) error { return ignore(pkisecrets.ParseMode("steal")) }},
	"pkisecrets.ParsePEM":     {code: vaultly.InvalidArgument, call: func(*testing.T, *world) error { return ignore(pkisecrets.ParsePEM([]byte("no PEM here"))) }},
	"pkisecrets.Certificate.MarshalJSON": {never: func(t *testing.T, w *world) error {
		return ignore(memSource(t, w, "web", &pkisecrets.Options{}).Current().MarshalJSON())
	}},
	"pkisecrets.PrivateKey.MarshalJSON": {never: func(t *testing.T, w *world) error {
		return ignore(memSource(t, w, "web", &pkisecrets.Options{}).Current().Key.MarshalJSON())
	}},
	"pkisecrets.PrivateKey.MarshalText": {never: func(t *testing.T, w *world) error {
		return ignore(memSource(t, w, "web", &pkisecrets.Options{}).Current().Key.MarshalText())
	}},
	"pkisecrets.PrivateKey.RevealPEM": {code: vaultly.InvalidArgument, call: func(*testing.T, *world) error {
		return ignore(pkisecrets.PrivateKey{}.RevealPEM())
	}},
	"pkisecrets.PrivateKey.Sign": {code: vaultly.InvalidArgument, call: func(*testing.T, *world) error {
		return ignore(pkisecrets.PrivateKey{}.Sign(nil, make([]byte, 32), nil))
	}},
	"pkisecrets.Source.GetCertificate": {never: func(t *testing.T, w *world) error {
		return ignore(memSource(t, w, "web", &pkisecrets.Options{}).GetCertificate(nil))
	}},
	"pkisecrets.Source.GetClientCertificate": {never: func(t *testing.T, w *world) error {
		return ignore(memSource(t, w, "web", &pkisecrets.Options{}).GetClientCertificate(nil))
	}},
	"pkisecrets.Source.Health": {code: vaultly.Unavailable, call: func(t *testing.T, w *world) error {
		s := memSource(t, w, "short", &pkisecrets.Options{})
		down := vdriver.NewError(vdriver.Unavailable, errors.New("down"))
		w.mem.SetError("errwalk-pki/sign/short", down)
		defer w.mem.SetError("errwalk-pki/sign/short", nil)
		ctx, cancel := context.WithTimeout(bg, 5*time.Second)
		defer cancel()
		for time.Now().Before(s.Current().NotAfter().Add(10 * time.Millisecond)) {
			select {
			case <-ctx.Done():
				t.Fatal("the certificate did not expire")
			case <-time.After(50 * time.Millisecond):
			}
		}
		return s.Health() // expired, and issuing keeps failing
	}},
	"pkisecrets.Source.Close": {code: vaultly.Unavailable, call: func(t *testing.T, w *world) error {
		s := memSource(t, w, "web", &pkisecrets.Options{RevokeOnClose: true})
		w.mem.SetError("errwalk-pki", vdriver.NewError(vdriver.Unavailable, errors.New("down")))
		defer w.mem.SetError("errwalk-pki", nil)
		return s.Close(bg)
	}},
}
