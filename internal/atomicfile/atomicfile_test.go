package atomicfile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestWriteFileMode(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	name := filepath.Join(t.TempDir(), "sub", "creds.json")
	for _, data := range []string{"first", "second, longer"} {
		if err := WriteFile(name, []byte(data)); err != nil {
			t.Fatalf("WriteFile: %v", err)
		}
		got, err := os.ReadFile(name)
		if err != nil || string(got) != data {
			t.Fatalf("ReadFile = %q, %v; want %q", got, err, data)
		}
		st, _ := os.Stat(name)
		if st.Mode().Perm() != 0o600 {
			t.Errorf("mode = %#o, want 0600", st.Mode().Perm())
		}
	}
	ents, _ := os.ReadDir(filepath.Dir(name))
	if len(ents) != 1 {
		t.Errorf("directory holds %d files, want 1 (temp file left behind?)", len(ents))
	}
	if err := CheckPrivate(name); err != nil {
		t.Errorf("CheckPrivate: %v", err)
	}
	os.Chmod(name, 0o644)
	if err := CheckPrivate(name); err == nil {
		t.Error("CheckPrivate accepted a 0644 file")
	}
}
