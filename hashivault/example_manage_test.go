package hashivault_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/hashivault"
)

// Writing, patching and reading back an entry. Address and token come from
// VAULT_ADDR and VAULT_TOKEN (or the file `vaultly login` saves).
func ExampleBackend_Put() {
	ctx := context.Background()
	b, err := hashivault.New(ctx, &hashivault.Options{Mount: "secret"})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	v, err := b.Put(ctx, "myapp/db", map[string]any{"username": "app", "password": "s3cret"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	// Only write if nobody wrote since: check-and-set on the version we made.
	_, err = b.Patch(ctx, "myapp/db", map[string]any{"password": "n3w"}, &hashivault.PatchOptions{CAS: hashivault.CAS(v.Version)})
	if errors.Is(err, vaultly.ErrConflict) {
		log.Fatal("someone else changed myapp/db")
	}
	e, err := b.GetEntry(ctx, "myapp/db", 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(e.Version.Version, e.Data["username"])
	// Output: 4 app
}

// Soft-deleting a version, restoring it, and limiting how many are kept.
func ExampleBackend_DeleteVersions() {
	ctx := context.Background()
	b, err := hashivault.New(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	if err := b.DeleteVersions(ctx, "myapp/db", []int{2}); err != nil {
		log.Fatal(err)
	}
	if _, err := b.GetEntry(ctx, "myapp/db", 2); errors.Is(err, vaultly.ErrNotFound) {
		fmt.Println("version 2:", vaultly.CodeOf(err)) // the text says how to restore it
	}
	if err := b.UndeleteVersions(ctx, "myapp/db", []int{2}); err != nil {
		log.Fatal(err)
	}
	keep, after := 5, 30*24*time.Hour
	err = b.WriteMetadata(ctx, "myapp/db", &hashivault.MetadataUpdate{
		MaxVersions:        &keep,
		DeleteVersionAfter: &after,
		CustomMetadata:     map[string]string{"owner": "team-a"},
	})
	if err != nil {
		log.Fatal(err)
	}
	e, err := b.GetEntry(ctx, "myapp/db", 2)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("version 2 restored:", e.Data["password"] != nil)
	// Output:
	// version 2: not found
	// version 2 restored: true
}

// Seal status and unseal work on a sealed server without a token. The
// address comes from VAULT_ADDR here; Options.Address works too.
func ExampleSysClient() {
	ctx := context.Background()
	sc, err := hashivault.NewSysClient(nil)
	if err != nil {
		log.Fatal(err)
	}
	st, err := sc.SealStatus(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, key := range []string{ /* unseal key shares, from the operators */ } {
		if !st.Sealed {
			break
		}
		if st, err = sc.Unseal(ctx, key); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("sealed=%v %d/%d\n", st.Sealed, st.Progress, st.Threshold)
	// Output: sealed=false 0/1
}
