package vaulttest

import (
	"testing"
)

// DatabaseRole configures a database role for ConfigureDatabase.
type DatabaseRole struct {
	Name       string // role name; credentials are read at <mount>/creds/<Name>
	DefaultTTL string // e.g. "4s"
	MaxTTL     string // e.g. "8s"
}

// ConfigureDatabase mounts the database secrets engine at mount, connects it
// to pg as the superuser (postgresql-database-plugin) and creates role, whose
// users log in with a password that is VALID UNTIL the lease's end and may
// SELECT from every table in schema public. It returns the path credentials
// are issued at, e.g. "database/creds/app".
func (s *Server) ConfigureDatabase(t testing.TB, pg *Postgres, mount string, role DatabaseRole) string {
	t.Helper()
	s.EnableSecrets(t, mount, "database", nil)
	s.Write(t, mount+"/config/pg", map[string]any{
		"plugin_name":       "postgresql-database-plugin",
		"connection_url":    pg.VaultConnectionURL(),
		"username":          pg.User,
		"password":          pg.Password,
		"allowed_roles":     "*",
		"verify_connection": true,
	})
	s.Write(t, mount+"/roles/"+role.Name, map[string]any{
		"db_name": "pg",
		"creation_statements": []string{
			`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
			`GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";`,
		},
		"default_ttl": role.DefaultTTL,
		"max_ttl":     role.MaxTTL,
	})
	return mount + "/creds/" + role.Name
}
