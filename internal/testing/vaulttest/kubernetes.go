package vaulttest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// ServiceAccount identifies a Kubernetes service account.
type ServiceAccount struct {
	Namespace, Name, UID string
}

// TokenReviewer is a loopback stand-in for the one Kubernetes API call that
// Vault's (real) kubernetes auth method makes: TokenReview. Point the auth
// method's kubernetes_host at URL. Tokens it issues are valid until revoked.
type TokenReviewer struct {
	URL string

	key     *rsa.PrivateKey
	srv     *httptest.Server
	mu      sync.Mutex
	tokens  map[string]ServiceAccount
	reviews int
}

// StartTokenReviewer starts a TokenReview endpoint on 127.0.0.1, stopped when t ends.
func StartTokenReviewer(t testing.TB) *TokenReviewer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	r := &TokenReviewer{key: key, tokens: map[string]ServiceAccount{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /apis/authentication.k8s.io/v1/tokenreviews", r.review)
	r.srv = httptest.NewServer(mux)
	r.URL = r.srv.URL
	t.Cleanup(r.srv.Close)
	return r
}

// Issue returns a new signed service-account JWT for sa, valid until Revoke.
func (r *TokenReviewer) Issue(t testing.TB, sa ServiceAccount) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: r.key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{
		"iss":                                    "kubernetes/serviceaccount",
		"sub":                                    "system:serviceaccount:" + sa.Namespace + ":" + sa.Name,
		"kubernetes.io/serviceaccount/namespace": sa.Namespace,
		"kubernetes.io/serviceaccount/service-account.name": sa.Name,
		"kubernetes.io/serviceaccount/service-account.uid":  sa.UID,
		"kubernetes.io/serviceaccount/secret.name":          sa.Name + "-token",
		"iat": time.Now().Unix(),
		"jti": randHex(8),
	}
	tok, err := josejwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.tokens[tok] = sa
	r.mu.Unlock()
	return tok
}

// Revoke makes tok fail review from now on.
func (r *TokenReviewer) Revoke(tok string) {
	r.mu.Lock()
	delete(r.tokens, tok)
	r.mu.Unlock()
}

// Reviews returns how many TokenReview requests were answered.
func (r *TokenReviewer) Reviews() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reviews
}

func (r *TokenReviewer) review(w http.ResponseWriter, req *http.Request) {
	var in struct {
		Spec struct {
			Token string `json:"token"`
		} `json:"spec"`
	}
	if err := json.NewDecoder(req.Body).Decode(&in); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	sa, ok := r.tokens[in.Spec.Token]
	r.reviews++
	r.mu.Unlock()
	status := map[string]any{"authenticated": false, "error": "token is not valid"}
	if ok {
		status = map[string]any{
			"authenticated": true,
			"user": map[string]any{
				"username": "system:serviceaccount:" + sa.Namespace + ":" + sa.Name,
				"uid":      sa.UID,
				"groups":   []string{"system:serviceaccounts"},
			},
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"apiVersion": "authentication.k8s.io/v1",
		"kind":       "TokenReview",
		"status":     status,
	})
}
