package transit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"

	"github.com/vaultly/vaultly/hashivault"
	"github.com/vaultly/vaultly/transit"
)

// Encrypt and decrypt a value with the key "orders" of the transit engine
// mounted at "transit". The backend takes VAULT_ADDR and VAULT_TOKEN (or
// AppRole, ...) from the environment and keeps its token alive.
func Example() {
	ctx := context.Background()
	b, err := hashivault.New(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	tr, err := transit.New(b, &transit.Options{Mount: "transit"})
	if err != nil {
		log.Fatal(err)
	}
	ct, err := tr.Encrypt(ctx, "orders", []byte("4111 1111 1111 1111"), nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("encrypted with key version", ct.Version())
	plain, err := tr.Decrypt(ctx, "orders", ct, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("decrypted", len(plain), "bytes") // use them; never log them
	// Output:
	// encrypted with key version 1
	// decrypted 19 bytes
}

// After a rotation (RotateKey, or `vault write -f transit/keys/invoices/rotate`),
// move stored ciphertexts to the new key version without seeing the
// plaintext.
func ExampleTransit_Rewrap() {
	ctx := context.Background()
	b, err := hashivault.New(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	tr, _ := transit.New(b, nil)

	stored, err := tr.Encrypt(ctx, "invoices", []byte("INV-2024-0042"), nil, nil) // what your database holds
	if err != nil {
		log.Fatal(err)
	}
	if _, err := tr.RotateKey(ctx, "invoices"); err != nil {
		log.Fatal(err)
	}
	fresh, err := tr.Rewrap(ctx, "invoices", stored, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("rewrapped to the new key version:", fresh.Version() == stored.Version()+1)
	// Output: rewrapped to the new key version: true
}

// Envelope encryption: a large document is encrypted locally with AES-GCM
// under a fresh data key; only the 32-byte data key goes to Vault.
func ExampleTransit_Seal() {
	ctx := context.Background()
	b, err := hashivault.New(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	tr, _ := transit.New(b, nil)

	doc := bytes.Repeat([]byte("quarterly figures "), 1000) // e.g. os.ReadFile("report.pdf")
	env, err := tr.Seal(ctx, "documents", doc, []byte("report.pdf"))
	if err != nil {
		log.Fatal(err)
	}
	blob, _ := json.Marshal(env) // {"key":"vault:v1:...","data":"..."}; store it
	_ = blob

	back, err := tr.Open(ctx, "documents", env, []byte("report.pdf"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("opened:", bytes.Equal(back, doc))
	// Output: opened: true
}

// Encrypt many values in one request; each item has its own error.
func ExampleTransit_EncryptBatch() {
	ctx := context.Background()
	b, err := hashivault.New(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	tr, _ := transit.New(b, nil)

	res, err := tr.EncryptBatch(ctx, "orders", []transit.EncryptItem{
		{Plaintext: []byte("a")}, {Plaintext: []byte("b")},
	}, nil)
	if err != nil {
		log.Fatal(err) // the request as a whole failed
	}
	for i, r := range res {
		if r.Err != nil {
			log.Printf("item %d: %v", i, r.Err)
			continue
		}
		fmt.Println(i, r.Ciphertext.Version())
	}
	// Output:
	// 0 1
	// 1 1
}

// Sign a release manifest and verify it elsewhere.
func ExampleTransit_Sign() {
	ctx := context.Background()
	b, err := hashivault.New(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	tr, _ := transit.New(b, nil)

	manifest := []byte("sha256:3f1c... app-v1.2.3.tar.gz")
	sig, err := tr.Sign(ctx, "release", manifest, nil) // an ed25519 key
	if err != nil {
		log.Fatal(err)
	}
	ok, err := tr.Verify(ctx, "release", manifest, sig, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("valid:", ok)
	// Output: valid: true
}

// Parse a stored ciphertext and read its key version, without Vault.
func ExampleCiphertext_Version() {
	ct, err := transit.ParseCiphertext("vault:v3:AbCdEf==")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ct.Version())
	// Output: 3
}
