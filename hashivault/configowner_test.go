package hashivault

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/internal/testing/faultproxy"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// otherUID is a user that is not the test's: nobody.
const otherUID = 65534

// needRoot fails the test (skips outside CI) when it cannot make a file
// owned by another user: that takes root.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() == 0 {
		return
	}
	if vaulttest.Required() {
		t.Fatal("this test chowns a file to another user and must run as root (as CI does)")
	}
	t.Skip("needs root to chown a file to another user")
}

// TestConfigFileOwner plants a 0600 config file owned by another user that
// points at a real Vault server with its token: it is refused before any
// request, by ReadConfigFile, by New with ConfigFile and at the default
// path, with an error naming the file and its owner. The same file owned
// by the current user is used.
func TestConfigFileOwner(t *testing.T) {
	needRoot(t)
	clearEnv(t)
	srv := shared(t)
	p := faultproxy.Start(t, srv.Addr, nil)
	srv.PutKV(t, "owner/app", map[string]any{"value": "v"})
	xdg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", xdg)
	path := filepath.Join(xdg, "vaultly", "config.json")
	if err := WriteConfigFile(path, &FileConfig{Address: p.URL, Token: srv.Token}); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, otherUID, otherUID); err != nil {
		t.Fatal(err)
	}
	// A directory anyone may write to, as /tmp: where a file can be planted.
	if err := os.Chmod(filepath.Dir(path), 0o1777); err != nil {
		t.Fatal(err)
	}

	wantMsg := []string{path, "owned by uid " + strconv.Itoa(otherUID), "not by the current user, uid " + strconv.Itoa(os.Getuid())}
	check := func(what string, err error) {
		t.Helper()
		if vaultly.CodeOf(err) != vaultly.Config {
			t.Fatalf("%s = %v, want a Config error", what, err)
		}
		for _, w := range wantMsg {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s error = %q, want it to contain %q", what, err, w)
			}
		}
		if strings.Contains(err.Error(), srv.Token) {
			t.Errorf("%s error = %q, shows the token", what, err)
		}
	}
	_, err := ReadConfigFile(path)
	check("ReadConfigFile", err)
	_, err = New(ctxT(t, 5*time.Second), &Options{ConfigFile: path, KVVersion: 2})
	check("New(ConfigFile)", err)
	_, err = New(ctxT(t, 5*time.Second), &Options{KVVersion: 2}) // the default path
	check("New(default path)", err)
	if n := len(p.Requests(nil)); n != 0 {
		t.Errorf("%d requests reached the server through the planted file, want 0", n)
	}

	// The same file, owned by the current user, is used.
	if err := os.Chown(path, os.Getuid(), os.Getgid()); err != nil {
		t.Fatal(err)
	}
	b := newBackend(t, &Options{ConfigFile: path, KVVersion: 2})
	if _, err := b.Read(ctxT(t, 5*time.Second), "owner/app", 0); err != nil {
		t.Fatalf("Read through the user's own config file: %v", err)
	}
	if got, err := ReadConfigFile(path); err != nil || got.Address != p.URL {
		t.Errorf("ReadConfigFile(own file) = %v, %v; want the saved address", got, err)
	}
}

// TestConfigFileNotRegular: a FIFO or a directory at the config path is
// refused at once (reading a FIFO would block).
func TestConfigFileNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "dir.json")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, sub} {
		done := make(chan error, 1)
		go func() { _, err := ReadConfigFile(p); done <- err }()
		select {
		case err := <-done:
			if vaultly.CodeOf(err) != vaultly.Config || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("ReadConfigFile(%s) = %v, want a Config error saying it is not a regular file", p, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("ReadConfigFile(%s) blocked for 10s", p)
		}
	}
}
