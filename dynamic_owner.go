package vaultly

import (
	"context"
	"errors"
	"time"
)

// dynamicCloseTimeout bounds the lease revocations Store.Close makes for
// handles still open.
const dynamicCloseTimeout = 10 * time.Second

// dynCloser is what a Store keeps of each Dynamic opened on it.
type dynCloser interface {
	Close(ctx context.Context) error
	setOwner(s *Store)
}

// adopt registers d so that Store.Close closes it (a Dynamic must not
// outlive the backend it renews through). On a closed Store it closes d and
// fails.
func (s *Store) adopt(d dynCloser) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = d.Close(context.Background())
		return s.closedErr("dynamic", "")
	}
	if s.dyns == nil {
		s.dyns = map[dynCloser]struct{}{}
	}
	s.dyns[d] = struct{}{}
	s.mu.Unlock()
	d.setOwner(s)
	return nil
}

// release forgets d; Dynamic.Close calls it.
func (s *Store) release(d dynCloser) {
	s.mu.Lock()
	delete(s.dyns, d)
	s.mu.Unlock()
}

// closeDynamics closes every Dynamic still open, revoking its leases when
// it was opened with RevokeOnClose. Close calls it once s.closed is set, so
// no Dynamic is added meanwhile.
func (s *Store) closeDynamics() error {
	s.mu.Lock()
	ds := s.dyns
	s.dyns = nil
	s.mu.Unlock()
	if len(ds) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), dynamicCloseTimeout)
	defer cancel()
	var errs []error
	for d := range ds {
		if err := d.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (d *Dynamic[T]) setOwner(s *Store) {
	d.mu.Lock()
	d.owner = s
	d.mu.Unlock()
}
