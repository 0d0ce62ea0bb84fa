package sqlsecrets_test

import (
	"fmt"

	"github.com/vaultly/vaultly/sqlsecrets"
)

func ExamplePostgresURL() {
	dsn := sqlsecrets.PostgresURL("postgres://db.internal:5432/app?sslmode=verify-full")
	// The connector calls dsn with each generation's credentials; they are
	// escaped into the URL's user information.
	fmt.Println(dsn("v-app-x1", "p@ss"))
	// Output: postgres://v-app-x1:p%40ss@db.internal:5432/app?sslmode=verify-full
}
