package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// leaseLookup is the data of what `vaultly lease lookup -format=json`
// prints (Vault's answer, as `vault lease lookup -format=json`).
type leaseLookup struct {
	ID         string `json:"id"`
	TTL        int    `json:"ttl"`
	Renewable  bool   `json:"renewable"`
	ExpireTime string `json:"expire_time"`
	IssueTime  string `json:"issue_time"`
}

// lookupJSON decodes `vaultly lease lookup -format=json`.
func lookupJSON(t *testing.T, out string) leaseLookup {
	t.Helper()
	var v struct {
		Data leaseLookup `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("lease lookup -format=json: %v\n%s", err, out)
	}
	return v.Data
}

func TestLease(t *testing.T) {
	t.Parallel()
	d := newDBEnv(t, "cli-lease")

	t.Run("lookup", func(t *testing.T) {
		c := d.issue()
		got := lookupJSON(t, d.must("", "lease", "lookup", "-format=json", c.LeaseID))
		if got.ID != c.LeaseID || !got.Renewable || got.TTL <= 0 || got.TTL > 3600 || got.ExpireTime == "" || got.IssueTime == "" {
			t.Errorf("lease lookup = %+v, want id %q, renewable, 0 < ttl <= 3600, times set", got, c.LeaseID)
		}
		rows := tableRows(t, d.must("", "lease", "lookup", c.LeaseID))
		if rows["id"] != c.LeaseID || rows["renewable"] != "true" || rows["last_renewal"] != "n/a" {
			t.Errorf("lease lookup table = %v, want id %q, renewable true, last_renewal n/a", rows, c.LeaseID)
		}
	})

	t.Run("renew", func(t *testing.T) {
		c := d.issue()
		tests := []struct {
			name string
			args []string
			want int // lease_duration in seconds
		}{
			{"-increment", []string{"lease", "renew", "-increment", "30m", "-format=json", c.LeaseID}, 1800},
			{"--increment=", []string{"lease", "renew", "--increment=45m", "-format=json", c.LeaseID}, 2700},
			{"default increment", []string{"lease", "renew", "-format=json", c.LeaseID}, 3600},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var got credsJSON
				if err := json.Unmarshal([]byte(d.must("", tt.args...)), &got); err != nil {
					t.Fatal(err)
				}
				if got.LeaseID != c.LeaseID || got.LeaseDuration != tt.want || !got.LeaseRenewable {
					t.Errorf("vaultly %s = %+v, want lease %q for %ds, renewable", strings.Join(tt.args, " "), got, c.LeaseID, tt.want)
				}
			})
		}
		lk := lookupJSON(t, d.must("", "lease", "lookup", "-format=json", c.LeaseID))
		if lk.TTL <= 1800 {
			t.Errorf("ttl after renewing for 1h = %d, want > 1800", lk.TTL)
		}
		// The role's max TTL is 2h: Vault grants less and says so.
		r := d.run("", "lease", "renew", "-increment", "5h", "-format=json", c.LeaseID)
		var capped credsJSON
		if err := json.Unmarshal([]byte(r.stdout), &capped); err != nil || r.code != 0 {
			t.Fatalf("renew -increment 5h: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
		}
		if capped.LeaseDuration <= 0 || capped.LeaseDuration > 7200 || !strings.Contains(r.stderr, "Warning: ") || !strings.Contains(r.stderr, "max_ttl") {
			t.Errorf("renew -increment 5h beyond max TTL 2h: duration %d, stderr %q; want <= 7200 and Vault's warning", capped.LeaseDuration, r.stderr)
		}
		rows := tableRows(t, d.must("", "lease", "renew", "-increment", "10m", c.LeaseID))
		if rows["lease_id"] != c.LeaseID || rows["lease_duration"] != "10m0s" || rows["lease_renewable"] != "true" {
			t.Errorf("lease renew table = %v, want %s 10m0s true", rows, c.LeaseID)
		}
	})

	t.Run("revoke drops the database user", func(t *testing.T) {
		c := d.issue()
		user := c.Data["username"]
		if _, err := d.login(user, c.Data["password"]); err != nil {
			t.Fatalf("login before revoke: %v", err)
		}
		if got, want := d.must("", "lease", "revoke", c.LeaseID), "Revoked "+c.LeaseID+"\n"; got != want {
			t.Errorf("lease revoke = %q, want %q", got, want)
		}
		if d.roleExists(user) {
			t.Errorf("role %q still exists after lease revoke", user)
		}
		if _, err := d.login(user, c.Data["password"]); err == nil {
			t.Errorf("login after revoke succeeded")
		}
		checkResult(t, "lookup after revoke", d.run("", "lease", "lookup", c.LeaseID), ExitError, "not found")
	})

	t.Run("revoke -prefix", func(t *testing.T) {
		a, b := d.issue(), d.issue()
		var got map[string]any
		if err := json.Unmarshal([]byte(d.must("", "lease", "revoke", "-prefix", "-format=json", d.creds+"/")), &got); err != nil {
			t.Fatal(err)
		}
		if got["lease_id"] != d.creds || got["prefix"] != true || got["revoked"] != true {
			t.Errorf("revoke -prefix json = %v", got)
		}
		for _, c := range []credsJSON{a, b} {
			if d.roleExists(c.Data["username"]) {
				t.Errorf("role %q still exists after revoke -prefix", c.Data["username"])
			}
		}
	})

	t.Run("bad input", func(t *testing.T) {
		c := d.issue()
		unknown := d.creds + "/NoSuchLease0123456789"
		tests := []struct {
			name       string
			args       []string
			wantCode   int
			wantStderr string
		}{
			{"no subcommand", []string{"lease"}, ExitUsage, `missing subcommand for "vaultly lease"`},
			{"unknown subcommand", []string{"lease", "extend", c.LeaseID}, ExitUsage, `unknown command "extend"`},
			{"renew without id", []string{"lease", "renew"}, ExitUsage, "missing LEASE_ID"},
			{"lookup without id", []string{"lease", "lookup"}, ExitUsage, "missing LEASE_ID"},
			{"revoke without id", []string{"lease", "revoke"}, ExitUsage, "missing LEASE_ID"},
			{"negative increment", []string{"lease", "renew", "-increment=-1h", c.LeaseID}, ExitUsage, "-increment must not be negative"},
			{"fractional increment", []string{"lease", "renew", "-increment", "1.5s", c.LeaseID}, ExitUsage, "whole seconds"},
			{"bad increment", []string{"lease", "renew", "-increment", "soon", c.LeaseID}, ExitUsage, "invalid argument"},
			{"escaping id", []string{"lease", "lookup", "../sys/x"}, ExitUsage, `".." not allowed`},
			{"renew unknown", []string{"lease", "renew", unknown}, ExitError, "lease renew " + unknown + " (vault): not found"},
			{"lookup unknown", []string{"lease", "lookup", unknown}, ExitError, "lease lookup " + unknown + " (vault): not found"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := d.run("", tt.args...)
				checkResult(t, "vaultly "+strings.Join(tt.args, " "), r, tt.wantCode, tt.wantStderr)
				for _, s := range []string{d.srv.Token, c.Data["password"], d.pg.Password} {
					if strings.Contains(r.stderr+r.stdout, s) {
						t.Errorf("output holds a token or password:\nstdout: %q\nstderr: %q", r.stdout, r.stderr)
					}
				}
			})
		}
		// Vault answers a revoke of an unknown lease as done.
		if r := d.run("", "lease", "revoke", unknown); r.code != ExitOK {
			t.Errorf("revoke unknown lease: exit %d, want 0 (vault treats it as done): %s", r.code, r.stderr)
		}
	})
}
