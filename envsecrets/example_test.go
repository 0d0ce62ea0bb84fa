package envsecrets_test

import (
	"context"
	"fmt"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/envsecrets"
)

func Example() {
	env := []string{"APP_MYAPP_DB__PASSWORD=pw", "APP_PAYMENTS_API_KEY=k"}
	b := envsecrets.New(&envsecrets.Options{Prefix: "APP_", Environ: func() []string { return env }})
	s := vaultly.New(b, nil)
	defer s.Close()

	pw, _ := s.Get(context.Background(), "myapp/db:password")
	key, _ := s.Get(context.Background(), "payments/api-key")
	fmt.Println(pw, key, b.VarName("myapp/db", "password"))
	// Output:
	// pw k APP_MYAPP_DB__PASSWORD
}
