package vaulttest

import (
	"net"
	"strings"
	"testing"
)

func TestClosedAddrRefuses(t *testing.T) {
	addr := ClosedAddr(t)
	hostport, ok := strings.CutPrefix(addr, "http://127.0.0.1:")
	if !ok || hostport == "" {
		t.Fatalf("ClosedAddr = %q, want http://127.0.0.1:PORT", addr)
	}
	c, err := net.Dial("tcp", strings.TrimPrefix(addr, "http://"))
	if err == nil {
		c.Close()
		t.Errorf("Dial(%s) succeeded, want connection refused", addr)
	}
}

func TestFreePortBinds(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatalf("listen on FreePort() = %d: %v", port, err)
	}
	l.Close()
}
