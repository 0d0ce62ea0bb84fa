package hashivault_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/drivertest"
	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

var mountSeq atomic.Int64

type harness struct {
	srv     *vaulttest.Server
	t       *testing.T
	mount   string
	version int
	c       *api.Client
	pg      *vaulttest.Postgres // behind the database mounts of LeasePath (lease_conformance_test.go)
}

func (h *harness) MakeBackend(ctx context.Context) (driver.Backend, error) {
	return hashivault.New(ctx, &hashivault.Options{Address: h.srv.Addr, Token: h.srv.Token, Mount: h.mount, ConfigFile: "-"})
}

func (h *harness) Put(ctx context.Context, path string, fields map[string]any) (int, error) {
	if h.version == 1 {
		_, err := h.c.Logical().WriteWithContext(ctx, h.mount+"/"+path, fields)
		return 0, err
	}
	s, err := h.c.KVv2(h.mount).Put(ctx, path, fields)
	if err != nil {
		return 0, err
	}
	return s.VersionMetadata.Version, nil
}

func (h *harness) Capabilities() drivertest.Capabilities {
	return drivertest.Capabilities{Versions: h.version == 2}
}

func (h *harness) Close() {}

func TestConformance(t *testing.T) {
	t.Parallel()
	pg := vaulttest.StartPostgres(t)
	for _, v := range []int{2, 1} {
		t.Run(fmt.Sprintf("KVv%d", v), func(t *testing.T) {
			srv := hashivault.Shared(t)
			mount := fmt.Sprintf("conf-kv%d-%d", v, mountSeq.Add(1))
			srv.EnableSecrets(t, mount, "kv", map[string]string{"version": fmt.Sprint(v)})
			c := srv.Client(t)
			if v == 2 {
				// A new KV v2 mount needs a moment before it accepts writes.
				waitKV2(t, c, mount)
			}
			drivertest.RunConformanceTests(t, func(ctx context.Context, t *testing.T) (drivertest.Harness, error) {
				return &harness{srv: srv, t: t, mount: mount, version: v, c: c, pg: pg}, nil
			})
		})
	}
}

func waitKV2(t *testing.T, c *api.Client, mount string) {
	t.Helper()
	for range 100 {
		if _, err := c.Logical().ReadWithContext(t.Context(), mount+"/config"); err == nil {
			return
		}
		select {
		case <-t.Context().Done():
			return
		case <-after(50):
		}
	}
	t.Fatalf("kv v2 mount %s never became ready", mount)
}
