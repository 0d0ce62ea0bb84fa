package vaulttest

import (
	"context"
	"fmt"
	"testing"

	"github.com/hashicorp/vault/api"
)

// PKIRole is a role of a PKI mount, as EnablePKI and PKIRoleWrite create
// it. Zero fields keep Vault's defaults (which allow localhost and IP SANs,
// issue RSA 2048 keys and backdate NotBefore by 30s).
type PKIRole struct {
	Name             string
	AllowedDomains   string // e.g. "example.test"
	AllowSubdomains  bool
	AllowBareDomains bool   // the domains themselves, not only subdomains
	AllowAnyName     bool   // allow_any_name
	AllowedURISANs   string // allowed_uri_sans, e.g. "spiffe://example.test/*"
	TTL              string // ttl, e.g. "10s"
	MaxTTL           string // max_ttl
	KeyType          string // key_type: "rsa", "ec", "ed25519" or "any" (sign only)
	KeyBits          int    // key_bits
	NoStore          bool   // no_store: Vault keeps no copy of what it issues
	Extra            map[string]any
}

func (r PKIRole) data() map[string]any {
	d := map[string]any{}
	set := func(k string, v any, ok bool) {
		if ok {
			d[k] = v
		}
	}
	set("allowed_domains", r.AllowedDomains, r.AllowedDomains != "")
	set("allow_subdomains", true, r.AllowSubdomains)
	set("allow_bare_domains", true, r.AllowBareDomains)
	set("allow_any_name", true, r.AllowAnyName)
	set("allowed_uri_sans", r.AllowedURISANs, r.AllowedURISANs != "")
	set("ttl", r.TTL, r.TTL != "")
	set("max_ttl", r.MaxTTL, r.MaxTTL != "")
	set("key_type", r.KeyType, r.KeyType != "")
	set("key_bits", r.KeyBits, r.KeyBits != 0)
	set("no_store", true, r.NoStore)
	for k, v := range r.Extra {
		d[k] = v
	}
	return d
}

// EnablePKI mounts the PKI secrets engine at mount (max lease TTL 10
// years), generates an internal root CA named "<mount>-root-1" as its
// default issuer, and writes each role. It returns the root's issuer ID.
func (s *Server) EnablePKI(t testing.TB, mount string, roles ...PKIRole) string {
	t.Helper()
	c := s.Client(t)
	err := c.Sys().MountWithContext(context.Background(), mount, &api.MountInput{
		Type:   "pki",
		Config: api.MountConfigInput{MaxLeaseTTL: "87600h"},
	})
	if err != nil {
		t.Fatalf("vaulttest: mount pki at %s: %v", mount, err)
	}
	id := s.PKINewRoot(t, mount, mount+"-root-1", false)
	for _, r := range roles {
		s.PKIRoleWrite(t, mount, r)
	}
	return id
}

// PKIRoleWrite creates or replaces a role of the PKI mount.
func (s *Server) PKIRoleWrite(t testing.TB, mount string, r PKIRole) {
	t.Helper()
	s.Write(t, mount+"/roles/"+r.Name, r.data())
}

// PKINewRoot generates a new internal root CA in the PKI mount, named
// name, and returns its issuer ID. With makeDefault it becomes the mount's
// default issuer (new certificates are issued from it; the old issuers stay
// in the mount). The first issuer of a mount is its default anyway.
func (s *Server) PKINewRoot(t testing.TB, mount, name string, makeDefault bool) string {
	t.Helper()
	sec := s.Write(t, mount+"/root/generate/internal", map[string]any{
		"common_name": fmt.Sprintf("vaulttest %s", name),
		"issuer_name": name,
		"key_type":    "ec",
		"key_bits":    256,
		"ttl":         "8760h",
	})
	id, _ := sec.Data["issuer_id"].(string)
	if id == "" {
		t.Fatalf("vaulttest: %s/root/generate/internal: no issuer_id in the answer", mount)
	}
	if makeDefault {
		s.PKISetDefault(t, mount, id)
	}
	return id
}

// PKISetDefault makes issuer id the default issuer of the PKI mount.
func (s *Server) PKISetDefault(t testing.TB, mount, id string) {
	t.Helper()
	s.Write(t, mount+"/config/issuers", map[string]any{"default": id})
}

// PKIRevoked returns the serial numbers ("1f:0a:...") the PKI mount has
// revoked.
func (s *Server) PKIRevoked(t testing.TB, mount string) map[string]bool {
	t.Helper()
	sec, err := s.Client(t).Logical().ListWithContext(context.Background(), mount+"/certs/revoked")
	if err != nil {
		t.Fatalf("vaulttest: list %s/certs/revoked: %v", mount, err)
	}
	out := map[string]bool{}
	if sec == nil {
		return out
	}
	keys, _ := sec.Data["keys"].([]any)
	for _, k := range keys {
		if s, ok := k.(string); ok {
			out[s] = true
		}
	}
	return out
}
