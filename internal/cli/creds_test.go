package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly/internal/testing/vaulttest"
)

// dbEnv is a real PostgreSQL behind a database secrets engine mounted on
// the shared server at a mount of the test's own.
type dbEnv struct {
	*env
	pg    *vaulttest.Postgres
	creds string // e.g. "cli-creds/creds/app"
}

func newDBEnv(t *testing.T, mount string) *dbEnv {
	t.Helper()
	pg := sharedPostgres(t)
	srv := shared(t)
	p := srv.ConfigureDatabase(t, pg, mount, vaulttest.DatabaseRole{Name: "app", DefaultTTL: "1h", MaxTTL: "2h"})
	return &dbEnv{env: newEnv(t, srv), pg: pg, creds: p}
}

// credsJSON is what `vaultly creds -format=json` prints: Vault's answer,
// as `vault read -format=json` prints it.
type credsJSON struct {
	LeaseID        string            `json:"lease_id"`
	LeaseDuration  int               `json:"lease_duration"`
	LeaseRenewable bool              `json:"renewable"`
	Data           map[string]string `json:"data"`
}

// issue runs `vaultly creds -format=json` and decodes it.
func (d *dbEnv) issue() credsJSON {
	d.t.Helper()
	var c credsJSON
	out := d.must("", "creds", "-format=json", d.creds)
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		d.t.Fatalf("creds -format=json: %v", err)
	}
	return c
}

// login logs in to PostgreSQL as user and returns current_user.
func (d *dbEnv) login(user, password string) (string, error) {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, password), Host: d.pg.Addr(), Path: "/" + d.pg.Database, RawQuery: "sslmode=disable"}
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		return "", err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var who string
	err = db.QueryRowContext(ctx, "SELECT current_user").Scan(&who)
	return who, err
}

// roleExists asks PostgreSQL, as the superuser, whether the role exists.
func (d *dbEnv) roleExists(name string) bool {
	d.t.Helper()
	var n int
	if err := d.pg.DB(d.t).QueryRow("SELECT count(*) FROM pg_roles WHERE rolname = $1", name).Scan(&n); err != nil {
		d.t.Fatalf("query pg_roles: %v", err)
	}
	return n == 1
}

// tableRows parses a two-column Key/Value table.
func tableRows(t *testing.T, out string) map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "Key") || !strings.HasPrefix(lines[1], "---") {
		t.Fatalf("not a Key/Value table:\n%s", out)
	}
	rows := make(map[string]string)
	for _, l := range lines[2:] {
		k, v, _ := strings.Cut(l, " ")
		rows[k] = strings.TrimSpace(v)
	}
	return rows
}

func TestCreds(t *testing.T) {
	t.Parallel()
	d := newDBEnv(t, "cli-creds")

	t.Run("table logs in to postgres", func(t *testing.T) {
		rows := tableRows(t, d.must("", "creds", d.creds))
		for _, k := range []string{"username", "password", "lease_id", "lease_duration", "lease_renewable"} {
			if rows[k] == "" {
				t.Errorf("creds table lacks %s: %v", k, rows)
			}
		}
		if want := "1h0m0s"; rows["lease_duration"] != want {
			t.Errorf("lease_duration = %q, want %q", rows["lease_duration"], want)
		}
		if rows["lease_renewable"] != "true" {
			t.Errorf("lease_renewable = %q, want true", rows["lease_renewable"])
		}
		if !strings.HasPrefix(rows["lease_id"], d.creds+"/") {
			t.Errorf("lease_id = %q, want it under %s/", rows["lease_id"], d.creds)
		}
		who, err := d.login(rows["username"], rows["password"])
		if err != nil || who != rows["username"] {
			t.Errorf("login with the printed credentials: current_user %q, err %v; want %q", who, err, rows["username"])
		}
	})

	t.Run("json logs in to postgres", func(t *testing.T) {
		c := d.issue()
		if c.LeaseDuration != 3600 || !c.LeaseRenewable || !strings.HasPrefix(c.LeaseID, d.creds+"/") {
			t.Errorf("lease = %q %d %v, want %s/... 3600 true", c.LeaseID, c.LeaseDuration, c.LeaseRenewable, d.creds)
		}
		who, err := d.login(c.Data["username"], c.Data["password"])
		if err != nil || who != c.Data["username"] {
			t.Errorf("login with the printed credentials: current_user %q, err %v; want %q", who, err, c.Data["username"])
		}
		if _, err := d.login(c.Data["username"], c.Data["password"]+"x"); err == nil {
			t.Errorf("login with a wrong password succeeded; the check proves nothing")
		}
	})

	t.Run("json has vault read's shape", func(t *testing.T) {
		var v, vy any
		r := d.exec(vaultBin(t), vaultCLIEnv, "", "read", "-format=json", d.creds)
		if r.code != 0 {
			t.Fatalf("vault read: %s", r.stderr)
		}
		if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(d.must("", "creds", "-format=json", d.creds)), &vy); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(shape(v), shape(vy)); diff != "" {
			t.Errorf("creds -format=json vs vault read -format=json, shapes (-vault +vaultly):\n%s", diff)
		}
	})

	t.Run("-field prints the value alone", func(t *testing.T) {
		user := d.must("", "creds", "-field", "username", d.creds)
		if strings.Contains(user, "\n") || user == "" {
			t.Fatalf("creds -field username = %q, want the bytes alone, as vault read -field", user)
		}
		if name := user; !d.roleExists(name) {
			t.Errorf("creds -field username = %q: no such role in postgres", name)
		}
		js := d.must("", "creds", "-field=username", "-format=json", "/"+d.creds)
		var name string
		if err := json.Unmarshal([]byte(js), &name); err != nil || !d.roleExists(name) {
			t.Errorf("creds -field=username -format=json = %q (%v): want a JSON string naming a role", js, err)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		limited := d.srv.CreateToken(t, &api.TokenCreateRequest{Policies: []string{"default"}})
		tests := []struct {
			name       string
			extra      []string
			args       []string
			wantCode   int
			wantStderr string
		}{
			{"no path", nil, []string{"creds"}, ExitUsage, "missing PATH"},
			{"two paths", nil, []string{"creds", d.creds, d.creds}, ExitUsage, "too many arguments"},
			{"escaping path", nil, []string{"creds", "cli-creds/../sys/x"}, ExitUsage, `".." not allowed`},
			{"unknown field", nil, []string{"creds", "-field", "nope", d.creds}, ExitUsage, `field "nope" not present in the secret at ` + d.creds + ` (it has "password", "username")`},
			{"unknown role", nil, []string{"creds", "cli-creds/creds/nope"}, ExitError, "creds cli-creds/creds/nope"},
			{"nothing mounted", nil, []string{"creds", "nowhere/creds/app"}, ExitError, "not found"},
			{"permission denied", []string{"VAULT_TOKEN=" + limited}, []string{"creds", d.creds}, ExitError, "permission denied"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := d.runEnv(tt.extra, "", tt.args...)
				checkResult(t, "vaultly "+strings.Join(tt.args, " "), r, tt.wantCode, tt.wantStderr)
				if r.stdout != "" {
					t.Errorf("stdout = %q, want nothing", r.stdout)
				}
				for _, tok := range []string{d.srv.Token, limited, d.pg.Password} {
					if strings.Contains(r.stderr, tok) {
						t.Errorf("stderr holds a token or password: %q", r.stderr)
					}
				}
			})
		}
	})
}
