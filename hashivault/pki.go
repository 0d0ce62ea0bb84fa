package hashivault

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/driver"
)

// The requests of Vault's PKI secrets engine (driver.CertIssuer). The
// Backend only sends them, through Call (mapped errors, one re-login when
// the token has died); package pkisecrets generates keys, schedules
// re-issues, keeps CA pools fresh and revokes, from goroutines it owns.
//
// The policy each request needs, for a mount "pki" and a role "web":
//
//	IssueCert   path "pki/issue/web"  { capabilities = ["update"] }
//	SignCSR     path "pki/sign/web"   { capabilities = ["update"] }
//	RevokeCert  path "pki/revoke"     { capabilities = ["update"] }
//	CACerts     none: LIST pki/issuers and GET pki/issuer/<id>/json are
//	            unauthenticated endpoints

var _ driver.CertIssuer = (*Backend)(nil)

// IssueCert asks Vault to generate a key and a certificate for it
// (driver.CertIssuer) with POST <mount>/issue/<role>. The key comes back in
// the response body, PKCS #8; it never appears in an error. An unknown role
// is NotFound; a request the role does not allow, or a role whose key_type
// is "any" (it only signs), is InvalidArgument.
func (b *Backend) IssueCert(ctx context.Context, mount, role string, req *driver.CertRequest) (*driver.IssuedCert, error) {
	p, err := pkiPath(mount, "issue", role)
	if err != nil {
		return nil, err
	}
	data := certRequestData(req)
	data["private_key_format"] = "pkcs8"
	c, err := b.writeCert(ctx, p, data)
	if err != nil {
		return nil, err
	}
	if c.PrivateKey == nil {
		return nil, driver.NewError(driver.Malformed, errors.New("the answer of "+p+" holds no private key"))
	}
	return c, nil
}

// SignCSR asks Vault to sign csr (DER) with POST <mount>/sign/<role>
// (driver.CertIssuer); the key never leaves the caller. The role's
// key_type and key_bits must accept the CSR's key ("any" accepts every
// type): otherwise, and for a name the role does not allow, the error is
// InvalidArgument. An unknown role is NotFound.
func (b *Backend) SignCSR(ctx context.Context, mount, role string, csr []byte, req *driver.CertRequest) (*driver.IssuedCert, error) {
	p, err := pkiPath(mount, "sign", role)
	if err != nil {
		return nil, err
	}
	if len(csr) == 0 {
		return nil, driver.NewError(driver.InvalidArgument, errors.New("empty certificate signing request"))
	}
	data := certRequestData(req)
	data["csr"] = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}))
	c, err := b.writeCert(ctx, p, data)
	if err != nil {
		return nil, err
	}
	c.PrivateKey = nil // Vault never sends one for a CSR; keep the contract
	return c, nil
}

// CACerts lists the issuers of mount (LIST <mount>/issuers) and reads each
// one's certificate and chain (GET <mount>/issuer/<id>/json), the default
// issuer first (driver.CertIssuer). A mount without the issuers API (Vault
// before 1.11) answers with GET <mount>/cert/ca_chain instead. Both are
// unauthenticated endpoints: no policy is needed.
func (b *Backend) CACerts(ctx context.Context, mount string) ([][]byte, error) {
	m, err := pkiMount(mount)
	if err != nil {
		return nil, err
	}
	var list *api.Secret
	err = b.Call(withOp(ctx, opPKICA), func(ctx context.Context, c *api.Client) error {
		var err error
		list, err = c.Logical().ListWithContext(ctx, m+"/issuers")
		return err
	})
	if err != nil {
		return nil, err
	}
	var ids []string
	def := ""
	if list != nil {
		ids = stringList(list.Data["keys"])
		if info, ok := list.Data["key_info"].(map[string]any); ok {
			for id, v := range info {
				if m, ok := v.(map[string]any); ok && m["is_default"] == true {
					def = id
				}
			}
		}
	}
	if len(ids) == 0 {
		return b.legacyCAChain(ctx, m)
	}
	// The default issuer first: a pool does not care, a reader does.
	for i, id := range ids {
		if id == def {
			ids[0], ids[i] = ids[i], ids[0]
			break
		}
	}
	var out [][]byte
	seen := map[string]bool{}
	add := func(pemText string) error {
		ders, err := pemCerts(pemText)
		if err != nil {
			return err
		}
		for _, d := range ders {
			if !seen[string(d)] {
				seen[string(d)] = true
				out = append(out, d)
			}
		}
		return nil
	}
	for _, id := range ids {
		p := m + "/issuer/" + url.PathEscape(id) + "/json"
		var s *api.Secret
		err := b.Call(withOp(ctx, opPKICA), func(ctx context.Context, c *api.Client) error {
			var err error
			s, err = c.Logical().ReadWithContext(ctx, p)
			return err
		})
		if driver.CodeOf(err) == driver.NotFound {
			continue // deleted between the list and the read
		}
		if err != nil {
			return nil, err
		}
		if s == nil {
			continue
		}
		cert, _ := s.Data["certificate"].(string)
		if err := add(cert); err != nil {
			return nil, driver.NewError(driver.Malformed, errors.New(p+": certificate: "+err.Error()))
		}
		for _, c := range stringList(s.Data["ca_chain"]) {
			if err := add(c); err != nil {
				return nil, driver.NewError(driver.Malformed, errors.New(p+": ca_chain: "+err.Error()))
			}
		}
	}
	if len(out) == 0 {
		return nil, driver.NewError(driver.NotFound, errors.New(m+" has no issuer"))
	}
	return out, nil
}

// legacyCAChain reads <mount>/cert/ca_chain, the chain of the mount's only
// (or default) issuer.
func (b *Backend) legacyCAChain(ctx context.Context, m string) ([][]byte, error) {
	p := m + "/cert/ca_chain"
	var s *api.Secret
	err := b.Call(withOp(ctx, opPKICA), func(ctx context.Context, c *api.Client) error {
		var err error
		s, err = c.Logical().ReadWithContext(ctx, p)
		return err
	})
	if err != nil {
		return nil, err
	}
	var text string
	if s != nil {
		text, _ = s.Data["certificate"].(string)
		if text == "" {
			text, _ = s.Data["ca_chain"].(string)
		}
	}
	ders, perr := pemCerts(text)
	if perr != nil {
		return nil, driver.NewError(driver.Malformed, errors.New(p+": "+perr.Error()))
	}
	if len(ders) == 0 {
		return nil, driver.NewError(driver.NotFound, errors.New(m+" has no issuer"))
	}
	return ders, nil
}

// RevokeCert revokes cert with POST <mount>/revoke, sending the
// certificate itself rather than its serial number, so that certificates
// of a role with no_store=true can be revoked too (driver.CertIssuer).
// Vault answers success for a certificate already revoked or expired.
func (b *Backend) RevokeCert(ctx context.Context, mount string, cert []byte) error {
	m, err := pkiMount(mount)
	if err != nil {
		return err
	}
	if _, err := x509.ParseCertificate(cert); err != nil {
		// Vault answers 500 to a certificate it cannot parse.
		return driver.NewError(driver.InvalidArgument, errors.New("the certificate to revoke cannot be parsed"))
	}
	data := map[string]any{"certificate": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert}))}
	return b.Call(withOp(ctx, opPKIRevoke), func(ctx context.Context, c *api.Client) error {
		_, err := c.Logical().WriteWithContext(ctx, m+"/revoke", data)
		return err
	})
}

// writeCert sends an issue or sign request and decodes the answer.
func (b *Backend) writeCert(ctx context.Context, p string, data map[string]any) (*driver.IssuedCert, error) {
	var s *api.Secret
	err := b.Call(withOp(ctx, opPKIIssue), func(ctx context.Context, c *api.Client) error {
		var err error
		s, err = c.Logical().WriteWithContext(ctx, p, data)
		return err
	})
	if err != nil {
		if unknownRole(err) {
			if de, ok := err.(*driver.Error); ok {
				c := *de
				c.Code = driver.NotFound
				return nil, &c
			}
		}
		return nil, err
	}
	if s == nil || s.Data == nil {
		return nil, driver.NewError(driver.Malformed, errors.New("empty answer from "+p))
	}
	return decodeIssued(p, s.Data)
}

// decodeIssued reads the PEM fields of an issue or sign answer.
func decodeIssued(p string, data map[string]any) (*driver.IssuedCert, error) {
	bad := func(field, why string) error {
		return driver.NewError(driver.Malformed, errors.New(p+": "+field+": "+why))
	}
	text, _ := data["certificate"].(string)
	leaf, err := pemCerts(text)
	if err != nil {
		return nil, bad("certificate", err.Error())
	}
	if len(leaf) == 0 {
		return nil, bad("certificate", "missing")
	}
	out := &driver.IssuedCert{Certificate: leaf[0]}
	// A pem_bundle answer carries the chain after the leaf.
	chain := leaf[1:]
	if len(chain) == 0 {
		for _, c := range stringList(data["ca_chain"]) {
			ders, err := pemCerts(c)
			if err != nil {
				return nil, bad("ca_chain", err.Error())
			}
			chain = append(chain, ders...)
		}
	}
	if len(chain) == 0 {
		ca, _ := data["issuing_ca"].(string)
		if chain, err = pemCerts(ca); err != nil {
			return nil, bad("issuing_ca", err.Error())
		}
	}
	out.Chain = chain
	if key, _ := data["private_key"].(string); key != "" {
		blk, _ := pem.Decode([]byte(key))
		if blk == nil {
			// Never quote the field: it is the key.
			return nil, bad("private_key", "not PEM")
		}
		out.PrivateKey = blk.Bytes
	}
	return out, nil
}

// certRequestData is the request body shared by issue and sign.
func certRequestData(req *driver.CertRequest) map[string]any {
	data := map[string]any{"format": "pem"}
	if req == nil {
		return data
	}
	if req.CommonName != "" {
		data["common_name"] = req.CommonName
	}
	if len(req.AltNames) > 0 {
		data["alt_names"] = strings.Join(req.AltNames, ",")
	}
	if len(req.IPSANs) > 0 {
		data["ip_sans"] = strings.Join(req.IPSANs, ",")
	}
	if len(req.URISANs) > 0 {
		data["uri_sans"] = strings.Join(req.URISANs, ",")
	}
	if req.TTL > 0 {
		data["ttl"] = strconv.FormatInt(int64((req.TTL+time.Second-1)/time.Second), 10) + "s"
	}
	return data
}

// pkiPath is <mount>/<op>/<role>, with both names checked so that neither
// can change the request path.
func pkiPath(mount, op, role string) (string, error) {
	m, err := pkiMount(mount)
	if err != nil {
		return "", err
	}
	if role == "" || strings.ContainsAny(role, "/?#%") || role == "." || role == ".." || hasControl(role) {
		return "", driver.NewError(driver.InvalidArgument, errors.New("pki role "+strconv.Quote(role)+" is not a valid name"))
	}
	return m + "/" + op + "/" + role, nil
}

// pkiMount trims and checks a PKI mount path.
func pkiMount(mount string) (string, error) {
	m := strings.Trim(mount, "/")
	if m == "" {
		return "", driver.NewError(driver.InvalidArgument, errors.New("pki mount is empty"))
	}
	for _, seg := range strings.Split(m, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "?#%") || hasControl(seg) {
			return "", driver.NewError(driver.InvalidArgument, errors.New("pki mount "+strconv.Quote(mount)+" is not a valid path"))
		}
	}
	return m, nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// pemCerts returns the DER of every CERTIFICATE block in text.
func pemCerts(text string) ([][]byte, error) {
	rest := []byte(text)
	var out [][]byte
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			return nil, errors.New("unexpected PEM block " + strconv.Quote(blk.Type))
		}
		out = append(out, blk.Bytes)
	}
	if len(out) == 0 && strings.TrimSpace(string(rest)) != "" {
		return nil, errors.New("not PEM")
	}
	return out, nil
}

// stringList reads a JSON array of strings.
func stringList(v any) []string {
	switch v := v.(type) {
	case []string:
		return v
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// unknownRole reports whether Vault refused a request for a role it does
// not have: 400 "unknown role: NAME".
func unknownRole(err error) bool {
	re, ok := errors.AsType[*api.ResponseError](err)
	if !ok || re.StatusCode != http.StatusBadRequest {
		return false
	}
	for _, e := range re.Errors {
		if strings.Contains(e, "unknown role") {
			return true
		}
	}
	return false
}
