package cli

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// leafSerial is the serial number of the first certificate in the file.
func leafSerial(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		return ""
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return ""
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber.String()
}

const pkiTmpl = `{{ with pkiCert "%s/issue/web" "common_name=%s" }}{{ .Cert }}
{{ .Key }}
{{ .CA }}
{{ end }}`

// TestInjectPKICertReuse: as consul-template's pkiCert, a certificate still
// valid in the destination (with its key and issuing CA) is used again by
// a new inject, so a restart does not issue a new one; another common name
// gets a new certificate.
func TestInjectPKICertReuse(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	srv.EnablePKI(t, "cli-pki-tmpl", vaulttest.PKIRole{Name: "web", AllowedDomains: "svc.test", AllowSubdomains: true,
		TTL: "1h", MaxTTL: "2h", KeyType: "ec", KeyBits: 256})
	e := newEnv(t, srv)
	tmpl, out := filepath.Join(e.home, "tls.tmpl"), filepath.Join(e.home, "tls.pem")
	writeFile(t, tmpl, strings.ReplaceAll(strings.Replace(pkiTmpl, "%s", "cli-pki-tmpl", 1), "%s", "a.svc.test"))
	e.must("", "inject", "-i", tmpl, "-o", out)
	first := leafSerial(t, out)
	if first == "" {
		t.Fatalf("no certificate rendered:\n%s", fileText(out))
	}
	if !strings.Contains(fileText(out), "PRIVATE KEY") {
		t.Fatalf("no key rendered")
	}
	r := e.run("", "inject", "-i", tmpl, "-o", out)
	if r.code != 0 {
		t.Fatalf("second inject: exit %d: %s", r.code, r.stderr)
	}
	if again := leafSerial(t, out); again != first {
		t.Errorf("a second inject issued a new certificate (%s, was %s); want the one in %s used again", again, first, out)
	}
	if !strings.Contains(r.stderr, "again") || strings.Contains(r.stderr, "PRIVATE") {
		t.Errorf("stderr does not say the certificate is used again (or shows the key): %q", r.stderr)
	}
	// Another name: the file's certificate does not fit.
	writeFile(t, tmpl, strings.ReplaceAll(strings.Replace(pkiTmpl, "%s", "cli-pki-tmpl", 1), "%s", "b.svc.test"))
	e.must("", "inject", "-i", tmpl, "-o", out)
	if other := leafSerial(t, out); other == first || other == "" {
		t.Errorf("a template for another common name kept the certificate %s", first)
	}
}

// TestInjectPKICertReissued: inject -watch issues the certificate again at
// 2/3 of its lifetime (role ttl 6 s: about every 4 s), before it expires.
func TestInjectPKICertReissued(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	srv.EnablePKI(t, "cli-pki-short", vaulttest.PKIRole{Name: "web", AllowedDomains: "svc.test", AllowSubdomains: true,
		TTL: "6s", MaxTTL: "6s", KeyType: "ec", KeyBits: 256})
	e := newEnv(t, srv)
	tmpl := filepath.Join(e.home, "tls.tmpl")
	writeFile(t, tmpl, strings.ReplaceAll(strings.Replace(pkiTmpl, "%s", "cli-pki-short", 1), "%s", "a.svc.test"))
	out := filepath.Join(e.home, "tls.pem")
	d := startDaemon(t, e, nil, "inject", "-watch", "-interval", "200ms", "-i", tmpl, "-o", out)
	var first string
	eventually(t, 20*time.Second, "the first certificate", func() bool { first = leafSerial(t, out); return first != "" })
	start := time.Now()
	var second string
	took := eventually(t, 15*time.Second, "a new certificate before the first expires", func() bool {
		second = leafSerial(t, out)
		return second != "" && second != first
	})
	// Tolerance: due at 2/3 of 6 s = 4 s after issue; allow up to 5.5 s
	// (the rendering and the issue itself on a loaded machine), which is
	// still before the first one ends.
	if took > 5500*time.Millisecond {
		t.Errorf("re-issued %v after the first rendering was seen, want about 4 s (before the 6 s end)", took)
	}
	third := ""
	eventually(t, 15*time.Second, "a third certificate", func() bool {
		third = leafSerial(t, out)
		return third != "" && third != second && third != first
	})
	t.Logf("certificates %s, %s, %s; the second %v after the first was seen, the third %v", first, second, third, took.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	d.stop(t)
	if s := d.errText(); strings.Contains(s, "PRIVATE") {
		t.Errorf("stderr shows key material: %q", s)
	}
}
