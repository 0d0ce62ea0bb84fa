package vaulttest

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/hashicorp/vault/api"
)

func TestSealUnseal(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	if s.UnsealKey == "" {
		t.Fatal("UnsealKey is empty: not parsed from the dev server output")
	}
	s.PutKV(t, "seal/check", map[string]any{"answer": "42"})
	c := s.Client(t)
	read := func() (*api.KVSecret, error) {
		return c.KVv2("secret").Get(context.Background(), "seal/check")
	}

	s.Seal(t)
	st, err := c.Sys().SealStatusWithContext(context.Background())
	if err != nil {
		t.Fatalf("seal status: %v", err)
	}
	if !st.Sealed {
		t.Error("seal status after Seal: sealed = false, want true")
	}
	_, err = read()
	var re *api.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("read while sealed: err = %v, want a 503 response error", err)
	}

	s.Unseal(t)
	got, err := read()
	if err != nil {
		t.Fatalf("read after Unseal: %v", err)
	}
	if got.Data["answer"] != "42" {
		t.Errorf("answer after Unseal = %v, want 42", got.Data["answer"])
	}
	// Seal/Unseal works more than once on the same server.
	s.Seal(t)
	s.Unseal(t)
	if _, err := read(); err != nil {
		t.Errorf("read after the second Unseal: %v", err)
	}
}
