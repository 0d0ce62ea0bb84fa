package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func TestTransit(t *testing.T) {
	t.Parallel()
	srv := shared(t)
	e := newEnv(t, srv)
	srv.EnableSecrets(t, "transit", "transit", nil)
	srv.EnableSecrets(t, "cli-crypto", "transit", nil)
	for _, k := range []string{"transit/keys/app", "transit/keys/other", "cli-crypto/keys/app"} {
		srv.Write(t, k, nil)
	}
	binary := []byte("\x00\xffnot text\r\n\x00")
	writeFile(t, filepath.Join(e.home, "plain.bin"), string(binary))

	// ciphertext trims the one line encrypt prints.
	ciphertext := func(out string) string {
		t.Helper()
		ct, ok := strings.CutSuffix(out, "\n")
		if !ok || !strings.HasPrefix(ct, "vault:v") || strings.Contains(ct, "\n") {
			t.Fatalf("encrypt printed %q, want one vault:v<N>:... line", out)
		}
		return ct
	}
	// vaultDecrypt decrypts with the real vault CLI.
	vaultDecrypt := func(mount, key, ct string) []byte {
		t.Helper()
		data := e.vaultJSON("write", "-format=json", mount+"/decrypt/"+key, "ciphertext="+ct)
		p, err := base64.StdEncoding.DecodeString(data["plaintext"].(string))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("encrypt interop with vault", func(t *testing.T) {
		tests := []struct {
			name  string
			stdin string
			args  []string
			mount string
			want  []byte
		}{
			{"stdin", "hunter2\n", []string{"transit", "encrypt", "-key", "app"}, "transit", []byte("hunter2\n")},
			{"stdin as -", "hunter2", []string{"transit", "encrypt", "-key=app", "-"}, "transit", []byte("hunter2")},
			{"@file, binary", "", []string{"transit", "encrypt", "-key", "app", "@plain.bin"}, "transit", binary},
			{"empty stdin", "", []string{"transit", "encrypt", "-key", "app"}, "transit", []byte{}},
			{"-mount", "s3cret", []string{"transit", "encrypt", "-mount", "cli-crypto", "-key", "app"}, "cli-crypto", []byte("s3cret")},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ct := ciphertext(e.must(tt.stdin, tt.args...))
				if got := vaultDecrypt(tt.mount, "app", ct); !bytes.Equal(got, tt.want) {
					t.Errorf("vault decrypt of vaultly %s = %q, want %q", strings.Join(tt.args, " "), got, tt.want)
				}
			})
		}
	})

	t.Run("decrypt interop with vault", func(t *testing.T) {
		data := e.vaultJSON("write", "-format=json", "transit/encrypt/app", "plaintext="+base64.StdEncoding.EncodeToString(binary))
		ct := data["ciphertext"].(string)
		if got := e.must("", "transit", "decrypt", "-key", "app", ct); got != string(binary) {
			t.Errorf("decrypt = %q, want the raw bytes %q", got, binary)
		}
		var js struct{ Key, Plaintext string }
		if err := json.Unmarshal([]byte(e.must("", "transit", "decrypt", "-format=json", "-key", "app", ct)), &js); err != nil {
			t.Fatal(err)
		}
		if want := base64.StdEncoding.EncodeToString(binary); js.Key != "app" || js.Plaintext != want {
			t.Errorf("decrypt -format=json = %+v, want key app, plaintext %q", js, want)
		}
		// A vaultly ciphertext on another mount decrypts only there.
		ct2 := ciphertext(e.must("only here", "transit", "encrypt", "-mount=cli-crypto", "-key", "app"))
		if got := e.must("", "transit", "decrypt", "-mount=cli-crypto", "-key", "app", ct2); got != "only here" {
			t.Errorf("decrypt -mount=cli-crypto = %q, want %q", got, "only here")
		}
	})

	t.Run("rewrap after rotation", func(t *testing.T) {
		srv.Write(t, "transit/keys/rot", nil)
		ct := ciphertext(e.must("rotate me", "transit", "encrypt", "-key", "rot"))
		if !strings.HasPrefix(ct, "vault:v1:") {
			t.Fatalf("ciphertext %q, want key version 1", ct)
		}
		srv.Write(t, "transit/keys/rot/rotate", nil)
		var js ciphertextOut
		if err := json.Unmarshal([]byte(e.must("", "transit", "rewrap", "-key", "rot", "-format=json", ct)), &js); err != nil {
			t.Fatal(err)
		}
		if js.Key != "rot" || js.KeyVersion != 2 || !strings.HasPrefix(string(js.Ciphertext), "vault:v2:") {
			t.Errorf("rewrap -format=json = %+v, want key rot, version 2", js)
		}
		if got := e.must("", "transit", "decrypt", "-key", "rot", string(js.Ciphertext)); got != "rotate me" {
			t.Errorf("decrypt of rewrapped = %q, want %q", got, "rotate me")
		}
		if got := ciphertext(e.must("", "transit", "rewrap", "-key", "rot", ct)); !strings.HasPrefix(got, "vault:v2:") {
			t.Errorf("rewrap table = %q, want a v2 ciphertext", got)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		const secret = "Pl41ntext-never-shown"
		ct := ciphertext(e.must(secret, "transit", "encrypt", "-key", "app"))
		forged := "vault:v1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 40))
		tests := []struct {
			name       string
			stdin      string
			args       []string
			wantCode   int
			wantStderr string
		}{
			{"no subcommand", "", []string{"transit"}, ExitUsage, `missing subcommand for "vaultly transit"`},
			{"encrypt without -key", secret, []string{"transit", "encrypt"}, ExitUsage, "missing -key NAME"},
			{"decrypt without -key", "", []string{"transit", "decrypt", ct}, ExitUsage, "missing -key NAME"},
			{"rewrap without -key", "", []string{"transit", "rewrap", ct}, ExitUsage, "missing -key NAME"},
			{"plaintext as argument", "", []string{"transit", "encrypt", "-key", "app", secret}, ExitUsage, "never from an argument"},
			{"missing plaintext file", "", []string{"transit", "encrypt", "-key", "app", "@no-such-file"}, ExitUsage, "plaintext file"},
			{"decrypt without ciphertext", "", []string{"transit", "decrypt", "-key", "app"}, ExitUsage, "missing CIPHERTEXT"},
			{"malformed ciphertext", "", []string{"transit", "decrypt", "-key", "app", "not-a-ciphertext"}, ExitUsage, "not of the form vault:v<N>:<data>"},
			{"rewrap malformed", "", []string{"transit", "rewrap", "-key", "app", "vault:x:abc"}, ExitUsage, "not of the form"},
			{"ciphertext not base64", "", []string{"transit", "decrypt", "-key", "app", "vault:v1:!!!"}, ExitError, "transit decrypt app (vault): invalid argument"},
			{"wrong key", "", []string{"transit", "decrypt", "-key", "other", ct}, ExitError, `not encrypted with key "other"`},
			{"forged ciphertext", "", []string{"transit", "decrypt", "-key", "app", forged}, ExitError, "invalid argument"},
			{"unknown key", "", []string{"transit", "decrypt", "-key", "nosuch", ct}, ExitError, `no transit key named "nosuch"`},
			{"unknown mount", secret, []string{"transit", "encrypt", "-mount", "nowhere", "-key", "app"}, ExitError, "transit encrypt app (vault): not found"},
			{"empty mount", secret, []string{"transit", "encrypt", "-mount=/", "-key", "app"}, ExitUsage, "-mount must not be empty"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.run(tt.stdin, tt.args...)
				checkResult(t, "vaultly "+strings.Join(tt.args, " "), r, tt.wantCode, tt.wantStderr)
				if r.stdout != "" {
					t.Errorf("stdout = %q, want nothing", r.stdout)
				}
				if strings.Contains(r.stderr, secret) || strings.Contains(r.stderr, srv.Token) {
					t.Errorf("stderr holds the plaintext or the token: %q", r.stderr)
				}
			})
		}
	})
}

// TestTransitPrompt runs encrypt on a pseudo-terminal: with no argument
// it asks for the plaintext without echo.
func TestTransitPrompt(t *testing.T) {
	t.Parallel()
	scriptBin(t)
	srv := shared(t)
	e := newEnv(t, srv)
	srv.EnableSecrets(t, "cli-prompt", "transit", nil)
	srv.Write(t, "cli-prompt/keys/app", nil)
	r := onTTY(t, e, "typed-plain-77\n", "transit", "encrypt", "-mount=cli-prompt", "-key", "app")
	if r.code != 0 || !strings.Contains(r.stdout, "Plaintext (hidden):") || strings.Contains(r.stdout, "typed-plain-77") {
		t.Fatalf("encrypt on a terminal: exit %d, output %q (want the prompt, without echo)", r.code, r.stdout)
	}
	i := strings.Index(r.stdout, "vault:v1:")
	if i < 0 {
		t.Fatalf("encrypt on a terminal printed no ciphertext: %q", r.stdout)
	}
	ct := strings.Fields(r.stdout[i:])[0]
	data := e.vaultJSON("write", "-format=json", "cli-prompt/decrypt/app", "ciphertext="+ct)
	if got, _ := base64.StdEncoding.DecodeString(data["plaintext"].(string)); string(got) != "typed-plain-77" {
		t.Errorf("vault decrypt of the prompted plaintext = %q, want %q", got, "typed-plain-77")
	}
}

func TestExtraCommandsHelpAndCompletion(t *testing.T) {
	t.Parallel()
	e := newEnv(t, shared(t))
	for _, c := range [][]string{{"creds"}, {"lease"}, {"lease", "renew"}, {"lease", "revoke"}, {"lease", "lookup"},
		{"transit"}, {"transit", "encrypt"}, {"transit", "decrypt"}, {"transit", "rewrap"}} {
		args := append(append([]string{}, c...), "-help")
		r := e.run("", args...)
		if r.code != 0 || !strings.Contains(r.stdout, "Examples:\n  vaultly "+c[0]) {
			t.Errorf("vaultly %s: exit %d, want help with an example:\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
	if out := e.must("", "-help"); !strings.Contains(out, "creds") || !strings.Contains(out, "lease") || !strings.Contains(out, "transit") {
		t.Errorf("vaultly -help does not list creds, lease and transit:\n%s", out)
	}
	// The shell scripts `completion` prints ask `vaultly __complete`.
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", ""}, []string{"creds", "lease", "transit"}},
		{[]string{"__complete", "lease", ""}, []string{"renew", "revoke", "lookup"}},
		{[]string{"__complete", "transit", ""}, []string{"encrypt", "decrypt", "rewrap"}},
		{[]string{"__complete", "transit", "encrypt", "--"}, []string{"--key", "--mount"}},
	}
	for _, tt := range tests {
		out := e.must("", tt.args...)
		for _, w := range tt.want {
			if !strings.Contains(out, "\n"+w+"\t") && !strings.HasPrefix(out, w+"\t") && !strings.Contains(out, "\n"+w+"\n") && !strings.HasPrefix(out, w+"\n") {
				t.Errorf("vaultly %s lacks %q:\n%s", strings.Join(tt.args, " "), w, out)
			}
		}
	}
}
