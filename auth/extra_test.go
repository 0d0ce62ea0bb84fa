package auth_test

import (
	"testing"

	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/aws"
	"github.com/vaultly/vaultly/auth/cert"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// extraMethods returns the setups of the cert and aws methods.
func extraMethods(e *env) []func(*testing.T) method {
	return []func(*testing.T) method{e.certMethod, e.awsMethod}
}

func (e *env) certMethod(t *testing.T) method {
	ca := vaulttest.NewClientCA(t, "vaultly test client CA")
	e.srv.EnableAuth(t, "cert", "cert")
	e.srv.Write(t, "auth/cert/certs/app", map[string]any{"certificate": ca.PEM, "token_policies": "cert"})
	c, k := ca.Issue(t, "app")
	good, err := cert.New(&cert.Options{Name: "app", CertFile: e.file(t, "client.pem", c), KeyFile: e.file(t, "client-key.pem", k)})
	if err != nil {
		t.Fatal(err)
	}
	c2, k2 := vaulttest.NewClientCA(t, "untrusted CA").Issue(t, "app")
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
		AccessKeyID: auth.FromString(awsKeyID), SecretAccessKey: auth.FromFile(e.file(t, "aws-secret", awsSecret))})
	if err != nil {
		t.Fatal(err)
	}
	const wrong = "vaultlyWrongSecretAccessKey000000000001"
	bad, err := aws.New(&aws.Options{Mount: "aws-iam", Role: "app", ServerID: "vaultly.test", AccessKeyID: auth.FromString(awsKeyID), SecretAccessKey: auth.FromString(wrong)})
	if err != nil {
		t.Fatal(err)
	}
	return method{name: "aws", describ: "aws at auth/aws-iam", good: good, bad: bad, badCred: wrong}
}
