package hashivault

import (
	"strings"
	"testing"
	"time"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/internal/testing/faultproxy"
)

// TestMountValidated: a mount that is not a clean path, or that names one
// of Vault's system mounts, is refused by New before any request — with
// KVVersion set no detection would catch it, and "sys" or "secret/../sys"
// would read sys/ (policies, mounts, ...) as if it were KV. Against a real
// Vault server, where the token could read sys/policy/root.
func TestMountValidated(t *testing.T) {
	clearEnv(t)
	srv := shared(t)
	p := faultproxy.Start(t, srv.Addr, nil)
	bad := []string{"sys", "/sys/", "SYS", "sys/policy", "secret/../sys", "secret/./sys", "..", "secret//x",
		"auth", "auth/token", "identity", "cubbyhole", "secret/\x00x", "secret/\u202ex", "secret/\xffx", "a b/\tc"}
	for _, mount := range bad {
		for _, v := range []int{1, 2} {
			p.ResetCounts()
			b, err := New(ctxT(t, 5*time.Second), &Options{Address: p.URL, Token: srv.Token, ConfigFile: "-", Mount: mount, KVVersion: v})
			if err == nil {
				e, rerr := b.Read(ctxT(t, 5*time.Second), "policy/root", 0)
				b.Close()
				t.Errorf("New(Mount %q, KVVersion %d) = nil error; Read(policy/root) = %v, %v", mount, v, e, rerr)
				continue
			}
			if vaultly.CodeOf(err) != vaultly.Config || !strings.Contains(err.Error(), "mount") {
				t.Errorf("New(Mount %q, KVVersion %d) = %v, want a Config error about the mount", mount, v, err)
			}
			if n := len(p.Requests(nil)); n != 0 {
				t.Errorf("New(Mount %q) sent %d requests, want 0", mount, n)
			}
		}
	}
	// Clean mounts, nested ones included, still work.
	srv.PutKV(t, "mountok/app", map[string]any{"value": "v"})
	srv.EnableSecrets(t, "team/kv-mountok", "kv", map[string]string{"version": "2"})
	srv.Write(t, "team/kv-mountok/data/mountok/app", map[string]any{"data": map[string]any{"value": "v"}})
	for _, mount := range []string{"secret", "/secret/", "team/kv-mountok"} {
		b := newBackend(t, &Options{Address: p.URL, Token: srv.Token, Mount: mount, KVVersion: 2})
		if _, err := b.Read(ctxT(t, 5*time.Second), "mountok/app", 0); err != nil {
			t.Errorf("Mount %q: Read = %v", mount, err)
		}
	}
}
