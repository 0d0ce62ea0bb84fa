package sqlsecrets

import (
	"context"

	"github.com/vaultly/vaultly"
)

// FromDynamic returns a Source backed by d: the credentials of its current
// generation, and its MinValid. It is a Waiter (Dynamic.Wait).
func FromDynamic(d *vaultly.Dynamic[vaultly.DatabaseCredentials]) Source { return dynamicSource{d} }

type dynamicSource struct {
	d *vaultly.Dynamic[vaultly.DatabaseCredentials]
}

func (s dynamicSource) Credentials() Credentials {
	cur := s.d.Current()
	return Credentials{Username: cur.Value.Username, Password: cur.Value.Password, Generation: cur.Lease.Generation}
}

func (s dynamicSource) MinValid() uint64 { return s.d.MinValid() }

func (s dynamicSource) WaitCredentials(ctx context.Context) (Credentials, error) {
	cur, err := s.d.Wait(ctx)
	if err != nil {
		return Credentials{}, err
	}
	return Credentials{Username: cur.Value.Username, Password: cur.Value.Password, Generation: cur.Lease.Generation}, nil
}

var _ Waiter = dynamicSource{}
