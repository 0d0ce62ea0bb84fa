package vaulttest

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
)

// Shared is one dev server that the tests of a package share, started on
// first use. Declare it as a package variable and Stop it after m.Run in
// TestMain; tests that seal the server or change server-wide settings Start
// their own. Its methods are safe for concurrent use.
type Shared struct {
	// Options are the server's options (nil: a plain HTTP dev server). Set
	// them before the first Get.
	Options *Options

	mu      sync.Mutex
	started bool
	srv     *Server
	err     error
	gen     int                   // the server's generation: one per round of -count
	seen    map[string]sharedUser // by test name: the test that last asked, and in which generation
}

// sharedUser is a test that got the shared server.
type sharedUser struct {
	t   testing.TB
	gen int
}

// Get returns the shared server, starting it on the first call. Where the
// vault binary is missing it returns Start(t, nil), which skips or fails t
// as Required says; a server that does not start fails t.
//
// Each round of `go test -count=N` gets a fresh server, so that tests
// written for a fresh server (mounts they enable, paths they expect at
// version 1) pass in every round: a test whose name already asked in the
// current generation, as another *testing.T, starts a new round, and the
// previous round's server (whose tests have all ended: rounds run one
// after another) is stopped.
func (s *Shared) Get(t testing.TB) *Server {
	t.Helper()
	if _, err := BinPath(); err != nil {
		return Start(t, s.Options)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.seen[t.Name()]; ok && u.t != t && u.gen == s.gen && s.srv != nil {
		s.srv.Stop()
		s.srv, s.started = nil, false
	}
	if !s.started {
		s.started = true
		s.gen++
		s.srv, s.err = NewServer(s.Options)
	}
	if s.seen == nil {
		s.seen = map[string]sharedUser{}
	}
	s.seen[t.Name()] = sharedUser{t, s.gen}
	if s.err != nil {
		t.Fatalf("vaulttest: %v", s.err)
	}
	return s.srv
}

// Stop stops the server if Get started it; a later Get fails its test.
// Safe to call more than once.
func (s *Shared) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = true
	if s.srv != nil {
		s.srv.Stop()
		s.srv = nil
	}
	s.err = errors.New("the shared server was stopped")
}

// UnsetVaultEnv unsets every VAULT_* variable (and VAULTLY_ADDRS) of the process, so that a
// developer's own Vault settings reach neither the code under test nor the
// binaries it runs. For TestMain (it changes the whole process).
func UnsetVaultEnv() {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "VAULT_") || k == "VAULTLY_ADDRS" {
			os.Unsetenv(k)
		}
	}
}
