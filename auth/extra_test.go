package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/vaultly/vaultly/auth/aws"
	"github.com/vaultly/vaultly/auth/cert"
	"github.com/vaultly/vaultly/internal/vaulttest"
)

// extraMethods returns the setups of the cert and aws methods.
func extraMethods(e *env) []func(*testing.T) method {
	return []func(*testing.T) method{e.certMethod, e.awsMethod}
}

// testCA is a CA that issues client certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
}

func newTestCA(t *testing.T, cn string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: c, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// issue returns PEM cert and key for a client certificate.
func (ca *testCA) issue(t *testing.T, cn string) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
}

func (e *env) certMethod(t *testing.T) method {
	ca := newTestCA(t, "vaultly test client CA")
	e.srv.EnableAuth(t, "cert", "cert")
	e.srv.Write(t, "auth/cert/certs/app", map[string]any{"certificate": ca.pem, "token_policies": "cert"})
	c, k := ca.issue(t, "app")
	good, err := cert.New(&cert.Options{Name: "app", CertFile: e.file(t, "client.pem", c), KeyFile: e.file(t, "client-key.pem", k)})
	if err != nil {
		t.Fatal(err)
	}
	c2, k2 := newTestCA(t, "untrusted CA").issue(t, "app")
	bad, err := cert.New(&cert.Options{Name: "app", CertFile: e.file(t, "untrusted.pem", c2), KeyFile: e.file(t, "untrusted-key.pem", k2)})
	if err != nil {
		t.Fatal(err)
	}
	return method{name: "cert", describ: "cert at auth/cert", good: good, bad: bad, badCred: "PRIVATE KEY"}
}

const (
	awsKeyID  = "AKIAVAULTLYTEST00001"
	awsSecret = "vaultlyTestSecretAccessKey0000000000001"
	awsARN    = "arn:aws:iam::123456789012:user/app"
)

func (e *env) awsSetup(t *testing.T) *vaulttest.STS {
	t.Helper()
	sts := vaulttest.StartSTS(t)
	sts.AddUser(awsKeyID, awsSecret, awsARN)
	e.srv.EnableAuth(t, "aws-iam", "aws")
	e.srv.Write(t, "auth/aws-iam/config/client", map[string]any{
		"sts_endpoint": sts.URL, "sts_region": "us-east-1", "iam_server_id_header_value": "vaultly.test",
	})
	e.srv.Write(t, "auth/aws-iam/role/app", map[string]any{
		"auth_type": "iam", "bound_iam_principal_arn": awsARN, "resolve_aws_unique_ids": false, "token_policies": "aws",
	})
	return sts
}

func (e *env) awsMethod(t *testing.T) method {
	e.awsSetup(t)
	good, err := aws.New(&aws.Options{Mount: "aws-iam", Role: "app", ServerID: "vaultly.test",
		AccessKeyID: awsKeyID, SecretAccessKeyFile: e.file(t, "aws-secret", awsSecret)})
	if err != nil {
		t.Fatal(err)
	}
	const wrong = "vaultlyWrongSecretAccessKey000000000001"
	bad, err := aws.New(&aws.Options{Mount: "aws-iam", Role: "app", ServerID: "vaultly.test", AccessKeyID: awsKeyID, SecretAccessKey: wrong})
	if err != nil {
		t.Fatal(err)
	}
	return method{name: "aws", describ: "aws at auth/aws-iam", good: good, bad: bad, badCred: wrong}
}
