package vaultly

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vaultly/vaultly/internal/atomicfile"
)

// SnapshotOptions configures an offline snapshot: an encrypted copy of the
// KV entries the Store has cached, in a file, so that a Store started while
// the backend cannot be reached (see OpenLater) serves them — as stale
// values — instead of failing, and replaces them as soon as the backend
// answers. See "Starting while Vault is down" in the README.
//
// Only KV entries read through the Store are written: dynamic credentials
// (OpenDynamic), tokens and anything else never are. The file holds
// ciphertext only (AES-256-GCM, a fresh nonce per write, authenticated),
// mode 0600, written atomically; the key never goes into it or beside it.
type SnapshotOptions struct {
	// Path is the snapshot file. Required.
	Path string

	// KeyFile is a file holding the 32-byte key as 64 hex digits or in
	// base64 (white space around it ignored), e.g. made with
	// `openssl rand -hex 32`. It must not be in Path's directory and must
	// not be readable by group or others. One of KeyFile and KeyEnv is
	// required.
	KeyFile string

	// KeyEnv is the name of an environment variable holding the key in
	// the same forms, read once by New.
	KeyEnv string

	// MaxAge bounds how old a value from the snapshot may be: a snapshot
	// written longer ago is refused at start (ErrSnapshotTooOld), and an
	// entry read from the backend longer ago than MaxAge is neither served
	// nor written again. Default: 0 means 24h.
	MaxAge time.Duration

	// Interval is the least time between two writes of the file: after a
	// read or write through the Store succeeds, the file is written again
	// within Interval (and once more by Close). Default: 0 means 10s.
	Interval time.Duration
}

const (
	defaultSnapshotMaxAge   = 24 * time.Hour
	defaultSnapshotInterval = 10 * time.Second
)

// The kinds of SnapshotError, for errors.Is.
var (
	// ErrSnapshotKey: the file was written with another key (Code Config).
	ErrSnapshotKey = errors.New("written with another key")
	// ErrSnapshotCorrupt: the file is damaged or was altered: it fails
	// authentication or is not a snapshot (Code Malformed).
	ErrSnapshotCorrupt = errors.New("damaged or altered (authentication failed)")
	// ErrSnapshotTooOld: the file was written more than MaxAge ago (Code
	// Config).
	ErrSnapshotTooOld = errors.New("older than MaxAge")
	// ErrSnapshotUnsafe: the file or the key file can be read by group or
	// others, or the key file is in the snapshot's directory (Code Config).
	ErrSnapshotUnsafe = errors.New("unsafe")
)

// SnapshotError is the cause of every *Error about a snapshot file: it
// names the file and what is wrong, never the file's content or the key.
// errors.Is(err, ErrSnapshotKey) (and the other kinds) works through it.
type SnapshotError struct {
	File   string
	Kind   error  // ErrSnapshotKey, ErrSnapshotCorrupt, ErrSnapshotTooOld, ErrSnapshotUnsafe, or nil
	Detail string // more about it, no secret
}

func (e *SnapshotError) Error() string {
	s := "snapshot " + e.File
	if e.Kind != nil {
		s += ": " + e.Kind.Error()
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Is reports whether target is e's kind, so that errors.Is(err,
// ErrSnapshotKey) and the others work through it.
func (e *SnapshotError) Is(target error) bool { return e.Kind != nil && target == e.Kind }

// SnapshotInfo is the state of a Store's offline snapshot (Store.Snapshot).
type SnapshotInfo struct {
	File string
	// Loaded is the number of entries New took from the file, WrittenAt
	// when that file was written; zero when none were (no file yet, or
	// LoadErr).
	Loaded    int
	WrittenAt time.Time
	// LoadErr is why the file could not be used at start (a *Error whose
	// cause is a *SnapshotError, or a Config error about the key); nil
	// when it was loaded or did not exist yet.
	LoadErr error
	// SavedAt is the last time the Store wrote the file, SaveErr the
	// error of the last write that failed (nil once one succeeds).
	SavedAt time.Time
	SaveErr error
}

// snapshotter is a Store's snapshot state.
type snapshotter struct {
	path     string
	aead     cipher.AEAD // nil when the key could not be read: nothing is written
	check    []byte      // key check value, stored in the header
	maxAge   time.Duration
	interval time.Duration

	dirty      atomic.Bool
	kick       chan struct{} // buffered 1
	refreshing atomic.Bool   // refreshSeeded is running

	mu   sync.Mutex
	info SnapshotInfo
}

// snapshotMagic starts every snapshot file (version 1).
const snapshotMagic = "vaultly-snapshot-1\n"

const checkLen = 16

// snapshotFile is the plaintext, as JSON.
type snapshotFile struct {
	Written time.Time       `json:"written"`
	Backend string          `json:"backend"`
	Entries []snapshotEntry `json:"entries"`
}

type snapshotEntry struct {
	Path    string            `json:"path"`
	Version int               `json:"version,omitempty"` // the version asked for: 0 latest
	Entry   int               `json:"entry_version,omitempty"`
	Fields  map[string]string `json:"fields"`
	Created time.Time         `json:"created,omitzero"`
	Read    time.Time         `json:"read"`
}

// newSnapshotter reads the key; a key problem is returned (and nothing is
// ever written).
func newSnapshotter(o *SnapshotOptions) (*snapshotter, error) {
	sn := &snapshotter{path: o.Path, maxAge: o.MaxAge, interval: o.Interval, kick: make(chan struct{}, 1)}
	sn.info.File = o.Path
	if sn.maxAge <= 0 {
		sn.maxAge = defaultSnapshotMaxAge
	}
	if sn.interval <= 0 {
		sn.interval = defaultSnapshotInterval
	}
	if o.Path == "" {
		return sn, configError("SnapshotOptions.Path is empty")
	}
	key, err := snapshotKey(o)
	if err != nil {
		return sn, err
	}
	enc, err := hkdf.Key(sha256.New, key, nil, "vaultly snapshot v1 encryption", 32)
	if err != nil {
		return sn, configError("snapshot key: " + err.Error())
	}
	sn.check, err = hkdf.Key(sha256.New, key, nil, "vaultly snapshot v1 key check", checkLen)
	if err != nil {
		return sn, configError("snapshot key: " + err.Error())
	}
	block, err := aes.NewCipher(enc)
	if err != nil {
		return sn, configError("snapshot key: " + err.Error())
	}
	if sn.aead, err = cipher.NewGCM(block); err != nil {
		return sn, configError("snapshot key: " + err.Error())
	}
	return sn, nil
}

func configError(msg string) error { return &Error{Op: "snapshot", Code: Config, Err: errors.New(msg)} }

func snapshotError(code Code, file string, kind error, detail string) error {
	return &Error{Op: "snapshot", Code: code, Err: &SnapshotError{File: file, Kind: kind, Detail: detail}}
}

// snapshotKey reads the key from KeyFile or KeyEnv. Errors name the
// source, never the text read.
func snapshotKey(o *SnapshotOptions) ([]byte, error) {
	var text, src string
	switch {
	case o.KeyFile != "" && o.KeyEnv != "":
		return nil, configError("SnapshotOptions: KeyFile and KeyEnv are both set; use one")
	case o.KeyFile != "":
		src = "key file " + o.KeyFile
		kd, err1 := filepath.Abs(filepath.Dir(o.KeyFile))
		sd, err2 := filepath.Abs(filepath.Dir(o.Path))
		if err1 == nil && err2 == nil && kd == sd {
			return nil, snapshotError(Config, o.Path, ErrSnapshotUnsafe, "the key file "+o.KeyFile+" is in the same directory; keep the key elsewhere")
		}
		if err := atomicfile.CheckPrivate(o.KeyFile); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, configError("snapshot " + src + " does not exist")
			}
			return nil, snapshotError(Config, o.Path, ErrSnapshotUnsafe, "key file: "+err.Error())
		}
		b, err := os.ReadFile(o.KeyFile)
		if err != nil {
			return nil, configError("snapshot " + src + ": cannot read it")
		}
		text = string(b)
	case o.KeyEnv != "":
		src = "key variable " + o.KeyEnv
		v, ok := os.LookupEnv(o.KeyEnv)
		if !ok || v == "" {
			return nil, configError("snapshot " + src + " is not set")
		}
		text = v
	default:
		return nil, configError("SnapshotOptions: set KeyFile or KeyEnv")
	}
	text = strings.TrimSpace(text)
	if k, err := hex.DecodeString(text); err == nil && len(k) == 32 {
		return k, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(text); err == nil && len(k) == 32 {
			return k, nil
		}
	}
	return nil, configError("snapshot " + src + ": want a 32-byte key as 64 hex digits or base64 (e.g. openssl rand -hex 32)")
}

// seal encrypts plain into a file's bytes.
func (sn *snapshotter) seal(plain []byte) ([]byte, error) {
	nonce := make([]byte, sn.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	head := append([]byte(snapshotMagic), sn.check...)
	out := append(head, nonce...)
	return sn.aead.Seal(out, nonce, plain, head), nil
}

// open decrypts a file's bytes.
func (sn *snapshotter) open(data []byte) ([]byte, error) {
	hl := len(snapshotMagic) + checkLen
	ns := sn.aead.NonceSize()
	if len(data) < hl+ns+sn.aead.Overhead() || !bytes.HasPrefix(data, []byte(snapshotMagic)) {
		return nil, snapshotError(Malformed, sn.path, ErrSnapshotCorrupt, "not a vaultly snapshot")
	}
	head, nonce, ct := data[:hl], data[hl:hl+ns], data[hl+ns:]
	if subtle.ConstantTimeCompare(head[len(snapshotMagic):], sn.check) != 1 {
		return nil, snapshotError(Config, sn.path, ErrSnapshotKey, "check SnapshotOptions.KeyFile/KeyEnv")
	}
	plain, err := sn.aead.Open(nil, nonce, ct, head)
	if err != nil {
		return nil, snapshotError(Malformed, sn.path, ErrSnapshotCorrupt, "")
	}
	return plain, nil
}

// load reads and checks the file. A missing file is (nil, nil).
func (sn *snapshotter) load(now time.Time) (*snapshotFile, error) {
	if err := atomicfile.CheckPrivate(sn.path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, snapshotError(Config, sn.path, ErrSnapshotUnsafe, err.Error())
	}
	data, err := os.ReadFile(sn.path)
	if err != nil {
		return nil, snapshotError(Config, sn.path, nil, "cannot read it")
	}
	plain, err := sn.open(data)
	if err != nil {
		return nil, err
	}
	var f snapshotFile
	if err := json.Unmarshal(plain, &f); err != nil {
		return nil, snapshotError(Malformed, sn.path, ErrSnapshotCorrupt, "the plaintext is not a snapshot")
	}
	if age := now.Sub(f.Written); age > sn.maxAge {
		return nil, snapshotError(Config, sn.path, ErrSnapshotTooOld, fmt.Sprintf("written %v ago, MaxAge %v", age.Round(time.Second), sn.maxAge))
	}
	return &f, nil
}

// mark records that what is cached may have changed and wakes the writer.
func (sn *snapshotter) mark() {
	if sn.dirty.Load() {
		return
	}
	sn.dirty.Store(true)
	select {
	case sn.kick <- struct{}{}:
	default:
	}
}

// --- the Store's side ---

// startSnapshot loads the snapshot (seeding the cache) and starts the
// writer. Called by New.
func (s *Store) startSnapshot(o *SnapshotOptions) {
	sn, err := newSnapshotter(o)
	s.snap = sn
	if err != nil {
		sn.info.LoadErr = err
		s.log.Warn("vaultly: offline snapshot disabled", "error", err.Error())
		return
	}
	f, err := sn.load(time.Now())
	switch {
	case err != nil:
		sn.info.LoadErr = err
		s.log.Warn("vaultly: offline snapshot not used", "error", err.Error())
	case f == nil:
		s.log.Debug("vaultly: no offline snapshot yet", "file", sn.path)
	default:
		now := time.Now()
		n := 0
		for _, e := range f.Entries {
			if now.Sub(e.Read) > sn.maxAge || e.Path == "" {
				continue
			}
			ent := &Entry{Path: e.Path, Version: e.Entry, Fields: e.Fields, CreatedTime: e.Created}
			if ent.Fields == nil {
				ent.Fields = map[string]string{}
			}
			if s.c.Seed(s.c.Slot(e.Path, e.Version), ent, e.Read) {
				n++
			}
		}
		sn.info.Loaded, sn.info.WrittenAt = n, f.Written
		s.log.Info("vaultly: offline snapshot loaded; its entries are served only while the backend is unavailable", "file", sn.path, "entries", n, "written", f.Written)
	}
	if s.track() {
		go s.snapshotWriter()
	}
}

// snapshotWriter writes the file after changes, at most every Interval,
// until Close (which writes it once more).
func (s *Store) snapshotWriter() {
	defer s.wg.Done()
	sn := s.snap
	var last time.Time
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-sn.kick:
		}
		if d := sn.interval - time.Since(last); d > 0 {
			t.Reset(d)
			select {
			case <-s.ctx.Done():
				return
			case <-t.C:
			}
		}
		last = time.Now()
		_ = s.saveSnapshot()
	}
}

// saveSnapshot writes the cached entries to the file, if there are any.
func (s *Store) saveSnapshot() error {
	sn := s.snap
	if sn == nil || sn.aead == nil {
		return nil
	}
	sn.dirty.Store(false)
	now := time.Now()
	f := snapshotFile{Written: now, Backend: s.name}
	for _, es := range s.c.Cached() {
		it := es.Item()
		if it == nil || now.Sub(it.Fetched) > sn.maxAge {
			continue
		}
		e := it.Value
		f.Entries = append(f.Entries, snapshotEntry{Path: es.Path(), Version: es.Version(), Entry: e.Version,
			Fields: e.Fields, Created: e.CreatedTime, Read: it.Fetched})
	}
	if len(f.Entries) == 0 {
		return nil // keep the last file rather than write an empty one
	}
	plain, err := json.Marshal(&f)
	if err == nil {
		var data []byte
		data, err = sn.seal(plain)
		clear(plain)
		if err == nil {
			err = atomicfile.WriteFile(sn.path, data)
		}
	}
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if err != nil {
		err = snapshotError(Unavailable, sn.path, nil, "cannot write it: "+errText(err))
		if sn.info.SaveErr == nil {
			s.log.Warn("vaultly: writing the offline snapshot failed", "error", err.Error())
		}
		sn.info.SaveErr = err
		return err
	}
	sn.info.SavedAt, sn.info.SaveErr = now, nil
	return nil
}

// errText is err's text for a write error (paths and OS reasons only).
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Op + " " + pe.Path + ": " + pe.Err.Error()
	}
	return err.Error()
}

// SaveSnapshot writes the offline snapshot now (Options.Snapshot), if
// anything is cached. The Store also writes it on its own after changes
// and on Close. It returns nil when no snapshot is configured.
func (s *Store) SaveSnapshot() error {
	if s.snap != nil && s.snap.aead == nil {
		return s.snap.info.LoadErr
	}
	return s.saveSnapshot()
}

// Snapshot reports the state of the offline snapshot (Options.Snapshot);
// the zero SnapshotInfo when none is configured.
func (s *Store) Snapshot() SnapshotInfo {
	if s.snap == nil {
		return SnapshotInfo{}
	}
	s.snap.mu.Lock()
	defer s.snap.mu.Unlock()
	return s.snap.info
}

// closeSnapshot writes the file a last time if it changed (Close, after
// the writer stopped, before the cache is dropped).
func (s *Store) closeSnapshot() {
	if s.snap != nil && s.snap.dirty.Load() {
		_ = s.saveSnapshot()
	}
}

// seededUsable reports whether it, placed from the snapshot, may be
// served (stale) now.
func (s *Store) seededUsable(it *slotItem, now time.Time) bool {
	return it.Seeded() && s.snap != nil && now.Sub(it.Fetched) <= s.snap.maxAge
}

// refreshSeeded reads again, in the background, every entry still held
// from the snapshot: called when the backend answers after an outage, so
// entries nobody has read since do not stay stale.
func (s *Store) refreshSeeded() {
	if s.snap == nil || !s.snap.refreshing.CompareAndSwap(false, true) {
		return
	}
	if !s.track() {
		s.snap.refreshing.Store(false)
		return
	}
	go func() {
		defer s.wg.Done()
		defer s.snap.refreshing.Store(false)
		var g errgroup.Group
		g.SetLimit(refreshAllParallelism)
		for _, es := range s.c.Cached() {
			if it := es.Item(); it == nil || !it.Seeded() {
				continue
			}
			g.Go(func() error {
				_, _ = s.fetch(s.ctx, "refresh", slotRef(es), es, NoCache, true)
				return nil
			})
		}
		_ = g.Wait()
	}()
}
