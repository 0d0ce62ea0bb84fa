package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/hashicorp/vault/api"
	"github.com/jimlambrt/gldap"
	"github.com/jimlambrt/gldap/testdirectory"
	"go.uber.org/goleak"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/approle"
	"github.com/vaultly/vaultly/auth/jwt"
	"github.com/vaultly/vaultly/auth/kubernetes"
	"github.com/vaultly/vaultly/auth/ldap"
	"github.com/vaultly/vaultly/auth/token"
	"github.com/vaultly/vaultly/auth/userpass"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// userpassPassword is the environment variable the userpass setups read
// alice's password from (auth.FromEnv); TestMain sets it, since the tests
// that use it run in parallel and so cannot t.Setenv.
const userpassPassword = "TEST_USERPASS_PASSWORD"

func TestMain(m *testing.M) {
	// The tests wait on their Vault servers and token lifetimes, not on
	// the CPU: outside the soak tier run up to 8 at once (measured here,
	// the package alone: 7.1 s at 2, 7.0 s at 4, 5.7 s at 8, 6.1 s at 16).
	if !vaulttest.Soak() {
		vaulttest.ParallelWaiting(8)
	}
	// The backends under test must not pick up a developer's VAULT_* settings.
	vaulttest.UnsetVaultEnv()
	os.Setenv(userpassPassword, "correct-horse")
	goleak.VerifyTestMain(m, vaulttest.IgnoreIdleConns()...)
}

// env is one real Vault server with the state the setups share.
type env struct {
	srv *vaulttest.Server
	dir string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return &env{srv: vaulttest.Start(t, &vaulttest.Options{TLS: true}), dir: t.TempDir()}
}

// grant creates policy name allowing reads under secret/<name>/ and stores
// secret/<name>/ok and secret/denied/<name>.
func (e *env) grant(t *testing.T, name string) {
	t.Helper()
	e.srv.WritePolicy(t, name, fmt.Sprintf(`path "secret/data/%s/*" { capabilities = ["read"] }`, name))
	e.srv.PutKV(t, name+"/ok", map[string]any{"value": "v-" + name})
	e.srv.PutKV(t, "denied/"+name, map[string]any{"value": "no"})
}

// loginClient is a client with no token, as the backend hands to a Method.
func (e *env) loginClient(t *testing.T) *api.Client {
	t.Helper()
	c := e.srv.Client(t)
	c.ClearToken()
	return c
}

func (e *env) file(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkAccess reads the allowed and the denied secret with tok.
func (e *env) checkAccess(t *testing.T, name, tok string) {
	t.Helper()
	c := e.srv.Client(t)
	c.SetToken(tok)
	ctx := context.Background()
	kv, err := c.KVv2("secret").Get(ctx, name+"/ok")
	if err != nil {
		t.Fatalf("read secret/%s/ok: %v", name, err)
	}
	if got, want := kv.Data["value"], "v-"+name; got != want {
		t.Errorf("secret/%s/ok value = %v, want %v", name, got, want)
	}
	_, err = c.KVv2("secret").Get(ctx, "denied/"+name)
	var re *api.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 403 {
		t.Errorf("read secret/denied/%s: err = %v, want a 403 response error", name, err)
	}
}

// method is one row of the every-method table.
type method struct {
	name    string // also the policy name
	describ string // want Describe()
	good    auth.Method
	bad     auth.Method // bad credentials
	badCred string      // the wrong credential used by bad; must not leak
}

func (e *env) tokenMethod(t *testing.T) method {
	tok := e.srv.CreateToken(t, &api.TokenCreateRequest{Policies: []string{"token"}})
	good, err := token.New(&token.Options{Token: auth.FromFile(e.file(t, "token", tok))})
	if err != nil {
		t.Fatal(err)
	}
	const wrong = "hvs.wrongwrongwrongwrongwrong"
	bad, err := token.New(&token.Options{Token: auth.FromString(wrong)})
	if err != nil {
		t.Fatal(err)
	}
	return method{name: "token", describ: "token at auth/token", good: good, bad: bad, badCred: wrong}
}

// appRole enables AppRole at mount with role "app" and returns its role_id
// and a fresh secret_id.
func (e *env) appRole(t *testing.T, mount string) (roleID, secretID string) {
	t.Helper()
	e.srv.EnableAuth(t, mount, "approle")
	e.srv.Write(t, "auth/"+mount+"/role/app", map[string]any{"token_policies": "approle", "token_ttl": "5m"})
	sec, err := e.srv.Client(t).Logical().Read("auth/" + mount + "/role/app/role-id")
	if err != nil {
		t.Fatal(err)
	}
	return sec.Data["role_id"].(string), e.newSecretID(t, mount)
}

func (e *env) newSecretID(t *testing.T, mount string) string {
	t.Helper()
	return e.srv.Write(t, "auth/"+mount+"/role/app/secret-id", nil).Data["secret_id"].(string)
}

func (e *env) appRoleMethod(t *testing.T) method {
	roleID, secretID := e.appRole(t, "apps")
	good, err := approle.New(&approle.Options{Mount: "apps", RoleID: auth.FromString(roleID), SecretID: auth.FromFile(e.file(t, "secret-id", secretID))})
	if err != nil {
		t.Fatal(err)
	}
	const wrong = "00000000-1111-2222-3333-444444444444"
	bad, err := approle.New(&approle.Options{Mount: "apps", RoleID: auth.FromString(roleID), SecretID: auth.FromString(wrong)})
	if err != nil {
		t.Fatal(err)
	}
	return method{name: "approle", describ: "approle at auth/apps", good: good, bad: bad, badCred: wrong}
}

func (e *env) userpassMethod(t *testing.T) method {
	e.srv.EnableAuth(t, "userpass", "userpass")
	e.srv.Write(t, "auth/userpass/users/alice", map[string]any{"password": "correct-horse", "token_policies": "userpass"})
	good, err := userpass.New(&userpass.Options{Username: "alice", Password: auth.FromEnv(userpassPassword)})
	if err != nil {
		t.Fatal(err)
	}
	const wrong = "battery-staple-wrong"
	bad, err := userpass.New(&userpass.Options{Username: "alice", Password: auth.FromString(wrong)})
	if err != nil {
		t.Fatal(err)
	}
	return method{name: "userpass", describ: "userpass at auth/userpass", good: good, bad: bad, badCred: wrong}
}

func (e *env) ldapMethod(t *testing.T) method {
	d := testdirectory.Start(t, testdirectory.WithNoTLS(t), testdirectory.WithHost(t, "127.0.0.1"))
	d.SetUsers(gldap.NewEntry("cn=alice,ou=people,dc=example,dc=org", map[string][]string{
		"cn": {"alice"}, "name": {"alice"}, "password": {"ldap-secret-pw"},
	}))
	e.srv.EnableAuth(t, "corp-ldap", "ldap")
	e.srv.Write(t, "auth/corp-ldap/config", map[string]any{
		"url":      fmt.Sprintf("ldap://127.0.0.1:%d", d.Port()),
		"userdn":   "ou=people,dc=example,dc=org",
		"userattr": "cn",
		"groupdn":  "ou=groups,dc=example,dc=org",
	})
	e.srv.Write(t, "auth/corp-ldap/users/alice", map[string]any{"policies": "ldap"})
	good, err := ldap.New(&ldap.Options{Mount: "corp-ldap", Username: "alice", Password: auth.FromFile(e.file(t, "ldap-pw", "ldap-secret-pw"))})
	if err != nil {
		t.Fatal(err)
	}
	const wrong = "ldap-wrong-pw"
	bad, err := ldap.New(&ldap.Options{Mount: "corp-ldap", Username: "alice", Password: auth.FromString(wrong)})
	if err != nil {
		t.Fatal(err)
	}
	return method{name: "ldap", describ: "ldap at auth/corp-ldap", good: good, bad: bad, badCred: wrong}
}

// jwtIssuer signs JWTs with a key whose public half Vault is configured with.
type jwtIssuer struct {
	key *ecdsa.PrivateKey
	pem string
}

func newJWTIssuer(t *testing.T) *jwtIssuer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return &jwtIssuer{key: k, pem: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}
}

func (j *jwtIssuer) sign(t *testing.T, sub string) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: j.key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := josejwt.Signed(s).Claims(josejwt.Claims{
		Subject:   sub,
		Audience:  josejwt.Audience{"vaultly-test"},
		IssuedAt:  josejwt.NewNumericDate(now),
		NotBefore: josejwt.NewNumericDate(now.Add(-time.Minute)),
		Expiry:    josejwt.NewNumericDate(now.Add(5 * time.Minute)),
		ID:        fmt.Sprint(now.UnixNano()),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (e *env) jwtSetup(t *testing.T) *jwtIssuer {
	t.Helper()
	j := newJWTIssuer(t)
	e.srv.EnableAuth(t, "jwt", "jwt")
	e.srv.Write(t, "auth/jwt/config", map[string]any{"jwt_validation_pubkeys": []string{j.pem}})
	e.srv.Write(t, "auth/jwt/role/ci", map[string]any{
		"role_type": "jwt", "user_claim": "sub", "bound_audiences": "vaultly-test",
		"bound_subject": "ci-job", "token_policies": "jwt",
	})
	return j
}

func (e *env) jwtMethod(t *testing.T) method {
	j := e.jwtSetup(t)
	good, err := jwt.New(&jwt.Options{Role: "ci", JWT: auth.FromFile(e.file(t, "jwt", j.sign(t, "ci-job")))})
	if err != nil {
		t.Fatal(err)
	}
	wrong := newJWTIssuer(t).sign(t, "ci-job") // signed by a key Vault does not trust
	bad, err := jwt.New(&jwt.Options{Role: "ci", Func: func(context.Context) (string, error) { return wrong, nil }})
	if err != nil {
		t.Fatal(err)
	}
	return method{name: "jwt", describ: "jwt at auth/jwt", good: good, bad: bad, badCred: wrong}
}

var appSA = vaulttest.ServiceAccount{Namespace: "default", Name: "app", UID: "6f1c2a8e-0000-4000-8000-000000000001"}

func (e *env) kubeSetup(t *testing.T) *vaulttest.TokenReviewer {
	t.Helper()
	r := vaulttest.StartTokenReviewer(t)
	e.srv.EnableAuth(t, "k8s", "kubernetes")
	e.srv.Write(t, "auth/k8s/config", map[string]any{
		"kubernetes_host":      r.URL,
		"token_reviewer_jwt":   "reviewer-jwt",
		"disable_local_ca_jwt": true,
	})
	e.srv.Write(t, "auth/k8s/role/app", map[string]any{
		"bound_service_account_names":      "app",
		"bound_service_account_namespaces": "default",
		"token_policies":                   "kubernetes",
	})
	return r
}

func (e *env) kubeMethod(t *testing.T) method {
	r := e.kubeSetup(t)
	good, err := kubernetes.New(&kubernetes.Options{Mount: "k8s", Role: "app", JWTFile: e.file(t, "sa-token", r.Issue(t, appSA))})
	if err != nil {
		t.Fatal(err)
	}
	wrong := r.Issue(t, appSA)
	r.Revoke(wrong)
	bad, err := kubernetes.New(&kubernetes.Options{Mount: "k8s", Role: "app", JWTFile: e.file(t, "sa-token-revoked", wrong)})
	if err != nil {
		t.Fatal(err)
	}
	return method{name: "kubernetes", describ: "kubernetes at auth/k8s", good: good, bad: bad, badCred: wrong}
}

// errPrefix returns how the error of a failed login through the method
// that describes itself as describ ("approle at auth/apps") begins:
// "vaultly: login auth/apps (vault): unauthenticated: approle: ".
func errPrefix(describ string) string {
	method, ref, _ := strings.Cut(describ, " at ")
	return "vaultly: login " + ref + " (vault): unauthenticated: " + method + ": "
}

// TestLoginEveryMethod logs in with every method against one real Vault
// server, reads a secret its policy allows, is refused one it does not, and
// checks that bad credentials are Unauthenticated errors that name the
// method and mount and never the credential.
func TestLoginEveryMethod(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	setups := []func(*testing.T) method{
		e.tokenMethod, e.appRoleMethod, e.userpassMethod, e.ldapMethod, e.jwtMethod, e.kubeMethod,
	}
	setups = append(setups, extraMethods(e)...)
	ctx := context.Background()
	for _, setup := range setups {
		m := setup(t)
		t.Run(m.name, func(t *testing.T) {
			e.grant(t, m.name)
			if got := m.good.(auth.Describer).Describe(); got != m.describ {
				t.Errorf("Describe() = %q, want %q", got, m.describ)
			}
			sec, err := m.good.Login(ctx, e.loginClient(t))
			if err != nil {
				t.Fatalf("Login: %v", err)
			}
			if sec.Auth == nil || sec.Auth.ClientToken == "" {
				t.Fatalf("Login returned no token: %+v", sec)
			}
			if sec.Auth.LeaseDuration <= 0 && m.name != "token" {
				t.Errorf("Login lease duration = %d, want > 0", sec.Auth.LeaseDuration)
			}
			e.checkAccess(t, m.name, sec.Auth.ClientToken)

			_, err = m.bad.Login(ctx, e.loginClient(t))
			if got, want := driver.CodeOf(err), driver.Unauthenticated; got != want {
				t.Fatalf("Login with bad credentials: code %v, want %v (err %v)", got, want, err)
			}
			msg := err.Error()
			t.Logf("bad credentials: %s", msg)
			if want := errPrefix(m.describ); !strings.HasPrefix(msg, want) {
				t.Errorf("bad-credentials error %q does not start with %q", msg, want)
			}
			if !errors.Is(err, vaultly.ErrUnauthenticated) {
				t.Errorf("errors.Is(err, vaultly.ErrUnauthenticated) = false for %v", err)
			}
			if _, ok := errors.AsType[*api.ResponseError](err); !ok {
				t.Errorf("errors.As(err, **api.ResponseError) = false for %v", err)
			}
			js, _ := json.Marshal(err)
			if strings.Contains(msg, m.badCred) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), m.badCred) || strings.Contains(string(js), m.badCred) {
				t.Errorf("bad-credentials error contains the credential: %q", msg)
			}
		})
	}
}
