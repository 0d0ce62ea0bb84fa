package cli

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/vaultly/vaultly/internal/testing/faultproxy"
)

// TestReadsGoThroughStore: get, inject and run read secret values through
// a vaultly.Store, so one entry costs one Vault read however many of its
// keys a template or an environment uses, and a sealed or overloaded
// answer is retried as in a Go program. A fault proxy in front of the real
// server counts the reads and injects the 503.
func TestReadsGoThroughStore(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	px := faultproxy.Start(t, srv.Addr, nil)
	e := newEnv(t, srv)
	e.vars["VAULT_ADDR"] = px.URL
	srv.PutKV(t, "cli/storeread/db", map[string]any{"username": "app", "password": "pw", "port": 5432})
	srv.PutKV(t, "cli/storeread/api", map[string]any{"value": "k"})
	const dbPath, apiPath = "/v1/secret/data/cli/storeread/db", "/v1/secret/data/cli/storeread/api"

	t.Run("inject reads each entry once", func(t *testing.T) {
		px.ResetCounts()
		tmpl := filepath.Join(e.home, "reads.tmpl")
		if err := os.WriteFile(tmpl, []byte(`{{ secret "cli/storeread/db:username" }} {{ secret "cli/storeread/db:password" }} {{ secret "cli/storeread/db:port" }} {{ secret "cli/storeread/api" }}`), 0o600); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(e.home, "reads.out")
		e.must("", "inject", "-i", tmpl, "-o", out)
		if b, _ := os.ReadFile(out); string(b) != "app pw 5432 k" {
			t.Errorf("rendered %q, want %q", b, "app pw 5432 k")
		}
		if got := px.Count(dbPath); got != 1 {
			t.Errorf("reads of %s = %d, want 1", dbPath, got)
		}
		if got := px.Count(apiPath); got != 1 {
			t.Errorf("reads of %s = %d, want 1", apiPath, got)
		}
	})

	t.Run("run reads each entry once", func(t *testing.T) {
		px.ResetCounts()
		r := e.runEnv([]string{"U=vault://cli/storeread/db:username", "P=vault://cli/storeread/db:password"}, "",
			"run", "-no-mask", "--", "sh", "-c", `echo "$U $P"`)
		if r.code != 0 || r.stdout != "app pw\n" {
			t.Errorf("run: exit %d, stdout %q, stderr %q; want 0, %q", r.code, r.stdout, r.stderr, "app pw\n")
		}
		if got := px.Count(dbPath); got != 1 {
			t.Errorf("reads of %s = %d, want 1", dbPath, got)
		}
	})

	t.Run("get retries a 503", func(t *testing.T) {
		px.ResetCounts()
		px.Inject(faultproxy.Fault{Match: faultproxy.Path(dbPath), Status: http.StatusServiceUnavailable, Times: 1})
		defer px.Clear()
		if got := e.must("", "get", "cli/storeread/db:password"); got != "pw\n" {
			t.Errorf("get = %q, want %q", got, "pw\n")
		}
		if got := px.Count(dbPath); got != 2 {
			t.Errorf("reads of %s = %d, want 2 (a 503, then the retry)", dbPath, got)
		}
	})
}
