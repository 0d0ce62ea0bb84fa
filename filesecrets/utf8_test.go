package filesecrets_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/filesecrets"
)

// TestNonUTF8: encoding/json would turn invalid UTF-8 into U+FFFD on the
// way to and from the file, so a write of such a value and a file holding
// such bytes are refused, with the field or position named.
func TestNonUTF8(t *testing.T) {
	file := filepath.Join(t.TempDir(), "s.json")
	const orig = `{"app":{"pw":"keep"}}`
	if err := os.WriteFile(file, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := filesecrets.New(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Write(context.Background(), "app", map[string]any{"blob": "\xff\xfeQz7"})
	if vaultly.CodeOf(err) != vaultly.InvalidArgument || !strings.Contains(err.Error(), `field "blob"`) || strings.Contains(err.Error(), "Qz7") {
		t.Errorf("Write(non-UTF-8) = %v, want InvalidArgument naming the field, not the value", err)
	}
	if got, _ := os.ReadFile(file); string(got) != orig {
		t.Errorf("file after a refused write = %q, want it unchanged", got)
	}
	_, err = filesecrets.Parse([]byte("{\"app\":\n {\"pw\":\"ab\xffQz7\"}}"))
	if vaultly.CodeOf(err) != vaultly.InvalidArgument || !strings.Contains(err.Error(), "2:10: not valid UTF-8") || strings.Contains(err.Error(), "Qz7") {
		t.Errorf("Parse(non-UTF-8) = %v, want InvalidArgument at 2:10 without the value", err)
	}
}
