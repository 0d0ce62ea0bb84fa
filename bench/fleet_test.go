package bench_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	vaultly "github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/hashivault"
)

// renewRecorder is a reverse proxy in front of the real server that
// records, per token, when its first renew-self reached the server.
type renewRecorder struct {
	*httptest.Server
	mu    sync.Mutex
	first map[string]time.Time
	total int
}

func newRenewRecorder(b *testing.B, target string) *renewRecorder {
	u, err := url.Parse(target)
	if err != nil {
		b.Fatal(err)
	}
	r := &renewRecorder{first: map[string]time.Time{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/v1/auth/token/renew-self" {
			tok := req.Header.Get("X-Vault-Token")
			r.mu.Lock()
			if _, ok := r.first[tok]; !ok {
				r.first[tok] = time.Now()
			}
			r.total++
			r.mu.Unlock()
		}
		rp.ServeHTTP(w, req)
	}))
	b.Cleanup(r.Close)
	return r
}

// BenchmarkFleet is goal 4: fleetSize Backends, each with its own
// renewable token of fleetTTL, started at the same moment against the real
// server (through a recording proxy), each reading a secret through an
// uncached Store every 100ms. It reports the spread of the first
// renewals (last − first) as a fraction of the TTL (target >= 0.3), how
// many first renewals were seen, and the reads that failed (target 0).
// One op is one fleet run of fleetTTL + 1s; run with -benchtime=1x.
func BenchmarkFleet(b *testing.B) {
	const fleetSize, fleetTTL = 20, 6 * time.Second
	hs := getHarness(b)
	rec := newRenewRecorder(b, hs.srv.Addr)
	var spread, seen float64
	var failed atomic.Int64
	for b.Loop() {
		toks := make([]string, fleetSize)
		for i := range toks {
			sec, err := hs.raw.Auth().Token().Create(&api.TokenCreateRequest{TTL: fleetTTL.String(), Policies: []string{"root"}})
			if err != nil {
				b.Fatal(err)
			}
			toks[i] = sec.Auth.ClientToken
		}
		ctx, cancel := context.WithTimeout(context.Background(), fleetTTL+time.Second)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for _, tok := range toks {
			wg.Go(func() {
				<-start
				hb, err := hashivault.New(context.Background(), &hashivault.Options{Address: rec.URL, Token: tok, Mount: "secret", KVVersion: 2, ConfigFile: "-"})
				if err != nil {
					failed.Add(1)
					return
				}
				s := vaultly.New(hb, &vaultly.Options{TTL: vaultly.NoCache})
				defer s.Close()
				tick := time.NewTicker(100 * time.Millisecond)
				defer tick.Stop()
				for {
					if _, err := s.Get(ctx, appPath+":password"); err != nil && ctx.Err() == nil {
						failed.Add(1)
					}
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
					}
				}
			})
		}
		t0 := time.Now()
		close(start)
		wg.Wait()
		cancel()
		rec.mu.Lock()
		var lo, hi time.Duration = fleetTTL, 0
		n := 0
		for _, tok := range toks {
			at, ok := rec.first[tok]
			if !ok {
				continue
			}
			n++
			d := at.Sub(t0)
			lo, hi = min(lo, d), max(hi, d)
		}
		rec.mu.Unlock()
		seen = float64(n)
		if n > 1 {
			spread = float64(hi-lo) / float64(fleetTTL)
		}
	}
	b.ReportMetric(spread, "first-renewal-spread/ttl")
	b.ReportMetric(seen, "first-renewals")
	b.ReportMetric(float64(failed.Load()), "failed-reads")
}
