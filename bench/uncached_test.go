package bench_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	vcg "github.com/hashicorp/vault-client-go"
	bao "github.com/openbao/openbao/api/v2"

	vaultly "github.com/vaultly/vaultly"
)

// rawRead is the floor: one GET with net/http and encoding/json, as a
// program with no Vault library would write it (keep-alive connections,
// the token header, decoding data.data).
type rawRead struct {
	c     *http.Client
	url   string
	token string
}

func newRawRead(addr, token, path string) *rawRead {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	return &rawRead{c: &http.Client{Transport: tr, Timeout: 30 * time.Second}, url: addr + "/v1/secret/data/" + path, token: token}
}

func (r *rawRead) get(ctx context.Context) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Vault-Token", r.token)
	resp, err := r.c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Data map[string]any `json:"data"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	return body.Data.Data, nil
}

// BenchmarkUncachedRead is goal 1: one field of one KV v2 secret read
// without a cache through each client, every client once per iteration in
// a new random order (paired, so that all see the same machine load, and
// no client always follows the same one), against
// one real Vault dev server on loopback. It reports each client's p50 and
// its ratio to the raw net/http + encoding/json read:
//
//	raw             net/http + encoding/json (the floor)
//	vaultly         Store{TTL: NoCache} over hashivault: every Get is a Vault read
//	hashivault      hashivault.Backend.Read alone (the Store's backend)
//	vaultapi        github.com/hashicorp/vault/api KVv2.Get
//	vaultclientgo   github.com/hashicorp/vault-client-go Secrets.KvV2Read
//	openbao         github.com/openbao/openbao/api/v2 KVv2.Get
//
// It also reports the allocations of a Store read minus those of the
// backend's own Read (store-extra-allocs), measured with AllocsPerRun.
// Run with -benchtime=Nx (iterations, each making one read per client).
func BenchmarkUncachedRead(b *testing.B) {
	hs := getHarness(b)
	ctx := context.Background()
	want := appFields["password"].(string)
	ref := appPath + ":password"

	raw := newRawRead(hs.srv.Addr, hs.srv.Token, appPath)
	s := hs.store(b, hs.srv.Addr, &vaultly.Options{TTL: vaultly.NoCache})
	hb := hs.backend(b, hs.srv.Addr)
	b.Cleanup(func() { hb.Close() })
	kv := hs.raw.KVv2("secret")

	vc, err := vcg.New(vcg.WithAddress(hs.srv.Addr), vcg.WithRequestTimeout(30*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	if err := vc.SetToken(hs.srv.Token); err != nil {
		b.Fatal(err)
	}
	bcfg := bao.DefaultConfig()
	bcfg.Address = hs.srv.Addr
	bc, err := bao.NewClient(bcfg)
	if err != nil {
		b.Fatal(err)
	}
	bc.SetToken(hs.srv.Token)
	bkv := bc.KVv2("secret")

	check := func(name string, got any, err error) {
		if err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		if got != want {
			b.Fatalf("%s: got %v", name, got)
		}
	}
	names := []string{"raw", "vaultly", "hashivault", "vaultapi", "vaultclientgo", "openbao"}
	fns := []func(){
		func() { d, err := raw.get(ctx); check("raw", d["password"], err) },
		func() { v, err := s.Get(ctx, ref); check("vaultly", v, err) },
		func() {
			e, err := hb.Read(ctx, appPath, 0)
			if err != nil {
				b.Fatalf("hashivault: %v", err)
			}
			check("hashivault", e.Fields["password"], nil)
		},
		func() {
			sec, err := kv.Get(ctx, appPath)
			if err != nil {
				b.Fatalf("vaultapi: %v", err)
			}
			check("vaultapi", sec.Data["password"], nil)
		},
		func() {
			r, err := vc.Secrets.KvV2Read(ctx, appPath, vcg.WithMountPath("secret"))
			if err != nil {
				b.Fatalf("vaultclientgo: %v", err)
			}
			check("vaultclientgo", r.Data.Data["password"], nil)
		},
		func() {
			sec, err := bkv.Get(ctx, appPath)
			if err != nil {
				b.Fatalf("openbao: %v", err)
			}
			check("openbao", sec.Data["password"], nil)
		},
	}
	for _, fn := range fns { // warm every client's connection
		fn()
	}
	storeAllocs := testing.AllocsPerRun(200, fns[1])
	backendAllocs := testing.AllocsPerRun(200, fns[2])
	b.ResetTimer()
	d := shuffled(b, fns...)
	b.StopTimer()
	for i, n := range names {
		b.ReportMetric(float64(d[i].Nanoseconds()), n+"-p50-ns")
		if i > 0 {
			b.ReportMetric(float64(d[i])/float64(d[0]), n+"/raw")
		}
	}
	b.ReportMetric(storeAllocs-backendAllocs, "store-extra-allocs")
}

// BenchmarkUncachedAlone is BenchmarkUncachedRead's vaultly and hashivault
// reads run alone, one sub-benchmark after the other (no interleaving with
// other clients): the Store's cost on top of its backend when nothing else
// runs between its reads.
func BenchmarkUncachedAlone(b *testing.B) {
	hs := getHarness(b)
	ctx := context.Background()
	want := appFields["password"].(string)
	b.Run("via=hashivault", func(b *testing.B) {
		hb := hs.backend(b, hs.srv.Addr)
		defer hb.Close()
		b.ReportAllocs()
		for b.Loop() {
			if e, err := hb.Read(ctx, appPath, 0); err != nil || e.Fields["password"] != want {
				b.Fatalf("Read: %v", err)
			}
		}
	})
	b.Run("via=vaultly", func(b *testing.B) {
		s := hs.store(b, hs.srv.Addr, &vaultly.Options{TTL: vaultly.NoCache})
		b.ReportAllocs()
		for b.Loop() {
			if v, err := s.Get(ctx, appPath+":password"); err != nil || v != want {
				b.Fatalf("Get: %v", err)
			}
		}
	})
}
