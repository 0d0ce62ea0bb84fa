package transit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/vault/api"
	"go.uber.org/goleak"

	vaultly "github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/internal/testing/vaulttest"
	"github.com/vaultly/vaultly/transit"
)

var _ transit.Caller = (*hashivault.Backend)(nil)

func TestMain(m *testing.M) {
	stop, err := startExampleVault()
	if err != nil {
		fmt.Fprintln(os.Stderr, "vault for the examples:", err)
		os.Exit(1)
	}
	// The tests wait on Vault more than on the CPU: outside the soak tier
	// run up to 8 at once. They share the examples' dev server, each with a
	// transit mount of its own (setup): the package alone took 3.2 s and
	// 5.1 s of CPU with a server per test, 0.6-1.1 s and 2.5 s now.
	if !vaulttest.Soak() {
		vaulttest.ParallelWaiting(8)
	}
	code := m.Run()
	stop()
	if code == 0 {
		if err := goleak.Find(vaulttest.IgnoreIdleConns()...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// env is a transit engine of a test's own, mounted on the package's dev
// server (the one the examples use, exampleServer) at mount, and a
// hashivault backend using the root token.
type env struct {
	srv   *vaulttest.Server
	mount string
	raw   *api.Client
	tr    *transit.Transit
}

// mounts numbers the tests' transit mounts.
var mounts atomic.Int64

func setup(t testing.TB) *env {
	t.Helper()
	srv := exampleServer
	if srv == nil { // no Vault binary: Start skips or fails t
		srv = vaulttest.Start(t, nil)
	}
	mount := "transit-" + strconv.FormatInt(mounts.Add(1), 10)
	srv.EnableSecrets(t, mount, "transit", nil)
	b, err := hashivault.New(context.Background(), &hashivault.Options{Address: srv.Addr, Token: srv.Token, ConfigFile: "-"})
	if err != nil {
		t.Fatalf("hashivault.New: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	tr, err := transit.New(b, &transit.Options{Mount: mount})
	if err != nil {
		t.Fatalf("transit.New: %v", err)
	}
	return &env{srv: srv, mount: mount, raw: srv.Client(t), tr: tr}
}

// key creates a transit key with the raw client (not the code under test).
func (e *env) key(t testing.TB, name, typ string, extra map[string]any) {
	t.Helper()
	data := map[string]any{"type": typ}
	for k, v := range extra {
		data[k] = v
	}
	if _, err := e.raw.Logical().WriteWithContext(context.Background(), e.mount+"/keys/"+name, data); err != nil {
		t.Fatalf("create key %s: %v", name, err)
	}
}

func (e *env) rotate(t testing.TB, name string) {
	t.Helper()
	if _, err := e.raw.Logical().WriteWithContext(context.Background(), e.mount+"/keys/"+name+"/rotate", nil); err != nil {
		t.Fatalf("rotate %s: %v", name, err)
	}
}

func TestEncryptDecryptRoundTrip(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	e.key(t, "aes", "aes256-gcm96", nil)
	e.key(t, "chacha", "chacha20-poly1305", nil)
	e.key(t, "derived", "aes256-gcm96", map[string]any{"derived": true})

	tests := []struct {
		name      string
		key       string
		plaintext []byte
		context   []byte
	}{
		{"text", "aes", []byte("hunter2"), nil},
		{"empty", "aes", []byte{}, nil},
		{"binary", "aes", []byte{0, 1, 2, 0xff, 0xfe, '\n'}, nil},
		{"large", "aes", bytes.Repeat([]byte("0123456789abcdef"), 4096), nil},
		{"chacha", "chacha", []byte("secret"), nil},
		{"derived", "derived", []byte("per-tenant"), []byte("tenant-42")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct, err := e.tr.Encrypt(ctx, tt.key, tt.plaintext, tt.context, nil)
			if err != nil {
				t.Fatalf("Encrypt: %v", err)
			}
			if got, want := ct.Version(), 1; got != want {
				t.Errorf("Encrypt(%q).Version() = %d, want %d", tt.key, got, want)
			}
			if len(tt.plaintext) > 0 && strings.Contains(string(ct), string(tt.plaintext)) {
				t.Errorf("ciphertext contains the plaintext")
			}
			got, err := e.tr.Decrypt(ctx, tt.key, ct, tt.context)
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Errorf("Decrypt(Encrypt(p)) = %d bytes, want the original %d bytes", len(got), len(tt.plaintext))
			}
			// The raw API agrees: the ciphertext is a real transit ciphertext.
			data := map[string]any{"ciphertext": string(ct)}
			if tt.context != nil {
				data["context"] = b64(tt.context)
			}
			s, err := e.raw.Logical().WriteWithContext(ctx, e.mount+"/decrypt/"+tt.key, data)
			if err != nil {
				t.Fatalf("raw decrypt: %v", err)
			}
			if got, want := s.Data["plaintext"], b64(tt.plaintext); got != want && !(got == nil && want == "") {
				t.Errorf("raw decrypt plaintext = %v, want %v", got, want)
			}
		})
	}
}

func TestRewrapAfterRotate(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	if err := e.tr.CreateKey(ctx, "app", nil); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	plain := []byte("rotate me")
	ct1, err := e.tr.Encrypt(ctx, "app", plain, nil, nil)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	for want := 2; want <= 3; want++ {
		v, err := e.tr.RotateKey(ctx, "app")
		if err != nil {
			t.Fatalf("RotateKey: %v", err)
		}
		if v != want {
			t.Errorf("RotateKey() = %d, want %d", v, want)
		}
	}
	info, err := e.tr.Key(ctx, "app")
	if err != nil {
		t.Fatalf("Key: %v", err)
	}
	if diff := cmp.Diff(&transit.KeyInfo{Name: "app", Type: "aes256-gcm96", LatestVersion: 3, MinDecryptionVersion: 1}, info); diff != "" {
		t.Errorf("Key() mismatch (-want +got):\n%s", diff)
	}

	ct3, err := e.tr.Rewrap(ctx, "app", ct1, nil)
	if err != nil {
		t.Fatalf("Rewrap: %v", err)
	}
	if got, want := ct3.Version(), 3; got != want {
		t.Errorf("Rewrap version = %d, want %d (was %d)", got, want, ct1.Version())
	}
	ct2, err := e.tr.Rewrap(ctx, "app", ct1, &transit.RewrapOptions{KeyVersion: 2})
	if err != nil {
		t.Fatalf("Rewrap to v2: %v", err)
	}
	if got, want := ct2.Version(), 2; got != want {
		t.Errorf("Rewrap(KeyVersion 2) version = %d, want %d", got, want)
	}
	for _, ct := range []transit.Ciphertext{ct1, ct2, ct3} {
		got, err := e.tr.Decrypt(ctx, "app", ct, nil)
		if err != nil {
			t.Fatalf("Decrypt(v%d): %v", ct.Version(), err)
		}
		if !bytes.Equal(got, plain) {
			t.Errorf("Decrypt(v%d) = %q, want %q", ct.Version(), got, plain)
		}
	}
	// New encryptions use the latest version; an old one can be asked for.
	ctNew, err := e.tr.Encrypt(ctx, "app", plain, nil, nil)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	ctOld, err := e.tr.Encrypt(ctx, "app", plain, nil, &transit.EncryptOptions{KeyVersion: 1})
	if err != nil {
		t.Fatalf("Encrypt(KeyVersion 1): %v", err)
	}
	if ctNew.Version() != 3 || ctOld.Version() != 1 {
		t.Errorf("Encrypt versions = %d, %d; want 3, 1", ctNew.Version(), ctOld.Version())
	}
	// After min_decryption_version moves up, the v1 ciphertext no longer
	// decrypts, but its rewrapped form does.
	if _, err := e.raw.Logical().WriteWithContext(ctx, e.mount+"/keys/app/config", map[string]any{"min_decryption_version": 2}); err != nil {
		t.Fatalf("config key: %v", err)
	}
	if _, err := e.tr.Decrypt(ctx, "app", ct1, nil); vaultly.CodeOf(err) != vaultly.InvalidArgument {
		t.Errorf("Decrypt(v1 below min version) error = %v, want code %v", err, vaultly.InvalidArgument)
	}
	if _, err := e.tr.Decrypt(ctx, "app", ct3, nil); err != nil {
		t.Errorf("Decrypt(rewrapped) after min version raised: %v", err)
	}
}

func TestBatch(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	e.key(t, "batch", "aes256-gcm96", nil)
	const n = 100
	items := make([]transit.EncryptItem, n)
	for i := range items {
		items[i].Plaintext = fmt.Appendf(nil, "secret-%03d", i)
	}
	enc, err := e.tr.EncryptBatch(ctx, "batch", items, nil)
	if err != nil {
		t.Fatalf("EncryptBatch: %v", err)
	}
	if len(enc) != n {
		t.Fatalf("EncryptBatch returned %d results, want %d", len(enc), n)
	}
	dec := make([]transit.DecryptItem, n)
	seen := map[transit.Ciphertext]bool{}
	for i, r := range enc {
		if r.Err != nil {
			t.Fatalf("item %d: %v", i, r.Err)
		}
		if seen[r.Ciphertext] {
			t.Errorf("item %d: duplicate ciphertext", i)
		}
		seen[r.Ciphertext] = true
		dec[i].Ciphertext = r.Ciphertext
	}
	// Make item 7 fail: a ciphertext from another key.
	e.key(t, "other", "aes256-gcm96", nil)
	foreign, err := e.tr.Encrypt(ctx, "other", []byte("x"), nil, nil)
	if err != nil {
		t.Fatalf("Encrypt(other): %v", err)
	}
	dec[7].Ciphertext = foreign
	out, err := e.tr.DecryptBatch(ctx, "batch", dec)
	if err != nil {
		t.Fatalf("DecryptBatch: %v", err)
	}
	if len(out) != n {
		t.Fatalf("DecryptBatch returned %d results, want %d", len(out), n)
	}
	for i, r := range out {
		if i == 7 {
			if r.Err == nil || vaultly.CodeOf(r.Err) != vaultly.InvalidArgument {
				t.Errorf("item 7 (foreign ciphertext): err = %v, want InvalidArgument", r.Err)
			}
			if r.Err != nil && !strings.Contains(r.Err.Error(), "batch[7]") {
				t.Errorf("item 7 error %q does not name the item", r.Err)
			}
			continue
		}
		if r.Err != nil {
			t.Errorf("item %d: %v", i, r.Err)
			continue
		}
		if got, want := string(r.Plaintext), string(items[i].Plaintext); got != want {
			t.Errorf("item %d = %q, want %q", i, got, want)
		}
	}
	// Every item failing still gives per-item results, not a lost response.
	bad := []transit.DecryptItem{{Ciphertext: foreign}, {Ciphertext: foreign}}
	out, err = e.tr.DecryptBatch(ctx, "batch", bad)
	if err != nil {
		t.Fatalf("DecryptBatch(all bad): %v", err)
	}
	for i, r := range out {
		if r.Err == nil {
			t.Errorf("all-bad item %d: no error", i)
		}
	}
}

func TestDataKeyEnvelope(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	e.key(t, "kek", "aes256-gcm96", nil)

	for _, bits := range []int{0, 128, 256, 512} {
		t.Run(fmt.Sprint("bits", bits), func(t *testing.T) {
			dk, err := e.tr.GenerateDataKey(ctx, "kek", &transit.DataKeyOptions{Bits: bits})
			if err != nil {
				t.Fatalf("GenerateDataKey: %v", err)
			}
			want := bits / 8
			if bits == 0 {
				want = 32
			}
			if got := len(dk.Reveal()); got != want {
				t.Errorf("data key length = %d, want %d", got, want)
			}
			// The wrapped key decrypts (through Vault) to the same key.
			got, err := e.tr.Decrypt(ctx, "kek", dk.Wrapped(), nil)
			if err != nil {
				t.Fatalf("Decrypt(wrapped): %v", err)
			}
			if !bytes.Equal(got, dk.Reveal()) {
				t.Errorf("unwrapped key differs from the plaintext key")
			}
		})
	}

	plain := []byte(`{"card":"4111 1111 1111 1111"}`)
	aad := []byte("record-17")
	env, err := e.tr.Seal(ctx, "kek", plain, aad)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if bytes.Contains(env.Data, plain) {
		t.Errorf("sealed data contains the plaintext")
	}
	js, err := json.Marshal(env)
	if err != nil {
		t.Fatalf("marshal envelope: %v", err)
	}
	var back transit.Envelope
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatalf("unmarshal envelope: %v", err)
	}
	got, err := e.tr.Open(ctx, "kek", &back, aad)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if !bytes.Equal(got, plain) {
		t.Errorf("Open(Seal(p)) = %q, want %q", got, plain)
	}
	if _, err := e.tr.Open(ctx, "kek", &back, []byte("record-18")); vaultly.CodeOf(err) != vaultly.InvalidArgument {
		t.Errorf("Open with wrong aad: err = %v, want InvalidArgument", err)
	}
	tampered := back
	tampered.Data = bytes.Clone(back.Data)
	tampered.Data[len(tampered.Data)-1] ^= 1
	if _, err := e.tr.Open(ctx, "kek", &tampered, aad); vaultly.CodeOf(err) != vaultly.InvalidArgument {
		t.Errorf("Open of tampered data: err = %v, want InvalidArgument", err)
	}

	// One data key, many local seals; Destroy makes it unusable.
	dk, err := e.tr.GenerateDataKey(ctx, "kek", nil)
	if err != nil {
		t.Fatalf("GenerateDataKey: %v", err)
	}
	s1, err := dk.Seal([]byte("a"), nil)
	if err != nil {
		t.Fatalf("DataKey.Seal: %v", err)
	}
	dk2, err := e.tr.UnwrapDataKey(ctx, "kek", dk.Wrapped(), nil)
	if err != nil {
		t.Fatalf("UnwrapDataKey: %v", err)
	}
	if p, err := dk2.Open(s1, nil); err != nil || string(p) != "a" {
		t.Errorf("unwrapped key Open = %q, %v; want \"a\", nil", p, err)
	}
	dk.Destroy()
	if _, err := dk.Seal([]byte("b"), nil); err == nil {
		t.Errorf("Seal after Destroy: no error")
	}
}

func TestSignVerify(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	tests := []struct {
		typ  string
		opts *transit.SignOptions
	}{
		{"ed25519", nil},
		{"ecdsa-p256", &transit.SignOptions{Hash: "sha2-256"}},
		{"rsa-2048", &transit.SignOptions{Hash: "sha2-512", SignatureAlgorithm: "pkcs1v15"}},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			if err := e.tr.CreateKey(ctx, tt.typ, &transit.KeyOptions{Type: tt.typ}); err != nil {
				t.Fatalf("CreateKey: %v", err)
			}
			msg := []byte("release v1.2.3")
			sig, err := e.tr.Sign(ctx, tt.typ, msg, tt.opts)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if sig.Version() != 1 {
				t.Errorf("Sign version = %d, want 1", sig.Version())
			}
			for _, c := range []struct {
				input []byte
				want  bool
			}{{msg, true}, {[]byte("release v1.2.4"), false}} {
				got, err := e.tr.Verify(ctx, tt.typ, c.input, sig, tt.opts)
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if got != c.want {
					t.Errorf("Verify(%q) = %v, want %v", c.input, got, c.want)
				}
			}
			// After rotation old signatures still verify; new ones carry v2.
			e.rotate(t, tt.typ)
			sig2, err := e.tr.Sign(ctx, tt.typ, msg, tt.opts)
			if err != nil {
				t.Fatalf("Sign after rotate: %v", err)
			}
			if sig2.Version() != 2 {
				t.Errorf("Sign after rotate version = %d, want 2", sig2.Version())
			}
			for _, s := range []transit.Signature{sig, sig2} {
				if ok, err := e.tr.Verify(ctx, tt.typ, msg, s, tt.opts); err != nil || !ok {
					t.Errorf("Verify(v%d) = %v, %v; want true, nil", s.Version(), ok, err)
				}
			}
		})
	}
}

func TestHMAC(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	e.key(t, "mac", "hmac", map[string]any{"key_size": 32})
	for _, alg := range []string{"", "sha2-512"} {
		t.Run("alg="+alg, func(t *testing.T) {
			opts := &transit.HMACOptions{Algorithm: alg}
			in := []byte("webhook body")
			mac, err := e.tr.HMAC(ctx, "mac", in, opts)
			if err != nil {
				t.Fatalf("HMAC: %v", err)
			}
			again, err := e.tr.HMAC(ctx, "mac", in, opts)
			if err != nil {
				t.Fatalf("HMAC: %v", err)
			}
			if mac != again || mac.Version() != 1 {
				t.Errorf("HMAC twice = %q, %q; want equal, version 1", mac, again)
			}
			for _, c := range []struct {
				input []byte
				want  bool
			}{{in, true}, {[]byte("webhook b0dy"), false}} {
				got, err := e.tr.VerifyHMAC(ctx, "mac", c.input, mac, opts)
				if err != nil {
					t.Fatalf("VerifyHMAC: %v", err)
				}
				if got != c.want {
					t.Errorf("VerifyHMAC(%q) = %v, want %v", c.input, got, c.want)
				}
			}
		})
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	e.key(t, "a", "aes256-gcm96", nil)
	e.key(t, "b", "aes256-gcm96", nil)
	const secret = "canary-plaintext-7f3a"
	ctA, err := e.tr.Encrypt(ctx, "a", []byte(secret), nil, nil)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	// A token that may use only key "a".
	e.srv.WritePolicy(t, "only-a", `path "`+e.mount+`/encrypt/a" { capabilities = ["update"] }`)
	tok := e.srv.CreateToken(t, &api.TokenCreateRequest{Policies: []string{"only-a"}})
	lb, err := hashivault.New(ctx, &hashivault.Options{Address: e.srv.Addr, Token: tok, ConfigFile: "-"})
	if err != nil {
		t.Fatalf("hashivault.New: %v", err)
	}
	defer lb.Close()
	limited, err := transit.New(lb, &transit.Options{Mount: e.mount})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		call     func() error
		code     vaultly.Code
		contains []string
	}{
		{"wrong key decrypt", func() error { _, err := e.tr.Decrypt(ctx, "b", ctA, nil); return err },
			vaultly.InvalidArgument, []string{"transit decrypt", "not encrypted with key \"b\""}},
		{"missing key", func() error { _, err := e.tr.Decrypt(ctx, "nope", ctA, nil); return err },
			vaultly.NotFound, []string{"nope"}},
		{"missing key info", func() error { _, err := e.tr.Key(ctx, "nope"); return err },
			vaultly.NotFound, []string{"nope"}},
		{"malformed ciphertext", func() error { _, err := e.tr.Decrypt(ctx, "a", "garbage", nil); return err },
			vaultly.InvalidArgument, []string{"vault:v<N>"}},
		{"bad key name", func() error { _, err := e.tr.Encrypt(ctx, "../sys/seal", []byte(secret), nil, nil); return err },
			vaultly.InvalidArgument, []string{"key name"}},
		{"bad bits", func() error { _, err := e.tr.GenerateDataKey(ctx, "a", &transit.DataKeyOptions{Bits: 100}); return err },
			vaultly.InvalidArgument, []string{"bits"}},
		{"permission denied", func() error { _, err := limited.Decrypt(ctx, "a", ctA, nil); return err },
			vaultly.PermissionDenied, []string{"transit decrypt"}},
		{"derived key without context", func() error {
			e.key(t, "d", "aes256-gcm96", map[string]any{"derived": true})
			_, err := e.tr.Encrypt(ctx, "d", []byte(secret), nil, nil)
			return err
		}, vaultly.InvalidArgument, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil {
				t.Fatalf("no error, want %v", tt.code)
			}
			var ve *vaultly.Error
			if !errors.As(err, &ve) {
				t.Fatalf("error %T is not a *vaultly.Error", err)
			}
			if got := vaultly.CodeOf(err); got != tt.code {
				t.Errorf("code = %v, want %v (err: %v)", got, tt.code, err)
			}
			msg := err.Error()
			t.Logf("error: %s", msg)
			for _, s := range tt.contains {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not contain %q", msg, s)
				}
			}
			for _, leak := range []string{secret, b64([]byte(secret)), e.srv.Token, tok} {
				if strings.Contains(msg, leak) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), leak) {
					t.Errorf("error leaks a secret: %q", msg)
				}
			}
		})
	}
}

func TestDataKeyRedaction(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	e.key(t, "kek", "aes256-gcm96", nil)
	dk, err := e.tr.GenerateDataKey(ctx, "kek", nil)
	if err != nil {
		t.Fatalf("GenerateDataKey: %v", err)
	}
	key := dk.Reveal()
	forms := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X"} {
		forms[verb] = fmt.Sprintf(verb, dk)
	}
	type holder struct{ k *transit.DataKey }
	forms["nested"] = fmt.Sprintf("%+v", holder{dk})
	js, _ := json.Marshal(dk)
	forms["json"] = string(js)
	txt, _ := dk.MarshalText()
	forms["text"] = string(txt)
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("dk", "key", dk)
	forms["slog"] = buf.String()
	for name, s := range forms {
		for _, enc := range []string{string(key), b64(key), fmt.Sprintf("%x", key), fmt.Sprintf("%X", key), fmt.Sprint(key)} {
			if strings.Contains(s, enc) {
				t.Errorf("%s form leaks the data key: %s", name, s)
			}
		}
	}
	if !strings.Contains(forms["json"], string(dk.Wrapped())) {
		t.Errorf("json form %s lacks the wrapped key", forms["json"])
	}
}
