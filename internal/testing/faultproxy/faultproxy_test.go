package faultproxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The proxy's own mechanics, against a plain upstream; the Vault tests use
// it in front of the real server.
func TestProxy(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "upstream "+r.URL.Path)
	}))
	defer up.Close()
	p := Start(t, up.URL, nil)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}

	get := func(path string, timeout time.Duration) (int, string, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", p.URL+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			return 0, "", "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header.Get("Retry-After"), nil
	}

	p.Inject(Fault{Match: Path("/v1/a"), Status: 429, RetryAfter: "7", Times: 1})
	p.Inject(Fault{Match: PathPrefix("/v1/slow"), Stall: -1})
	p.Inject(Fault{Match: Path("/v1/drop"), Drop: true})

	tests := []struct {
		path       string
		wantStatus int
		wantBody   string
		wantRetry  string
		wantErr    bool
	}{
		{path: "/v1/a", wantStatus: 429, wantRetry: "7"},
		{path: "/v1/a", wantStatus: 200, wantBody: "upstream /v1/a"}, // Times: 1 used up
		{path: "/v1/b", wantStatus: 200, wantBody: "upstream /v1/b"},
		{path: "/v1/slow/x", wantErr: true},
		{path: "/v1/drop", wantErr: true},
	}
	for _, tt := range tests {
		status, body, retry, err := get(tt.path, 300*time.Millisecond)
		if (err != nil) != tt.wantErr {
			t.Fatalf("GET %s error = %v, want error %v", tt.path, err, tt.wantErr)
		}
		if err != nil {
			continue
		}
		if status != tt.wantStatus || retry != tt.wantRetry || (tt.wantBody != "" && body != tt.wantBody) {
			t.Errorf("GET %s = %d %q retry-after %q, want %d %q %q", tt.path, status, body, retry, tt.wantStatus, tt.wantBody, tt.wantRetry)
		}
	}
	counts := map[string]int{}
	for _, path := range []string{"/v1/a", "/v1/b", "/v1/slow/x", "/v1/drop"} {
		counts[path] = p.Count(path)
	}
	want := map[string]int{"/v1/a": 2, "/v1/b": 1, "/v1/slow/x": 1, "/v1/drop": 2} // net/http resends a GET once on a dead reused conn
	if counts["/v1/drop"] == 1 {
		want["/v1/drop"] = 1
	}
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Errorf("counts mismatch (-want +got):\n%s", diff)
	}
	p.Clear()
	p.ResetCounts()
	if status, _, _, err := get("/v1/drop", time.Second); err != nil || status != 200 || p.Count("/v1/drop") != 1 {
		t.Errorf("after Clear: GET = %d, %v, count %d", status, err, p.Count("/v1/drop"))
	}
}

// TestHandlerAndHeader: a Handler answers instead of the upstream, Header
// is added to a forwarded answer, and the log keeps request headers
// without the token.
func TestHandlerAndHeader(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "upstream")
	}))
	defer up.Close()
	p := Start(t, up.URL, nil)
	p.Inject(Fault{Match: Path("/v1/hostile"), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "hostile")
	})})
	p.Inject(Fault{Match: Path("/v1/hdr"), Header: http.Header{"X-Vault-Index": {"abc"}}})
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	tests := []struct {
		path, wantBody, wantIndex string
		wantStatus                int
	}{
		{path: "/v1/hostile", wantBody: "hostile", wantStatus: http.StatusTeapot},
		{path: "/v1/hdr", wantBody: "upstream", wantIndex: "abc", wantStatus: 200},
		{path: "/v1/plain", wantBody: "upstream", wantStatus: 200},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest("GET", p.URL+tt.path, nil)
		req.Header.Set("X-Vault-Token", "hvs.secret-token-value")
		req.Header.Set("X-Other", "kept")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.wantStatus || string(b) != tt.wantBody || resp.Header.Get("X-Vault-Index") != tt.wantIndex {
			t.Errorf("GET %s = %d %q index %q, want %d %q %q", tt.path, resp.StatusCode, b, resp.Header.Get("X-Vault-Index"), tt.wantStatus, tt.wantBody, tt.wantIndex)
		}
	}
	for _, r := range p.Requests(nil) {
		if r.Header.Get("X-Vault-Token") != "" || r.Header.Get("X-Other") != "kept" {
			t.Errorf("logged headers of %s = %v, want X-Other kept and no token", r.Path, r.Header)
		}
		if r.Path == "/v1/hostile" && r.Status != http.StatusTeapot {
			t.Errorf("logged status of the handler's answer = %d, want %d", r.Status, http.StatusTeapot)
		}
	}
}

// TestDropAfter: the upstream gets the request, the client gets a reset.
func TestDropAfter(t *testing.T) {
	var got atomic.Int32 // the handler runs on the server's goroutine
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		io.WriteString(w, "done")
	}))
	defer up.Close()
	p := Start(t, up.URL, nil)
	p.Inject(Fault{Match: Path("/v1/w"), DropAfter: true, Times: 1})
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("PUT", p.URL+"/v1/w", strings.NewReader("x"))
	if resp, err := (&http.Client{Transport: tr}).Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("PUT through DropAfter answered %d, want a connection error", resp.StatusCode)
	}
	if n := got.Load(); n != 1 {
		t.Errorf("upstream saw %d requests, want 1", n)
	}
}
