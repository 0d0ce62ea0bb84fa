package cli

import (
	"errors"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/hashivault"
)

func TestLeaseError(t *testing.T) {
	tests := []struct {
		name   string
		status int
		errs   []string
		want   vaultly.Code
	}{
		{"lookup unknown", 400, []string{"invalid lease"}, vaultly.NotFound},
		{"renew unknown", 400, []string{"lease not found"}, vaultly.NotFound},
		{"renew expired", 400, []string{"lease expired"}, vaultly.NotFound},
		{"not renewable", 400, []string{"lease is not renewable"}, vaultly.InvalidArgument},
		{"other 400", 400, []string{"missing lease id"}, vaultly.InvalidArgument},
		{"denied", 403, []string{"permission denied"}, vaultly.PermissionDenied},
		{"server error", 500, []string{"internal error"}, vaultly.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			re := &api.ResponseError{HTTPMethod: "PUT", URL: "http://127.0.0.1:8200/v1/sys/leases/renew", StatusCode: tt.status, Errors: tt.errs}
			err := leaseError("lease renew", "db/creds/app/x", "vault", hashivault.MapError(re))
			e, ok := errors.AsType[*vaultly.Error](err)
			if !ok {
				t.Fatalf("leaseError = %T, want *vaultly.Error", err)
			}
			if e.Code != tt.want || e.Op != "lease renew" || e.Ref != "db/creds/app/x" {
				t.Errorf("leaseError = %v (code %v), want op lease renew, ref db/creds/app/x, code %v", err, e.Code, tt.want)
			}
			if _, ok := errors.AsType[*api.ResponseError](err); !ok {
				t.Errorf("leaseError(%v): the response error is not reachable", err)
			}
		})
	}
}
