package memsecrets_test

import (
	"context"
	"strings"
	"testing"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/memsecrets"
)

// TestWriteRefusesNonUTF8: memsecrets refuses what Vault cannot store as
// given (see hashivault's TestWriteRefusesNonUTF8), so tests against it
// see the same error.
func TestWriteRefusesNonUTF8(t *testing.T) {
	b := memsecrets.New(nil)
	err := b.Write(context.Background(), "app", map[string]any{"blob": "\xff\xfeQz7"})
	if vaultly.CodeOf(err) != vaultly.InvalidArgument || !strings.Contains(err.Error(), `field "blob"`) || strings.Contains(err.Error(), "Qz7") {
		t.Errorf("Write(non-UTF-8) = %v, want InvalidArgument naming the field, not the value", err)
	}
	s := vaultly.New(b, nil)
	defer s.Close()
	if err := s.Put(context.Background(), "app", map[string]any{"k\xff": "v"}); vaultly.CodeOf(err) != vaultly.InvalidArgument {
		t.Errorf("Store.Put(non-UTF-8 key) = %v, want InvalidArgument", err)
	}
	if n := b.CallCount(memsecrets.OpWrite, "app"); n != 1 {
		t.Errorf("backend writes = %d, want 1 (the Store refuses before calling it)", n)
	}
}
