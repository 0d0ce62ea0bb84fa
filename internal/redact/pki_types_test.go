package redact_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"fmt"
	"math/big"
	"sync/atomic"
	"time"

	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
	"github.com/vaultly/vaultly/memsecrets"
	"github.com/vaultly/vaultly/pkisecrets"
)

// The rows of the certificate types, kept apart and added to
// exportedTypes before the tests run. Their secret is a private key:
// looked for as its raw scalar, its decimal value (how *ecdsa.PrivateKey
// prints D) and its PKCS #8 DER, in every form leakForms knows.
func init() { exportedTypes = append(exportedTypes, pkiTypes...) }

// keySecrets are the forms of an ECDSA private key a leak would show.
func keySecrets(e *env, k *ecdsa.PrivateKey) []string {
	raw, err := k.Bytes()
	if err != nil {
		e.t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		e.t.Fatal(err)
	}
	return []string{string(raw), new(big.Int).SetBytes(raw).String(), string(der)}
}

// pkiSource is a Source over a fake PKI engine (memsecrets), so its key is
// generated here, and the secrets to look for.
func (e *env) pkiSource() (*pkisecrets.Source, []string) {
	b := memsecrets.New(nil)
	b.SetPKIRole("pki", "web", memsecrets.PKIRole{TTL: time.Hour})
	s, err := pkisecrets.New(e.ctx, b, "web", &pkisecrets.Options{CommonName: "web.test"})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s, keySecrets(e, s.Current().Key.Reveal().(*ecdsa.PrivateKey))
}

// vaultIssued is a certificate Vault issued, key included, from a PKI
// mount of the test's own, and the secrets to look for.
func (e *env) vaultIssued(b *hashivault.Backend) (*driver.IssuedCert, []string) {
	mount := fmt.Sprintf("pki-redact-%d", pkiSeq.Add(1))
	e.srv.EnablePKI(e.t, mount, vaulttest.PKIRole{Name: "web", AllowedDomains: "test", AllowSubdomains: true, KeyType: "ec", KeyBits: 256})
	c, err := b.IssueCert(e.ctx, mount, "web", &driver.CertRequest{CommonName: "web.test"})
	if err != nil {
		e.t.Fatal(err)
	}
	k, err := x509.ParsePKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		e.t.Fatal(err)
	}
	return c, append(keySecrets(e, k.(*ecdsa.PrivateKey)), e.srv.Token)
}

var pkiSeq atomic.Int64

var pkiTypes = []typeRow{
	{name: "driver.CertIssuer", none: noneInterface},
	{name: "driver.CertRequest", none: "names and a TTL"},
	{name: "driver.IssuedCert", make: func(e *env) sample {
		c, secrets := e.vaultIssued(e.vaultBackend())
		return sample{[]any{*c, c}, secrets}
	}, plain: "its exported PrivateKey bytes are the key, as Entry.Fields are the data"},
	{name: "memsecrets.PKIRole", none: "durations and a flag"},
	{name: "pkisecrets.Certificate", make: func(e *env) sample {
		s, secrets := e.pkiSource()
		return sample{[]any{*s.Current(), s.Current()}, secrets}
	}},
	{name: "pkisecrets.KeyType", none: noneEnum},
	{name: "pkisecrets.Mode", none: noneEnum},
	{name: "pkisecrets.Options", none: "names, durations, flags and a logger"},
	{name: "pkisecrets.PrivateKey", make: func(e *env) sample {
		s, secrets := e.pkiSource()
		tc, _ := s.GetCertificate(nil)
		// The tls.Certificate handshakes get holds the key as a
		// PrivateKey too, so printing it shows no key either.
		return sample{[]any{s.Current().Key, *tc, tc}, secrets}
	}},
	{name: "pkisecrets.Source", make: func(e *env) sample {
		s, secrets := e.pkiSource()
		return one(s, secrets...)
	}},
	{name: "pkisecrets.Status", make: func(e *env) sample {
		s, secrets := e.pkiSource()
		return one(s.Status(), secrets...)
	}},
	{name: "internal/testing/vaulttest.PKIRole", none: noneTestOnly},
}
