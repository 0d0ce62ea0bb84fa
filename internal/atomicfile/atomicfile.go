// Package atomicfile writes files that hold secrets: mode 0600, written to a
// temporary file in the same directory, synced, then renamed into place, so
// a reader sees the old file or the new one and never a partial one.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile atomically replaces name with data, mode 0600 (whatever the
// umask), creating the parent directory with mode 0700 if needed.
func WriteFile(name string, data []byte) error { return WriteFileMode(name, data, 0o600) }

// WriteFileMode is WriteFile with the file's mode perm instead of 0600
// (for a rendered file whose owner asked for another mode). The mode is
// set on the temporary file before any data is written, so the data is
// never readable under a wider mode than perm.
func WriteFileMode(name string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm.Perm()); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// CheckPrivate returns an error if group or others may read or write name.
// Files holding credentials are refused when this fails, as ssh does.
func CheckPrivate(name string) error {
	st, err := os.Stat(name)
	if err != nil {
		return err
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s has mode %#o: group or others can access it; run chmod 600 %s", name, perm, name)
	}
	return nil
}
