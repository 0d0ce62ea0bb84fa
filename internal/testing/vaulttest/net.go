package vaulttest

import (
	"net"
	"testing"

	"go.uber.org/goleak"
)

// IgnoreIdleConns returns the goleak options for a test binary whose
// vault/api clients keep idle keep-alive connections open: their
// net/http read and write loops, parked in the network poller, are not
// leaks; every goroutine vaultly starts still is.
//
//	goleak.VerifyTestMain(m, vaulttest.IgnoreIdleConns()...)
func IgnoreIdleConns() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago
// (another process may take it before the caller binds it).
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ClosedAddr returns an http:// address on 127.0.0.1 where nothing
// listens, for connection-refused tests.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("vaulttest: %v", err)
	}
	addr := "http://" + l.Addr().String()
	l.Close()
	return addr
}
