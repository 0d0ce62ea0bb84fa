package transit_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	vaultly "github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/retry"
	"github.com/vaultly/vaultly/transit"
)

// faultProxy sits in front of the real server: it answers the next n
// requests to a path with a given status instead of forwarding them, and
// counts every request per path.
type faultProxy struct {
	*httptest.Server
	mu     sync.Mutex
	fail   map[string]int // path -> requests still to fail
	status int
	seen   map[string]int
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	fp := &faultProxy{fail: map[string]int{}, seen: map[string]int{}}
	fp.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fp.mu.Lock()
		fp.seen[r.URL.Path]++
		fail := fp.fail[r.URL.Path] > 0
		if fail {
			fp.fail[r.URL.Path]--
		}
		status := fp.status
		fp.mu.Unlock()
		if fail {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"errors":["injected failure"]}`))
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(fp.Close)
	return fp
}

func (fp *faultProxy) failNext(path string, n, status int) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	fp.fail[path], fp.status = n, status
}

func (fp *faultProxy) count(path string) int {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	return fp.seen[path]
}

func TestRetry(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.key(t, "r", "aes256-gcm96", nil)
	fp := newFaultProxy(t, e.srv.Addr)
	b, err := hashivault.New(context.Background(), &hashivault.Options{Address: fp.URL, Token: e.srv.Token, ConfigFile: "-"})
	if err != nil {
		t.Fatalf("hashivault.New: %v", err)
	}
	defer b.Close()
	fast := &retry.Policy{MaxAttempts: 3, Initial: time.Millisecond, Max: 2 * time.Millisecond}
	ctx := context.Background()

	tests := []struct {
		name      string
		policy    *retry.Policy
		path      string
		failures  int
		status    int
		call      func(tr *transit.Transit) error
		wantCode  vaultly.Code
		wantCalls int
	}{
		{"503 once then success", fast, "/v1/" + e.mount + "/encrypt/r", 1, http.StatusServiceUnavailable,
			func(tr *transit.Transit) error { _, err := tr.Encrypt(ctx, "r", []byte("x"), nil, nil); return err }, vaultly.OK, 2},
		{"429 twice then success", fast, "/v1/" + e.mount + "/hmac/r", 2, http.StatusTooManyRequests,
			func(tr *transit.Transit) error { _, err := tr.HMAC(ctx, "r", []byte("x"), nil); return err }, vaultly.OK, 3},
		{"batch 502 once", fast, "/v1/" + e.mount + "/encrypt/r", 1, http.StatusBadGateway,
			func(tr *transit.Transit) error {
				_, err := tr.EncryptBatch(ctx, "r", []transit.EncryptItem{{Plaintext: []byte("x")}}, nil)
				return err
			}, vaultly.OK, 2},
		{"attempts run out", fast, "/v1/" + e.mount + "/encrypt/r", 5, http.StatusServiceUnavailable,
			func(tr *transit.Transit) error { _, err := tr.Encrypt(ctx, "r", []byte("x"), nil, nil); return err }, vaultly.Unavailable, 3},
		{"retries disabled", &retry.Policy{MaxAttempts: 1}, "/v1/" + e.mount + "/encrypt/r", 1, http.StatusServiceUnavailable,
			func(tr *transit.Transit) error { _, err := tr.Encrypt(ctx, "r", []byte("x"), nil, nil); return err }, vaultly.Unavailable, 1},
		{"400 not retried", fast, "/v1/" + e.mount + "/encrypt/r", 1, http.StatusBadRequest,
			func(tr *transit.Transit) error { _, err := tr.Encrypt(ctx, "r", []byte("x"), nil, nil); return err }, vaultly.InvalidArgument, 1},
		{"rotate never retried", fast, "/v1/" + e.mount + "/keys/r/rotate", 1, http.StatusServiceUnavailable,
			func(tr *transit.Transit) error { _, err := tr.RotateKey(ctx, "r"); return err }, vaultly.Unavailable, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := transit.New(b, &transit.Options{Mount: e.mount, Retry: tt.policy})
			if err != nil {
				t.Fatal(err)
			}
			before := fp.count(tt.path)
			fp.failNext(tt.path, tt.failures, tt.status)
			defer fp.failNext(tt.path, 0, 0)
			err = tt.call(tr)
			if got := vaultly.CodeOf(err); got != tt.wantCode {
				t.Errorf("code = %v, want %v (err: %v)", got, tt.wantCode, err)
			}
			if got := fp.count(tt.path) - before; got != tt.wantCalls {
				t.Errorf("requests to %s = %d, want %d", tt.path, got, tt.wantCalls)
			}
		})
	}
}
