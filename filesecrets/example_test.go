package filesecrets_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/filesecrets"
)

func Example() {
	dir, _ := os.MkdirTemp("", "filesecrets")
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "secrets.json")
	os.WriteFile(file, []byte(`{
  "myapp/db":  {"username": "app", "password": "dev-only", "port": 5432},
  "myapp/api": "token-for-dev"
}`), 0o600)

	b, err := filesecrets.New(file, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	s := vaultly.New(b, nil)
	defer s.Close()
	port, _ := s.Get(context.Background(), "myapp/db:port")
	tok, _ := s.Get(context.Background(), "myapp/api")
	fmt.Println(port, tok)

	os.WriteFile(file, []byte("{\n  \"myapp/db\": {\"password\": oops}\n}"), 0o600)
	_, err = filesecrets.New(file, nil)
	fmt.Println(err != nil)
	// Output:
	// 5432 token-for-dev
	// true
}
