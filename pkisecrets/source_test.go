package pkisecrets

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/memsecrets"
)

// logRecorder is a slog.Handler that keeps every record.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// count returns how many records at level have a message containing msg.
func (l *logRecorder) count(level slog.Level, msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.recs {
		if r.Level == level && strings.Contains(r.Message, msg) {
			n++
		}
	}
	return n
}

// fakePKI is a memsecrets backend with a PKI mount "pki" and a role "web"
// whose certificates live ttl, and a recorder of the times each sign or
// issue request arrived.
type fakePKI struct {
	*memsecrets.Backend
	mu    sync.Mutex
	times []time.Time
}

func newFakePKI(ttl time.Duration) *fakePKI {
	f := &fakePKI{Backend: memsecrets.New(nil)}
	f.SetPKIRole("pki", "web", memsecrets.PKIRole{TTL: ttl})
	f.SetHook(func(ctx context.Context, c memsecrets.Call) error {
		if c.Op == memsecrets.OpCertSign || c.Op == memsecrets.OpCertIssue {
			f.mu.Lock()
			f.times = append(f.times, time.Now())
			f.mu.Unlock()
		}
		return nil
	})
	return f
}

func (f *fakePKI) requests() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.times)
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func mustNew(t *testing.T, ci driver.CertIssuer, opts *Options) *Source {
	t.Helper()
	if opts.CommonName == "" {
		opts.CommonName = "web.test"
	}
	if opts.Logger == nil {
		opts.Logger = quiet()
	}
	s, err := New(context.Background(), ci, "web", opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// TestReissueOnSchedule: every replacement is issued within the jitter
// window around 2/3 of its predecessor's lifetime, and the certificate
// handed to handshakes is valid at every moment.
func TestReissueOnSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ttl = time.Minute
		f := newFakePKI(ttl)
		s := mustNew(t, f, &Options{})
		defer s.Close(context.Background())

		served := map[string]bool{}
		for range 20 * 60 {
			time.Sleep(time.Second)
			tc, err := s.GetCertificate(nil)
			if err != nil {
				t.Fatal(err)
			}
			if now := time.Now(); now.Before(tc.Leaf.NotBefore) || !now.Before(tc.Leaf.NotAfter) {
				t.Fatalf("at %v GetCertificate served a certificate valid %v..%v", now, tc.Leaf.NotBefore, tc.Leaf.NotAfter)
			}
			served[tc.Leaf.SerialNumber.String()] = true
		}
		times := f.requests()
		t0 := times[0]
		// A certificate's NotAfter has whole seconds: its lifetime is
		// between ttl-1s and ttl.
		lo := nextIssue(t0, t0.Add(ttl-time.Second), 0).Sub(t0)
		hi := nextIssue(t0, t0.Add(ttl), 0.999999).Sub(t0)
		for i := 1; i < len(times); i++ {
			if d := times[i].Sub(times[i-1]); d < lo || d > hi {
				t.Errorf("re-issue %d came %v after the previous one, want within [%v, %v]", i, d, lo, hi)
			}
		}
		// 20 minutes at 2/3 of a minute: about 30 certificates.
		if n := len(times); n < int(20*time.Minute/hi) || n > int(20*time.Minute/lo)+1 {
			t.Errorf("%d certificates in 20 minutes, want between %d and %d", n, int(20*time.Minute/hi), int(20*time.Minute/lo)+1)
		}
		if len(served) != len(times) {
			t.Errorf("handshakes saw %d certificates, %d were issued", len(served), len(times))
		}
		if st := s.Status(); st.Generation != uint64(len(times)) || st.Mode != ModeSign || st.Failures != 0 {
			t.Errorf("Status = generation %d, mode %v, failures %d; want %d, sign, 0", st.Generation, st.Mode, st.Failures, len(times))
		}
	})
}

// TestBackoffWhileValid: while issuing fails, the current certificate keeps
// being served, retries get denser towards its end, Health reports the
// near end, and the first retry after the outage replaces it.
func TestBackoffWhileValid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ttl = time.Minute
		f := newFakePKI(ttl)
		logs := &logRecorder{}
		s := mustNew(t, f, &Options{Logger: slog.New(logs)})
		defer s.Close(context.Background())
		first := s.Current()
		down := driver.NewError(driver.Unavailable, errors.New("connection refused"))
		f.SetError("pki/sign/web", down)

		time.Sleep(47 * time.Second) // past the scheduled re-issue (34s..46s)
		synctest.Wait()
		if got := s.Current(); got != first {
			t.Fatalf("the certificate changed while issuing failed")
		}
		st := s.Status()
		if st.Failures == 0 || vaultly.CodeOf(st.LastError) != vaultly.Unavailable {
			t.Errorf("Status: failures %d, last error %v; want failures and an Unavailable error", st.Failures, st.LastError)
		}
		if err := s.Health(); err != nil {
			t.Errorf("Health with 13s of 60s left = %v, want nil (not near the end yet)", err)
		}
		time.Sleep(11 * time.Second) // 2s left
		synctest.Wait()
		herr := s.Health()
		if vaultly.CodeOf(herr) != vaultly.Unavailable || !errors.Is(herr, vaultly.ErrUnavailable) || !strings.Contains(herr.Error(), "keeps failing") {
			t.Errorf("Health with 2s left = %v, want Unavailable, \"keeps failing\"", herr)
		}
		if logs.count(slog.LevelWarn, "expires soon") == 0 || logs.count(slog.LevelWarn, "still valid") == 0 {
			t.Errorf("logs: %d \"expires soon\", %d \"still valid\" warnings; want both", logs.count(slog.LevelWarn, "expires soon"), logs.count(slog.LevelWarn, "still valid"))
		}
		// Each retry waited at most half of what was left.
		times := f.requests()
		for i := 2; i < len(times); i++ {
			left := first.NotAfter().Sub(times[i-1])
			if d := times[i].Sub(times[i-1]); d > max(left/2, minRetry)+time.Millisecond {
				t.Errorf("retry %d came %v after the previous one, with %v left; want at most half", i, d, left)
			}
		}

		f.SetError("pki/sign/web", nil)
		time.Sleep(time.Second) // a retry comes within half of the 2s left
		synctest.Wait()
		if got := s.Current(); got == first {
			t.Fatal("no new certificate a second after the outage ended")
		}
		if err := s.Health(); err != nil {
			t.Errorf("Health after recovery = %v", err)
		}
		if st := s.Status(); st.Failures != 0 || st.LastError != nil {
			t.Errorf("Status after recovery: failures %d, last error %v", st.Failures, st.LastError)
		}
	})
}

// TestExpiredKeepsServing: once the certificate has expired it is still
// served (peers say why they refuse it), Health says it expired, the log
// says so at Error, and issuing resumes with backoff.
func TestExpiredKeepsServing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakePKI(time.Minute)
		logs := &logRecorder{}
		s := mustNew(t, f, &Options{Logger: slog.New(logs)})
		defer s.Close(context.Background())
		first := s.Current()
		f.SetError("pki/sign/web", driver.NewError(driver.Unavailable, errors.New("down")))
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if tc, _ := s.GetCertificate(nil); tc != first.TLSCertificate() {
			t.Fatal("GetCertificate stopped serving the expired certificate")
		}
		if err := s.Health(); vaultly.CodeOf(err) != vaultly.Unavailable || !strings.Contains(err.Error(), "expired") {
			t.Errorf("Health = %v, want Unavailable \"expired\"", err)
		}
		if logs.count(slog.LevelError, "expired") == 0 {
			t.Error("no Error log about the expired certificate")
		}
		f.SetError("pki/sign/web", nil)
		time.Sleep(31 * time.Second) // the plain backoff is capped at 30s
		synctest.Wait()
		if s.Current() == first {
			t.Error("no new certificate 31s after issuing works again")
		}
	})
}

// TestModeAuto: signing a local key is the default; a refused sign falls
// back to issue for good; the errors returned name the request that
// matters.
func TestModeAuto(t *testing.T) {
	denied := driver.NewError(driver.PermissionDenied, errors.New("permission denied"))
	invalid := driver.NewError(driver.InvalidArgument, errors.New("role requires keys of type rsa"))
	tests := []struct {
		name              string
		mode              Mode
		signErr, issueErr error
		wantCode          vaultly.Code
		wantMode          Mode
		wantSign, wantIss int // requests after New and one re-issue
	}{
		{"sign allowed", ModeAuto, nil, nil, vaultly.OK, ModeSign, 2, 0},
		{"sign denied: issue", ModeAuto, denied, nil, vaultly.OK, ModeIssue, 1, 2},
		{"key type refused: issue", ModeAuto, invalid, nil, vaultly.OK, ModeIssue, 1, 2},
		{"both denied: issue's error", ModeAuto, denied, invalid, vaultly.InvalidArgument, 0, 1, 1},
		{"sign invalid, issue denied: sign's error", ModeAuto, invalid, denied, vaultly.InvalidArgument, 0, 1, 1},
		{"unavailable: no fall-back", ModeAuto, driver.NewError(driver.Unavailable, errors.New("down")), nil, vaultly.Unavailable, 0, 1, 0},
		{"ModeSign never issues", ModeSign, denied, nil, vaultly.PermissionDenied, 0, 1, 0},
		{"ModeIssue never signs", ModeIssue, nil, nil, vaultly.OK, ModeIssue, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFakePKI(time.Minute)
				if tt.signErr != nil {
					f.SetError("pki/sign/web", tt.signErr)
				}
				if tt.issueErr != nil {
					f.SetError("pki/issue/web", tt.issueErr)
				}
				s, err := New(context.Background(), f, "web", &Options{CommonName: "web.test", Mode: tt.mode, Logger: quiet()})
				if got := vaultly.CodeOf(err); got != tt.wantCode {
					t.Fatalf("New: code %v (%v), want %v", got, err, tt.wantCode)
				}
				if err != nil {
					if e, ok := errors.AsType[*vaultly.Error](err); !ok || e.Op == "" || !strings.HasPrefix(e.Ref, "pki/") || e.Backend != "memory" {
						t.Errorf("New error = %#v, want a *vaultly.Error naming the op, the request path and the backend", err)
					}
				} else {
					time.Sleep(time.Minute) // one re-issue
					synctest.Wait()
					if got := s.Status(); got.Mode != tt.wantMode || got.Generation != 2 {
						t.Errorf("Status: mode %v, generation %d; want %v, 2", got.Mode, got.Generation, tt.wantMode)
					}
					if got, want := s.Current().LocalKey, tt.wantMode == ModeSign; got != want {
						t.Errorf("LocalKey = %v, want %v", got, want)
					}
					s.Close(context.Background())
				}
				got := [2]int{f.CallCount(memsecrets.OpCertSign, "pki/sign/web"), f.CallCount(memsecrets.OpCertIssue, "pki/issue/web")}
				if want := [2]int{tt.wantSign, tt.wantIss}; got != want {
					t.Errorf("sign and issue requests = %v, want %v", got, want)
				}
			})
		})
	}
}

// TestRevocation: RevokePrevious revokes each replaced certificate in the
// background; RevokeOnClose revokes the current one on Close.
func TestRevocation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakePKI(time.Minute)
		s := mustNew(t, f, &Options{RevokePrevious: true, RevokeOnClose: true})
		var serials []string
		serials = append(serials, s.Current().Serial)
		for range 2 {
			g := s.Status().Generation
			for s.Status().Generation == g {
				time.Sleep(time.Second)
			}
			serials = append(serials, s.Current().Serial)
		}
		synctest.Wait()
		if diff := cmp.Diff(serials[:2], f.RevokedCerts("pki")); diff != "" {
			t.Errorf("revoked after two replacements (-want +got):\n%s", diff)
		}
		if err := s.Close(context.Background()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if diff := cmp.Diff(serials, f.RevokedCerts("pki")); diff != "" {
			t.Errorf("revoked after Close (-want +got):\n%s", diff)
		}
	})
}

// TestRevokeFailureIsReported: a first CA read that fails fails New; a
// failed revocation is logged and never blocks the schedule; the error of
// RevokeOnClose is returned by Close.
func TestRevokeFailureIsReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakePKI(time.Minute)
		logs := &logRecorder{}
		f.SetError("pki", driver.NewError(driver.Unavailable, errors.New("down"))) // revocations and CA reads
		_, err := New(context.Background(), f, "web", &Options{CommonName: "web.test", RevokePrevious: true, RevokeOnClose: true, Logger: slog.New(logs)})
		if vaultly.CodeOf(err) != vaultly.Unavailable {
			t.Fatalf("New with the CA read failing: %v, want Unavailable", err)
		}
		f.SetError("pki", nil)
		s := mustNew(t, f, &Options{RevokePrevious: true, RevokeOnClose: true, Logger: slog.New(logs)})
		f.SetError("pki", driver.NewError(driver.PermissionDenied, errors.New("permission denied")))
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if g := s.Status().Generation; g < 3 {
			t.Errorf("generation %d after 2 minutes, want the schedule to go on", g)
		}
		if logs.count(slog.LevelWarn, "revoking a replaced certificate failed") == 0 {
			t.Error("no warning about the failed revocation")
		}
		err = s.Close(context.Background())
		if vaultly.CodeOf(err) != vaultly.PermissionDenied {
			t.Errorf("Close = %v, want the PermissionDenied of revoking", err)
		}
	})
}

// TestCloseCancelsIssue: Close does not wait for a stuck request.
func TestCloseCancelsIssue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakePKI(time.Minute)
		s := mustNew(t, f, &Options{})
		started := make(chan struct{})
		f.SetHook(func(ctx context.Context, c memsecrets.Call) error {
			if c.Op == memsecrets.OpCertSign {
				close(started)
				<-ctx.Done()
				return ctx.Err()
			}
			return nil
		})
		<-started
		if err := s.Close(context.Background()); err != nil {
			t.Errorf("Close = %v", err)
		}
		if !s.Status().NextIssue.IsZero() {
			t.Error("Status().NextIssue after Close is set")
		}
	})
}

// TestCAPoolFollowsRotation: a CA created after New is trusted at the next
// periodic refresh, at once when a peer presents a certificate from it,
// and when the Source's own certificate comes from it; a CA removed from
// the mount is dropped at the next refresh.
func TestCAPoolFollowsRotation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakePKI(10 * time.Minute)
		s := mustNew(t, f, &Options{CARefresh: 10 * time.Minute})
		defer s.Close(context.Background())
		old := s.CACerts()
		if len(old) != 1 {
			t.Fatalf("CACerts = %d, want 1", len(old))
		}
		newCA := f.NewCA("pki", true)
		// A peer already has a certificate from the new CA.
		peer, err := Issue(context.Background(), f, "web", &Options{CommonName: "peer.test"})
		if err != nil {
			t.Fatal(err)
		}
		if !peer.Chain[0].Equal(newCA) {
			t.Fatal("the peer's certificate is not from the new CA")
		}
		if len(s.CACerts()) != 1 {
			t.Fatal("the pool changed before any refresh")
		}
		// The handshake that meets it waits for one refresh and passes.
		if err := s.verify([]*x509.Certificate{peer.Leaf}, "", clientAuth, nil); err != nil {
			t.Errorf("verifying a certificate from a new CA: %v", err)
		}
		if got := s.CACerts(); len(got) != 2 {
			t.Errorf("CACerts after the refresh = %d, want 2", len(got))
		}
		// A certificate from a CA the mount does not have fails, after one
		// refresh, and refreshes are rate-limited.
		other := newFakePKI(time.Hour)
		stranger, err := Issue(context.Background(), other, "web", &Options{CommonName: "stranger.test"})
		if err != nil {
			t.Fatal(err)
		}
		before := f.CallCount(memsecrets.OpCACerts, "pki")
		for range 5 {
			if err := s.verify([]*x509.Certificate{stranger.Leaf}, "", clientAuth, nil); err == nil {
				t.Fatal("a certificate from a foreign CA was accepted")
			}
		}
		if n := f.CallCount(memsecrets.OpCACerts, "pki") - before; n < 1 || n > 5 {
			t.Errorf("5 handshakes with a foreign certificate made %d CA reads, want 1..5 (at most one a second)", n)
		}
		// Removed from the mount, and no longer in the chain of the
		// Source's own certificate (replaced after about 2/3 of 10
		// minutes): dropped at the next periodic refresh.
		time.Sleep(8 * time.Minute)
		if !s.Current().Chain[0].Equal(newCA) {
			t.Fatal("the Source's certificate was not replaced by one from the new CA")
		}
		f.RemoveCA("pki", old[0])
		time.Sleep(11 * time.Minute)
		synctest.Wait()
		if got := s.CACerts(); len(got) != 1 || !got[0].Equal(newCA) {
			t.Errorf("after removing the old CA: pool has %d certificates, want only the new CA", len(got))
		}
	})
}

func TestOptionsChecked(t *testing.T) {
	tests := []struct {
		name string
		role string
		opts Options
	}{
		{"empty role", "", Options{}},
		{"role with a slash", "a/b", Options{}},
		{"bad IP", "web", Options{IPSANs: []string{"127.0.0.1", "not-an-ip"}}},
		{"relative URI", "web", Options{URISANs: []string{"example.org/web"}}},
		{"negative TTL", "web", Options{TTL: -time.Second}},
		{"sub-second TTL", "web", Options{TTL: time.Millisecond}},
		{"bad mode", "web", Options{Mode: Mode(9)}},
		{"bad key type", "web", Options{KeyType: KeyType(-1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakePKI(time.Minute)
			_, err := New(context.Background(), f, tt.role, &tt.opts)
			if !errors.Is(err, vaultly.ErrInvalidArgument) {
				t.Errorf("New = %v, want InvalidArgument", err)
			}
			if n := len(f.Calls()); n != 0 {
				t.Errorf("%d requests before the options were checked", n)
			}
		})
	}
	if _, err := New(context.Background(), nil, "web", nil); vaultly.CodeOf(err) != vaultly.Config {
		t.Errorf("New(nil issuer) = %v, want Config", err)
	}
}
