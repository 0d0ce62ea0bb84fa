package vaulttest

import (
	"context"
	"os"
	"strings"
	"testing"
)

func TestKVRoundTrip(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	s.PutKV(t, "harness/check", map[string]any{"user": "alice", "n": 42})
	got, err := s.Client(t).KVv2("secret").Get(context.Background(), "harness/check")
	if err != nil {
		t.Fatalf("KVv2 Get: %v", err)
	}
	if got.Data["user"] != "alice" {
		t.Errorf("user = %v, want alice", got.Data["user"])
	}
}

func TestVersionPinMatchesToolsGoMod(t *testing.T) {
	b, err := os.ReadFile("../../../tools/vault/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "github.com/hashicorp/vault "+Version) {
		t.Errorf("tools/vault/go.mod does not pin github.com/hashicorp/vault %s", Version)
	}
}
