package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgloopMain is pgloop, the child of run's rotation test (this test binary
// started under that name, see mainAs): it queries PostgreSQL in a loop,
// each query on a new connection made with PGUSER and PGPASSWORD from its
// environment, until SIGTERM; then it prints how many queries succeeded and
// failed, and the user it connected as. After its first successful query
// it prints "queried user=…" (the quick tier's rotation test stops once the
// newest child has).
func pgloopMain() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	dsn := fmt.Sprintf("host=%s port=%s dbname=postgres sslmode=disable connect_timeout=5", os.Getenv("PGHOST"), os.Getenv("PGPORT"))
	user := os.Getenv("PGUSER")
	fmt.Printf("start user=%s\n", user)
	ok, failed := 0, 0
	for {
		select {
		case <-stop:
			fmt.Printf("done user=%s ok=%d failed=%d\n", user, ok, failed)
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := pgQuery(ctx, dsn)
		cancel()
		if err != nil {
			failed++
			fmt.Fprintf(os.Stderr, "query failed as %s: %v\n", user, err)
		} else {
			ok++
			if ok == 1 {
				fmt.Printf("queried user=%s\n", user)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func pgQuery(ctx context.Context, dsn string) error {
	c, err := pgx.Connect(ctx, dsn) // PGUSER, PGPASSWORD from the environment
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	var n int
	return c.QueryRow(ctx, "SELECT 1").Scan(&n)
}
