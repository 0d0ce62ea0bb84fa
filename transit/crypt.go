package transit

import (
	"context"
)

// EncryptOptions tunes Encrypt and EncryptBatch. A nil *EncryptOptions means
// the defaults.
type EncryptOptions struct {
	// KeyVersion encrypts with this version of the key. Default 0: the
	// latest version.
	KeyVersion int
}

// Encrypt encrypts plaintext with the named key. keyContext is the key
// derivation context for keys created with derived=true (nil otherwise).
func (t *Transit) Encrypt(ctx context.Context, key string, plaintext, keyContext []byte, opts *EncryptOptions) (Ciphertext, error) {
	data := map[string]any{"plaintext": b64(plaintext)}
	if keyContext != nil {
		data["context"] = b64(keyContext)
	}
	if opts != nil && opts.KeyVersion > 0 {
		data["key_version"] = opts.KeyVersion
	}
	out, err := t.write(ctx, "encrypt", key, t.path("encrypt", key), data)
	if err != nil {
		return "", err
	}
	ct := Ciphertext(str(out, "ciphertext"))
	if !ct.Valid() {
		return "", t.missing("encrypt", key, "ciphertext")
	}
	return ct, nil
}

// Decrypt decrypts ct with the named key; keyContext is as for Encrypt. A
// ciphertext that the key did not produce (or a wrong keyContext) is an
// InvalidArgument error saying so.
func (t *Transit) Decrypt(ctx context.Context, key string, ct Ciphertext, keyContext []byte) ([]byte, error) {
	if !ct.Valid() {
		return nil, t.invalid("decrypt", key, "ciphertext is not of the form vault:v<N>:<data>")
	}
	data := map[string]any{"ciphertext": string(ct)}
	if keyContext != nil {
		data["context"] = b64(keyContext)
	}
	out, err := t.write(ctx, "decrypt", key, t.path("decrypt", key), data)
	if err != nil {
		return nil, err
	}
	p, ok := out["plaintext"].(string)
	if !ok {
		return nil, t.missing("decrypt", key, "plaintext")
	}
	return t.decode64("decrypt", key, p)
}

// RewrapOptions tunes Rewrap. A nil *RewrapOptions means the defaults.
type RewrapOptions struct {
	// KeyVersion rewraps to this version. Default 0: the latest version.
	KeyVersion int
	// Context is the key derivation context for derived keys. Default nil.
	Context []byte
}

// Rewrap re-encrypts ct with the latest (or the given) version of the key
// without the plaintext ever leaving Vault; use it after rotating a key.
func (t *Transit) Rewrap(ctx context.Context, key string, ct Ciphertext, opts *RewrapOptions) (Ciphertext, error) {
	if !ct.Valid() {
		return "", t.invalid("rewrap", key, "ciphertext is not of the form vault:v<N>:<data>")
	}
	data := map[string]any{"ciphertext": string(ct)}
	if opts != nil {
		if opts.KeyVersion > 0 {
			data["key_version"] = opts.KeyVersion
		}
		if opts.Context != nil {
			data["context"] = b64(opts.Context)
		}
	}
	out, err := t.write(ctx, "rewrap", key, t.path("rewrap", key), data)
	if err != nil {
		return "", err
	}
	nct := Ciphertext(str(out, "ciphertext"))
	if !nct.Valid() {
		return "", t.missing("rewrap", key, "ciphertext")
	}
	return nct, nil
}

// EncryptItem is one plaintext of a batch.
type EncryptItem struct {
	Plaintext []byte
	Context   []byte // key derivation context for derived keys; nil otherwise
}

// EncryptResult is the outcome of one batch item: a ciphertext or an error
// (a *vaultly.Error whose Ref is "key[i]").
type EncryptResult struct {
	Ciphertext Ciphertext
	Err        error
}

// EncryptBatch encrypts every item in one request. The results are in the
// order of items. The returned error is for the request as a whole; an item
// that Vault rejected has its own Err and the other items still succeed.
func (t *Transit) EncryptBatch(ctx context.Context, key string, items []EncryptItem, opts *EncryptOptions) ([]EncryptResult, error) {
	if len(items) == 0 {
		return nil, nil
	}
	in := make([]map[string]any, len(items))
	for i, it := range items {
		m := map[string]any{"plaintext": b64(it.Plaintext)}
		if it.Context != nil {
			m["context"] = b64(it.Context)
		}
		in[i] = m
	}
	data := map[string]any{"batch_input": in}
	if opts != nil && opts.KeyVersion > 0 {
		data["key_version"] = opts.KeyVersion
	}
	res, err := t.writeBatch(ctx, "encrypt", key, t.path("encrypt", key), data, len(items))
	if err != nil {
		return nil, err
	}
	out := make([]EncryptResult, len(res))
	for i, r := range res {
		if msg := str(r, "error"); msg != "" {
			out[i].Err = t.itemError("encrypt", key, i, msg)
			continue
		}
		ct := Ciphertext(str(r, "ciphertext"))
		if !ct.Valid() {
			out[i].Err = t.itemError("encrypt", key, i, "response has no ciphertext")
			continue
		}
		out[i].Ciphertext = ct
	}
	return out, nil
}

// DecryptItem is one ciphertext of a batch.
type DecryptItem struct {
	Ciphertext Ciphertext
	Context    []byte // key derivation context for derived keys; nil otherwise
}

// DecryptResult is the outcome of one batch item: a plaintext or an error
// (a *vaultly.Error whose Ref is "key[i]").
type DecryptResult struct {
	Plaintext []byte
	Err       error
}

// DecryptBatch decrypts every item in one request; see EncryptBatch for how
// errors are reported.
func (t *Transit) DecryptBatch(ctx context.Context, key string, items []DecryptItem) ([]DecryptResult, error) {
	if len(items) == 0 {
		return nil, nil
	}
	in := make([]map[string]any, len(items))
	for i, it := range items {
		m := map[string]any{"ciphertext": string(it.Ciphertext)}
		if it.Context != nil {
			m["context"] = b64(it.Context)
		}
		in[i] = m
	}
	res, err := t.writeBatch(ctx, "decrypt", key, t.path("decrypt", key), map[string]any{"batch_input": in}, len(items))
	if err != nil {
		return nil, err
	}
	out := make([]DecryptResult, len(res))
	for i, r := range res {
		if msg := str(r, "error"); msg != "" {
			out[i].Err = t.itemError("decrypt", key, i, msg)
			continue
		}
		p, ok := r["plaintext"].(string)
		if !ok {
			out[i].Err = t.itemError("decrypt", key, i, "response has no plaintext")
			continue
		}
		pt, err := t.decode64("decrypt", key, p)
		if err != nil {
			out[i].Err = err
			continue
		}
		out[i].Plaintext = pt
	}
	return out, nil
}
