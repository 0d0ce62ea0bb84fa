package cli

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// TestRunDynamicRotation is the second "done when": run with
// vault://…/creds/… references (role ttl 4s, max 8s) keeps a child that
// queries PostgreSQL in a loop, each query on a new connection, for 30 s
// (the soak tier) with no failed query across the rotations: each rotation
// restarts the child with the new credentials, and the replaced PostgreSQL
// users are gone (their leases revoked once the old child has exited; the
// last one when vaultly exits). The quick tier (plain go test) checks the
// same for one rotation: it stops once a second child has run a query, and
// gives that 12 s at most.
func TestRunDynamicRotation(t *testing.T) {
	t.Parallel()
	pg := sharedPostgres(t)
	srv := shared(t)
	creds := srv.ConfigureDatabase(t, pg, "cli-run-db", vaulttest.DatabaseRole{Name: "app", DefaultTTL: "4s", MaxTTL: "8s"})
	e := newEnv(t, srv)
	d := startDaemon(t, e, []string{
		"PGHOST=" + pg.Host, "PGPORT=" + strconv.Itoa(pg.Port),
		"PGUSER=vault://" + creds + ":username", "PGPASSWORD=vault://" + creds + ":password",
	}, "run", "-restart", "-no-mask", "-kill-timeout", "5s", "--", pgloop)

	starts := regexp.MustCompile(`(?m)^start user=(\S+)$`)
	queried := regexp.MustCompile(`(?m)^queried user=(\S+)$`)
	runFor, want := vaulttest.SoakOr(30*time.Second, 12*time.Second), vaulttest.SoakOr(3, 2)
	if vaulttest.Soak() {
		time.Sleep(runFor)
	} else {
		// want children have started and the newest has run a query.
		for deadline := time.Now().Add(runFor); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			out := d.outText()
			s, q := starts.FindAllStringSubmatch(out, -1), queried.FindAllStringSubmatch(out, -1)
			if len(s) >= want && len(q) == len(s) {
				break
			}
		}
	}
	d.stop(t)
	if d.err != nil {
		t.Errorf("vaultly run exited with %v; stderr:\n%s", d.err, d.errText())
	}
	out, stderr := d.outText(), d.errText()

	startUsers := starts.FindAllStringSubmatch(out, -1)
	dones := regexp.MustCompile(`(?m)^done user=(\S+) ok=(\d+) failed=(\d+)$`).FindAllStringSubmatch(out, -1)
	// A lease of at most 8s is replaced at least every 8s: 30s holds at
	// least 3 generations, 12s at least 2 (the schedule rotates at about
	// 2/3 of what a capped renewal leaves, so usually 4 or 5 in 30s; the
	// first rotation comes about 7s after the start).
	if len(startUsers) < want {
		t.Errorf("%d children started in %s, want at least %d (a rotation at least every 8s)\nstdout:\n%s\nstderr:\n%s", len(startUsers), runFor, want, out, stderr)
	}
	if len(dones) != len(startUsers) {
		t.Errorf("%d children started, %d stopped cleanly (the others were killed)\nstdout:\n%s", len(startUsers), len(dones), out)
	}
	users := map[string]bool{}
	total := 0
	for i, m := range dones {
		ok, _ := strconv.Atoi(m[2])
		failed, _ := strconv.Atoi(m[3])
		total += ok
		if failed != 0 {
			t.Errorf("child %d (%s): %d failed queries, want 0", i+1, m[1], failed)
		}
		if ok == 0 {
			t.Errorf("child %d (%s): no successful query", i+1, m[1])
		}
		if users[m[1]] {
			t.Errorf("child %d reused the user %s of an earlier child", i+1, m[1])
		}
		users[m[1]] = true
	}
	if strings.Contains(stderr, "query failed") {
		t.Errorf("a query failed:\n%s", stderr)
	}
	if !strings.Contains(stderr, creds+" changed: restarting the command") {
		t.Errorf("stderr does not say which path changed:\n%s", stderr)
	}
	t.Logf("%d children, %d queries, 0 failed", len(dones), total)

	// Every user is gone: the replaced ones revoked after their child
	// exited, the last one when vaultly exited (run revokes on exit).
	checkUsersGone(t, pg, users)
	for _, leak := range []string{pg.Password} {
		if strings.Contains(out+stderr, leak) {
			t.Error("output shows the superuser password")
		}
	}
}

// checkUsersGone checks that none of users is a PostgreSQL role any more:
// their leases were revoked (replaced, or when vaultly exited).
func checkUsersGone(t *testing.T, pg *vaulttest.Postgres, users map[string]bool) {
	t.Helper()
	db := pg.DB(t)
	for u := range users {
		var n int
		if err := db.QueryRow("SELECT count(*) FROM pg_roles WHERE rolname = $1", u).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("PostgreSQL user %s still exists after its lease was replaced (or vaultly exited)", u)
		}
	}
}
