package cred

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vaultly/vaultly/driver"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cred")
	if err := os.WriteFile(file, []byte("  from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CRED_TEST_SET", "from-env\n")
	t.Setenv("CRED_TEST_EMPTY", "")
	tests := []struct {
		name   string
		src    Source
		want   string
		code   driver.Code
		errHas string
	}{
		{"value", Source{Name: "secret_id", Value: "v"}, "v", driver.OK, ""},
		{"env", Source{Name: "secret_id", Env: "CRED_TEST_SET"}, "from-env", driver.OK, ""},
		{"file trimmed", Source{Name: "secret_id", File: file}, "from-file", driver.OK, ""},
		{"env empty", Source{Name: "secret_id", Env: "CRED_TEST_EMPTY"}, "", driver.Config, "secret_id: environment variable CRED_TEST_EMPTY is empty"},
		{"file missing", Source{Name: "secret_id", File: filepath.Join(dir, "nope")}, "", driver.Config, "does not exist"},
		{"file empty", Source{Name: "secret_id", File: empty}, "", driver.Config, "is empty"},
		{"unset", Source{Name: "secret_id"}, "", driver.Config, "secret_id is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.src.Read()
			if c := driver.CodeOf(err); c != tt.code {
				t.Fatalf("Read() code %v, want %v (err %v)", c, tt.code, err)
			}
			if got != tt.want {
				t.Errorf("Read() = %q, want %q", got, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("Read() error %q does not contain %q", err, tt.errHas)
			}
		})
	}
}

func TestReadRereadsFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cred")
	s := Source{Name: "jwt", File: file}
	for _, want := range []string{"one", "two"} {
		if err := os.WriteFile(file, []byte(want), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := s.Read()
		if err != nil || got != want {
			t.Errorf("Read() = %q, %v; want %q", got, err, want)
		}
	}
}
