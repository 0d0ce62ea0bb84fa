package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// useServer points the environment (as the vault CLI reads it) at s and
// keeps a developer's saved vaultly login out of the test.
func useServer(t *testing.T, s *vaulttest.Server) {
	t.Setenv("VAULT_ADDR", s.Addr)
	t.Setenv("VAULT_TOKEN", s.Token)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
}

func TestQuickstart(t *testing.T) {
	s := vaulttest.Start(t, nil)
	const password = "s3cr3t-Pa55word"
	s.PutKV(t, "myapp/db", map[string]any{"username": "app", "password": password})
	s.PutKV(t, "myapp/features", map[string]any{
		"flags":     map[string]any{"beta": true, "regions": []any{"eu", "us"}},
		"max_conns": 25,
		"debug":     false,
	})
	useServer(t, s)

	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatalf("run: %v", err)
	}
	got := out.String()
	for _, want := range []string{
		`loading config from Vault (mount "secret")`,
		"Password:[redacted]",
		"MaxConns:25",
		"Flags:map[beta:true regions:[eu us]]",
		"db_password=[redacted]",
		"db user app, password of 15 characters, max 25 connections, debug false, timeout 5s",
		"6 fields from 2 entries: 2 Vault reads",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output does not contain %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, password) {
		t.Errorf("output contains the password:\n%s", got)
	}
}

func TestQuickstartMissingEntry(t *testing.T) {
	s := vaulttest.Start(t, nil)
	s.PutKV(t, "myapp/features", map[string]any{"flags": map[string]any{}, "max_conns": 1, "debug": true})
	useServer(t, s)

	var out bytes.Buffer
	err := run(context.Background(), &out)
	if !errors.Is(err, vaultly.ErrNotFound) {
		t.Fatalf("run on a server without myapp/db: err = %v, want ErrNotFound", err)
	}
	for _, field := range []string{"Config.DB.Username", "Config.DB.Password"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error %q does not name %s", err, field)
		}
	}
}

func TestQuickstartNoAddress(t *testing.T) {
	t.Setenv("VAULT_ADDR", "")
	t.Setenv("VAULT_TOKEN", "")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	err := run(context.Background(), &bytes.Buffer{})
	if vaultly.CodeOf(err) != vaultly.Config {
		t.Fatalf("run without VAULT_ADDR: err = %v (code %v), want a Config error", err, vaultly.CodeOf(err))
	}
}
