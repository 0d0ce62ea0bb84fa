package sqlsecrets

import (
	"github.com/vaultly/vaultly"
	"github.com/vaultly/vaultly/driver"
)

// FromLease returns a Source backed by a backend's lease watcher
// (driver.Leaser), reading the fields "username" and "password" that every
// Vault database secrets engine returns. Applications usually use
// FromDynamic instead.
func FromLease(w driver.LeaseWatcher) Source { return leaseSource{w} }

type leaseSource struct{ w driver.LeaseWatcher }

func (s leaseSource) Credentials() Credentials {
	cur := s.w.Current()
	return Credentials{Username: cur.Entry.Fields["username"], Password: vaultly.NewSecret(cur.Entry.Fields["password"]), Generation: cur.Generation}
}

func (s leaseSource) MinValid() uint64 { return s.w.MinValid() }
