package transit

import (
	"context"
	"errors"
	"net/url"

	"github.com/hashicorp/vault/api"

	vaultly "github.com/vaultly/vaultly"
)

// SignOptions tunes Sign and Verify. A nil *SignOptions means the defaults.
type SignOptions struct {
	// Hash is the hash algorithm: "sha2-256", "sha2-384", "sha2-512",
	// "sha3-256", ... Default "": Vault's default (sha2-256). Ignored for
	// ed25519 keys.
	Hash string
	// Prehashed says the input is already a digest. Default false.
	Prehashed bool
	// SignatureAlgorithm is "pss" or "pkcs1v15" for RSA keys. Default "":
	// Vault's default (pss).
	SignatureAlgorithm string
	// KeyVersion signs with this version. Default 0: the latest. Verify
	// reads the version from the signature and ignores it.
	KeyVersion int
	// Context is the key derivation context for derived keys. Default nil.
	Context []byte
}

func (o *SignOptions) data(input []byte) map[string]any {
	data := map[string]any{"input": b64(input)}
	if o == nil {
		return data
	}
	if o.Hash != "" {
		data["hash_algorithm"] = o.Hash
	}
	if o.Prehashed {
		data["prehashed"] = true
	}
	if o.SignatureAlgorithm != "" {
		data["signature_algorithm"] = o.SignatureAlgorithm
	}
	if o.Context != nil {
		data["context"] = b64(o.Context)
	}
	return data
}

// Sign signs input with the named asymmetric key (ed25519, ecdsa-*, rsa-*).
func (t *Transit) Sign(ctx context.Context, key string, input []byte, opts *SignOptions) (Signature, error) {
	data := opts.data(input)
	if opts != nil && opts.KeyVersion > 0 {
		data["key_version"] = opts.KeyVersion
	}
	out, err := t.write(ctx, "sign", key, t.path("sign", key), data)
	if err != nil {
		return "", err
	}
	sig := Signature(str(out, "signature"))
	if sig.Version() == 0 {
		return "", t.missing("sign", key, "signature")
	}
	return sig, nil
}

// Verify reports whether sig is a valid signature of input by the named
// key. A signature that does not match is (false, nil); an error means the
// question could not be answered (bad signature format, missing key, ...).
func (t *Transit) Verify(ctx context.Context, key string, input []byte, sig Signature, opts *SignOptions) (bool, error) {
	if sig.Version() == 0 {
		return false, t.invalid("verify", key, "signature is not of the form vault:v<N>:<data>")
	}
	data := opts.data(input)
	data["signature"] = string(sig)
	out, err := t.write(ctx, "verify", key, t.path("verify", key), data)
	if err != nil {
		return false, err
	}
	v, ok := out["valid"].(bool)
	if !ok {
		return false, t.missing("verify", key, "valid")
	}
	return v, nil
}

// HMACOptions tunes HMAC and VerifyHMAC. A nil *HMACOptions means the
// defaults.
type HMACOptions struct {
	// Algorithm is the hash: "sha2-256", "sha2-512", ... Default "": Vault's
	// default (sha2-256).
	Algorithm string
	// KeyVersion computes with this version. Default 0: the latest.
	// VerifyHMAC reads the version from the HMAC and ignores it.
	KeyVersion int
}

// HMAC computes the HMAC of input with the named key.
func (t *Transit) HMAC(ctx context.Context, key string, input []byte, opts *HMACOptions) (HMAC, error) {
	data := map[string]any{"input": b64(input)}
	if opts != nil {
		if opts.Algorithm != "" {
			data["algorithm"] = opts.Algorithm
		}
		if opts.KeyVersion > 0 {
			data["key_version"] = opts.KeyVersion
		}
	}
	out, err := t.write(ctx, "hmac", key, t.path("hmac", key), data)
	if err != nil {
		return "", err
	}
	h := HMAC(str(out, "hmac"))
	if h.Version() == 0 {
		return "", t.missing("hmac", key, "hmac")
	}
	return h, nil
}

// VerifyHMAC reports whether mac is the HMAC of input under the named key
// (false, nil when it is not).
func (t *Transit) VerifyHMAC(ctx context.Context, key string, input []byte, mac HMAC, opts *HMACOptions) (bool, error) {
	if mac.Version() == 0 {
		return false, t.invalid("verify hmac", key, "hmac is not of the form vault:v<N>:<data>")
	}
	data := map[string]any{"input": b64(input), "hmac": string(mac)}
	if opts != nil && opts.Algorithm != "" {
		data["algorithm"] = opts.Algorithm
	}
	out, err := t.write(ctx, "verify hmac", key, t.path("verify", key), data)
	if err != nil {
		return false, err
	}
	v, ok := out["valid"].(bool)
	if !ok {
		return false, t.missing("verify hmac", key, "valid")
	}
	return v, nil
}

// KeyOptions configures CreateKey. A nil *KeyOptions means the defaults.
type KeyOptions struct {
	// Type is the key type: "aes256-gcm96", "chacha20-poly1305",
	// "ed25519", "ecdsa-p256", "rsa-2048", "hmac", ... Default "":
	// Vault's default (aes256-gcm96).
	Type string
	// Derived enables key derivation; every call then needs a context.
	// Default false.
	Derived bool
}

// CreateKey creates the named key. Creating a key that exists is not an
// error and leaves it unchanged.
func (t *Transit) CreateKey(ctx context.Context, key string, opts *KeyOptions) error {
	data := map[string]any{}
	if opts != nil {
		if opts.Type != "" {
			data["type"] = opts.Type
		}
		if opts.Derived {
			data["derived"] = true
		}
	}
	_, err := t.write(ctx, "create key", key, t.mount+"/keys/"+url.PathEscape(key), data)
	return err
}

// RotateKey adds a new version to the named key; new encryptions use it,
// old ciphertexts still decrypt and can be moved to it with Rewrap.
// It returns the new latest version.
func (t *Transit) RotateKey(ctx context.Context, key string) (int, error) {
	out, err := t.write(ctx, "rotate key", key, t.mount+"/keys/"+url.PathEscape(key)+"/rotate", nil)
	if err != nil {
		return 0, err
	}
	// Vault 1.x answers rotate with the key's description; older ones with
	// nothing, so fall back to reading the key.
	if v := num(out, "latest_version"); v > 0 {
		return v, nil
	}
	info, err := t.Key(ctx, key)
	if err != nil {
		return 0, err
	}
	return info.LatestVersion, nil
}

// KeyInfo describes a transit key; it holds no key material.
type KeyInfo struct {
	Name                 string
	Type                 string
	LatestVersion        int
	MinDecryptionVersion int
	Derived              bool
}

// Key reads the named key's description.
func (t *Transit) Key(ctx context.Context, key string) (*KeyInfo, error) {
	if err := checkName("key name", key, false); err != nil {
		return nil, t.invalid("read key", key, err.Error())
	}
	var out map[string]any
	err := t.call(ctx, "read key", func(ctx context.Context, c *api.Client) error {
		s, err := c.Logical().ReadWithContext(ctx, t.mount+"/keys/"+url.PathEscape(key))
		if err != nil {
			return err
		}
		if s != nil {
			out = s.Data
		}
		return nil
	})
	if err != nil {
		return nil, t.wrap("read key", key, err)
	}
	if out == nil {
		return nil, &vaultly.Error{Op: "transit read key", Ref: key, Backend: t.backend, Code: vaultly.NotFound,
			Err: errors.New("no such key"), Hint: "create it with CreateKey or `vault write -f " + t.mount + "/keys/<name>`"}
	}
	d, _ := out["derived"].(bool)
	return &KeyInfo{
		Name:                 str(out, "name"),
		Type:                 str(out, "type"),
		LatestVersion:        num(out, "latest_version"),
		MinDecryptionVersion: num(out, "min_decryption_version"),
		Derived:              d,
	}, nil
}
