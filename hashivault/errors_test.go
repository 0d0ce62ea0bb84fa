package hashivault

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/internal/testing/faultproxy"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	srv.PutKV(t, "errmap/app", map[string]any{"value": "s3cr3t-value"})
	srv.WritePolicy(t, "nothing", `path "secret/data/other" { capabilities = ["read"] }`)
	denied := srv.CreateToken(t, &api.TokenCreateRequest{Policies: []string{"nothing"}, TTL: "1h"})

	proxy := faultproxy.Start(t, srv.Addr, nil)
	readPath := "/v1/secret/data/errmap/app"

	// A port with nothing listening.
	closedAddr := vaulttest.ClosedAddr(t)

	tests := []struct {
		name      string
		addr      string
		token     string
		timeout   time.Duration
		fault     *faultproxy.Fault
		path      string
		wantCode  driver.Code
		wantRetry time.Duration
		wantResp  int // status of the *api.ResponseError reachable with errors.As, 0 for none
		wantCount int // requests the proxy saw for the read path, -1 to skip
	}{
		{name: "404", path: "errmap/missing", wantCode: driver.NotFound, wantResp: 404, wantCount: -1},
		{name: "403 permission denied", token: denied, path: "errmap/app", wantCode: driver.PermissionDenied, wantResp: 403, wantCount: 1},
		{name: "500", fault: &faultproxy.Fault{Status: 500, Match: faultproxy.Path(readPath)}, path: "errmap/app", wantCode: driver.Unavailable, wantResp: 500, wantCount: 1},
		{name: "502", fault: &faultproxy.Fault{Status: 502, Match: faultproxy.Path(readPath)}, path: "errmap/app", wantCode: driver.Unavailable, wantResp: 502, wantCount: 1},
		{name: "503", fault: &faultproxy.Fault{Status: 503, Match: faultproxy.Path(readPath)}, path: "errmap/app", wantCode: driver.Unavailable, wantResp: 503, wantCount: 1},
		{name: "412", fault: &faultproxy.Fault{Status: 412, Match: faultproxy.Path(readPath)}, path: "errmap/app", wantCode: driver.Unavailable, wantResp: 412, wantCount: 1},
		{name: "429 with Retry-After", fault: &faultproxy.Fault{Status: 429, RetryAfter: "3", Match: faultproxy.Path(readPath)}, path: "errmap/app", wantCode: driver.ResourceExhausted, wantRetry: 3 * time.Second, wantResp: 429, wantCount: 1},
		// net/http itself resends an idempotent request once when a reused
		// keep-alive connection dies before any answer, so the count may be 2.
		{name: "connection reset", fault: &faultproxy.Fault{Drop: true, Match: faultproxy.Path(readPath)}, path: "errmap/app", wantCode: driver.Unavailable, wantCount: -1},
		{name: "timeout", timeout: time.Second, fault: &faultproxy.Fault{Stall: 10 * time.Second, Match: faultproxy.Path(readPath)}, path: "errmap/app", wantCode: driver.Unavailable, wantCount: 1},
		{name: "connection refused", addr: closedAddr, path: "errmap/app", wantCode: driver.Unavailable, wantCount: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &Options{Address: proxy.URL, Token: srv.Token, KVVersion: 2, ConfigFile: "-", Timeout: tt.timeout}
			if tt.token != "" {
				o.Token = tt.token
			}
			if tt.addr != "" {
				o.Address = tt.addr
				o.Token = ""
				// No server to look a token up at: log in through a
				// factory that hands out a fixed token.
				o.Auth = fixedToken(srv.Token)
			}
			b := newBackend(t, o)
			proxy.Clear()
			proxy.ResetCounts()
			if tt.fault != nil {
				proxy.Inject(*tt.fault)
			}
			_, err := b.Read(ctxT(t, 10*time.Second), tt.path, 0)
			proxy.Clear()
			if got := driver.CodeOf(err); got != tt.wantCode {
				t.Fatalf("Read(%q) error = %v, code %v; want code %v", tt.path, err, got, tt.wantCode)
			}
			var de *driver.Error
			if !errors.As(err, &de) {
				t.Fatalf("Read error %T is not a *driver.Error", err)
			}
			if de.RetryAfter != tt.wantRetry {
				t.Errorf("RetryAfter = %v, want %v", de.RetryAfter, tt.wantRetry)
			}
			var re *api.ResponseError
			if got := errors.As(err, &re); got != (tt.wantResp != 0) || (got && re.StatusCode != tt.wantResp) {
				t.Errorf("errors.As(*api.ResponseError) = %v (%v), want status %d", got, re, tt.wantResp)
			}
			msg := err.Error()
			for _, secret := range []string{srv.Token, denied, "s3cr3t-value"} {
				if strings.Contains(msg, secret) {
					t.Errorf("error text contains a secret: %q", msg)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error text spans lines: %q", msg)
			}
			// One request per read: vault/api's own retries are off.
			if tt.wantCount >= 0 {
				if got := proxy.Count(readPath); got != tt.wantCount {
					t.Errorf("proxy saw %d reads, want %d", got, tt.wantCount)
				}
			}
		})
	}
}

// fixedToken is a token factory returning tok without asking Vault.
func fixedToken(tok string) auth.MethodFunc {
	return func(ctx context.Context, c *api.Client) (*api.Secret, error) {
		return &api.Secret{Auth: &api.SecretAuth{ClientToken: tok}}, nil
	}
}

func TestMapErrorPlain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want driver.Code
	}{
		{"nil", nil, driver.OK},
		{"canceled", context.Canceled, driver.Canceled},
		{"deadline", context.DeadlineExceeded, driver.DeadlineExceeded},
		{"driver error kept", &driver.Error{Code: driver.Conflict}, driver.Conflict},
		{"401", &api.ResponseError{StatusCode: 401, HTTPMethod: "GET", URL: "http://x/v1/a"}, driver.Unauthenticated},
		{"403 invalid token", &api.ResponseError{StatusCode: 403, Errors: []string{"2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"}}, driver.Unauthenticated},
		{"403", &api.ResponseError{StatusCode: 403, Errors: []string{"1 error occurred:\n\t* permission denied\n\n"}}, driver.PermissionDenied},
		{"400", &api.ResponseError{StatusCode: 400}, driver.InvalidArgument},
		{"504", &api.ResponseError{StatusCode: 504}, driver.Unavailable},
		{"503 sealed", &api.ResponseError{StatusCode: 503, Errors: []string{"Vault is sealed"}}, driver.Unavailable},
		{"other", errors.New("boom"), driver.Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := driver.CodeOf(MapError(tt.err)); got != tt.want {
				t.Errorf("CodeOf(MapError(%v)) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
	tok := "hvs.CAESIFd6gWlsIeM8R4jj4VqkL3QJ9NSuCqYvdV8hEIOQeWsiGh4KHGh2cy4wR1k1WnNnYng1UkdRTTdmQUFtbWF0Y3Y"
	err := MapError(&api.ResponseError{StatusCode: 400, HTTPMethod: "POST", URL: "http://x/v1/auth/token/lookup?x=1", Errors: []string{"bad token " + tok}})
	if msg := err.Error(); strings.Contains(msg, tok) || strings.Contains(msg, "x=1") {
		t.Errorf("MapError text = %q, want token and query removed", msg)
	}
	if got := MapError(&api.ResponseError{StatusCode: 503, HTTPMethod: "GET", URL: "http://x/v1/sys/internal/ui/mounts/secret", Errors: []string{"Vault is sealed"}}).Error(); got != "unavailable: vault is sealed" {
		t.Errorf("MapError(503 sealed) = %q, want %q", got, "unavailable: vault is sealed")
	}
	if got := parseRetryAfter(time.Now().Add(90*time.Second).UTC().Format(http.TimeFormat), time.Now()); got < 80*time.Second || got > 91*time.Second {
		t.Errorf("parseRetryAfter(http date in 90s) = %v", got)
	}
}

// TestRateLimitQuota: a real Vault rate-limit quota answers 429 with
// Retry-After; the backend reports ResourceExhausted with that delay.
func TestRateLimitQuota(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	// Rate-limit quotas apply per mount (sub-path quotas need Enterprise).
	mount := unique("quotakv")
	srv.EnableSecrets(t, mount, "kv", map[string]string{"version": "1"})
	srv.Write(t, mount+"/app", map[string]any{"value": "v"})
	srv.Write(t, "sys/quotas/config", map[string]any{"enable_rate_limit_response_headers": true})
	srv.Write(t, "sys/quotas/rate-limit/"+mount, map[string]any{"path": mount + "/", "rate": 1, "interval": "30s", "block_interval": "30s"})
	b := rootBackend(t, srv, &Options{Mount: mount, KVVersion: 1})
	var err error
	for range 3 {
		if _, err = b.Read(ctxT(t, 5*time.Second), "app", 0); err != nil {
			break
		}
	}
	if got := driver.CodeOf(err); got != driver.ResourceExhausted {
		t.Fatalf("Read over quota = %v, want code resource exhausted", err)
	}
	var de *driver.Error
	if !errors.As(err, &de) || de.RetryAfter <= 0 || de.RetryAfter > 31*time.Second {
		t.Errorf("RetryAfter = %v, want the quota's delay (0 < d <= 30s)", de.RetryAfter)
	}
}
