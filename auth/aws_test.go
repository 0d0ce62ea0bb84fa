package auth_test

import (
	"context"
	"strings"
	"testing"

	"github.com/vaultly/vaultly/auth/aws"
	"github.com/vaultly/vaultly/driver"
)

// TestAWSCredentialChain logs in with credentials from the standard AWS
// chain (here: the environment), reloaded at every login, and checks the
// server-ID header is sent and required.
func TestAWSCredentialChain(t *testing.T) {
	e := newEnv(t)
	sts := e.awsSetup(t)
	const key2, secret2 = "AKIAVAULTLYTEST00002", "vaultlyTestSecretAccessKey0000000000002"
	sts.AddUser(key2, secret2, awsARN)
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_SESSION_TOKEN", "")
	ctx := context.Background()

	m, err := aws.New(&aws.Options{Mount: "aws-iam", Role: "app", ServerID: "vaultly.test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []struct{ id, secret string }{{awsKeyID, awsSecret}, {key2, secret2}} {
		t.Setenv("AWS_ACCESS_KEY_ID", k.id)
		t.Setenv("AWS_SECRET_ACCESS_KEY", k.secret)
		if _, err := m.Login(ctx, e.loginClient(t)); err != nil {
			t.Fatalf("Login with %s from the environment: %v", k.id, err)
		}
		reqs := sts.Requests()
		last := reqs[len(reqs)-1]
		if got := last.Get("Authorization"); !containsAll(got, "Credential="+k.id+"/", "x-vault-aws-iam-server-id") {
			t.Errorf("STS request Authorization = %q, want key %s and a signed server-ID header", got, k.id)
		}
		if got, want := last.Get(aws.ServerIDHeader), "vaultly.test"; got != want {
			t.Errorf("STS request %s = %q, want %q", aws.ServerIDHeader, got, want)
		}
	}

	noID, err := aws.New(&aws.Options{Mount: "aws-iam", Role: "app"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = noID.Login(ctx, e.loginClient(t))
	if got, want := driver.CodeOf(err), driver.Unauthenticated; got != want {
		t.Errorf("Login without the server-ID header: code %v, want %v (err %v)", got, want, err)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
