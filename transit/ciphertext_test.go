package transit_test

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/hashicorp/vault/api"

	vaultly "github.com/vaultly/vaultly"

	"github.com/vaultly/vaultly/transit"
)

func b64(p []byte) string { return base64.StdEncoding.EncodeToString(p) }

func TestCiphertextVersion(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"vault:v1:abc", 1},
		{"vault:v12:abc=", 12},
		{"vault:v3:a:b", 3},
		{"vault:v0:abc", 0},
		{"vault:v01:abc", 0},
		{"vault:v-1:abc", 0},
		{"vault:v1:", 0},
		{"vault:v1", 0},
		{"vault:vx:abc", 0},
		{"vault:v9999999999:abc", 0},
		{"vault:1:abc", 0},
		{"", 0},
		{"hunter2", 0},
	}
	for _, tt := range tests {
		if got := transit.Ciphertext(tt.in).Version(); got != tt.want {
			t.Errorf("Ciphertext(%q).Version() = %d, want %d", tt.in, got, tt.want)
		}
		if got := transit.Signature(tt.in).Version(); got != tt.want {
			t.Errorf("Signature(%q).Version() = %d, want %d", tt.in, got, tt.want)
		}
		if got := transit.HMAC(tt.in).Version(); got != tt.want {
			t.Errorf("HMAC(%q).Version() = %d, want %d", tt.in, got, tt.want)
		}
		_, err := transit.ParseCiphertext(tt.in)
		if got := err == nil; got != (tt.want > 0) {
			t.Errorf("ParseCiphertext(%q) error = %v, want ok=%v", tt.in, err, tt.want > 0)
		}
		if err != nil && vaultly.CodeOf(err) != vaultly.InvalidArgument {
			t.Errorf("ParseCiphertext(%q) code = %v, want %v", tt.in, vaultly.CodeOf(err), vaultly.InvalidArgument)
		}
	}
}

func FuzzCiphertextVersion(f *testing.F) {
	for _, s := range []string{"vault:v1:abc", "vault:v0:x", "vault:v1:", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v := transit.Ciphertext(s).Version()
		if v < 0 {
			t.Fatalf("Version(%q) = %d < 0", s, v)
		}
		if _, err := transit.ParseCiphertext(s); (err == nil) != (v > 0) {
			t.Fatalf("ParseCiphertext(%q) err=%v but Version=%d", s, err, v)
		}
	})
}

func TestNewOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    *transit.Options
		mount   string
		wantErr bool
	}{
		{"nil", nil, "transit", false},
		{"custom", &transit.Options{Mount: "/crypto/"}, "crypto", false},
		{"nested", &transit.Options{Mount: "team/transit"}, "team/transit", false},
		{"dotdot", &transit.Options{Mount: "../sys"}, "", true},
		{"empty segment", &transit.Options{Mount: "a//b"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := transit.New(nopCaller{}, tt.opts)
			if (err != nil) != tt.wantErr {
				t.Fatalf("New(%+v) error = %v, wantErr %v", tt.opts, err, tt.wantErr)
			}
			if err == nil && tr.Mount() != tt.mount {
				t.Errorf("Mount() = %q, want %q", tr.Mount(), tt.mount)
			}
		})
	}
	if _, err := transit.New(nil, nil); err == nil {
		t.Errorf("New(nil) succeeded, want a Config error")
	}
}

// nopCaller is only for option validation: it is never called.
type nopCaller struct{}

func (nopCaller) Call(context.Context, func(context.Context, *api.Client) error) error {
	panic("not called")
}
