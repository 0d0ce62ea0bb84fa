package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vaultly/vaultly/internal/vaulttest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestQuickstart(t *testing.T) {
	s := vaulttest.Start(t, nil)
	const password = "s3cr3t-Pa55word"
	s.PutKV(t, "myapp/db", map[string]any{"username": "app", "password": password})
	s.PutKV(t, "myapp/features", map[string]any{
		"flags":     map[string]any{"beta": true, "regions": []any{"eu", "us"}},
		"max_conns": 25,
		"debug":     false,
	})
	t.Setenv("VAULT_ADDR", s.Addr)
	t.Setenv("VAULT_TOKEN", s.Token)

	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatalf("run: %v", err)
	}
	got := out.String()
	for _, want := range []string{
		"loading config from " + s.Addr,
		"Password:[redacted]",
		"MaxConns:25",
		"db user app, password of 15 characters, max 25 connections, debug false",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output does not contain %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, password) {
		t.Errorf("output contains the password:\n%s", got)
	}
}

func TestLoad(t *testing.T) {
	s := vaulttest.Start(t, nil)
	s.PutKV(t, "myapp/db", map[string]any{"username": "app", "password": "pw"})
	s.PutKV(t, "myapp/features", map[string]any{
		"flags":     map[string]any{"beta": true},
		"max_conns": 7,
		"debug":     true,
	})
	c, err := load(context.Background(), s.Client(t))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	want := &Config{
		DB:       DB{Username: "app", Password: "pw"},
		Features: Features{Flags: map[string]any{"beta": true}, MaxConns: 7, Debug: true},
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("load mismatch (-want +got):\n%s", diff)
	}

	t.Run("missing entry", func(t *testing.T) {
		s2 := vaulttest.Start(t, nil)
		if _, err := load(context.Background(), s2.Client(t)); err == nil || !strings.Contains(err.Error(), "secret/myapp/db") {
			t.Errorf("load on an empty server: err = %v, want an error naming secret/myapp/db", err)
		}
	})
}

func TestRedacted(t *testing.T) {
	r := Redacted("hunter2")
	b, err := json.Marshal(struct{ P Redacted }{r})
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range []string{fmt.Sprint(r), fmt.Sprintf("%v %+v %#v %s", r, r, r, r), string(b)} {
		if strings.Contains(got, "hunter2") {
			t.Errorf("printed form %q contains the value", got)
		}
	}
	if got := r.Reveal(); got != "hunter2" {
		t.Errorf("Reveal() = %q, want hunter2", got)
	}
}
