package retry_test

import (
	"context"
	"fmt"
	"time"

	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/retry"
)

func ExampleDo() {
	p := &retry.Policy{MaxAttempts: 5, Initial: time.Millisecond, Budget: time.Second,
		OnRetry: func(attempt int, err error, _ time.Duration) {
			fmt.Println("retry after attempt", attempt, driver.CodeOf(err))
		}}
	err := retry.Do(context.Background(), p, func(ctx context.Context, attempt int) error {
		if attempt < 3 {
			return driver.NewError(driver.Unavailable, nil) // e.g. Vault sealed
		}
		return nil
	})
	fmt.Println(err)
	// Output:
	// retry after attempt 1 unavailable
	// retry after attempt 2 unavailable
	// <nil>
}
