package vaultly_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/memsecrets"
	"github.com/vaultly/vaultly/retry"
)

func ExampleStore_Get() {
	ctx := context.Background()
	b := memsecrets.New(nil) // in production: a hashivault backend
	b.Set("myapp/db", map[string]any{"username": "app", "password": "s3cret", "port": 5432})

	s := vaultly.New(b, &vaultly.Options{TTL: time.Minute})
	defer s.Close()

	user, _ := s.Get(ctx, "myapp/db:username")
	port, _ := s.Get(ctx, "/myapp/db:port") // same entry: served from the cache
	fmt.Println(user, port, s.Stats().BackendCalls)

	_, err := s.Get(ctx, "myapp/db:nope")
	fmt.Println(errors.Is(err, vaultly.ErrNotFound), err)
	// Output:
	// app 5432 1
	// true vaultly: get myapp/db:nope (memory): not found: no key "nope" in entry; the entry has "password", "port", "username"
}

func ExampleStore_GetRef() {
	ctx := context.Background()
	b := memsecrets.New(nil)
	b.SetValue("myapp/api", "key-v1")
	b.SetValue("myapp/api", "key-v2")
	s := vaultly.New(b, nil)
	defer s.Close()

	// Version 1, never cached.
	r := vaultly.MustParseRef("vault://myapp/api?version=1")
	v, _ := s.GetRef(ctx, r, &vaultly.ReadOptions{TTL: vaultly.NoCache})
	fmt.Println(r, v)
	// Output:
	// myapp/api@1 key-v1
}

func ExampleOptions_staleOnError() {
	ctx := context.Background()
	b := memsecrets.New(nil)
	b.SetValue("myapp/api", "key")
	s := vaultly.New(b, &vaultly.Options{
		StaleOnError: time.Hour, // serve the last value for up to an hour past expiry
		Retry:        &retry.Policy{MaxAttempts: 1},
	})
	defer s.Close()
	r := vaultly.MustParseRef("myapp/api")
	short := &vaultly.ReadOptions{TTL: time.Nanosecond} // expired at once, for the example
	s.GetRef(ctx, r, short)

	b.SetError("myapp/api", driver.NewError(driver.Unavailable, errors.New("sealed")))
	v, err := s.GetRef(ctx, r, short)
	fmt.Println(v, err, s.Stats().StaleServes)
	// Output:
	// key <nil> 1
}

func ExampleStore_Refresh() {
	ctx := context.Background()
	b := memsecrets.New(nil)
	b.SetValue("myapp/api", "old")
	s := vaultly.New(b, &vaultly.Options{TTL: vaultly.UntilRefreshed})
	defer s.Close()
	s.Get(ctx, "myapp/api")

	// A change made through the Store (or announced by the backend) drops
	// the cached entry; Refresh fetches again explicitly.
	if err := s.Put(ctx, "myapp/api", map[string]any{"value": "new"}); err != nil {
		fmt.Println(err)
	}
	v, _ := s.Get(ctx, "myapp/api")
	fmt.Println(v, s.Refresh(ctx, "myapp/api"))
	// Output:
	// new <nil>
}
