// Package filesecrets is a vaultly backend over a JSON file, for
// development: a file mapping each path to the fields of its entry.
//
//	{
//	  "myapp/db":  {"username": "app", "password": "dev-only", "port": 5432},
//	  "myapp/api": "token-for-dev"
//	}
//
// A path's value is an object of fields, or a string, which is the entry
// {"value": "..."}. A leading '/' in a path is ignored. Field values that are
// not strings arrive as their JSON text (5432 → "5432"), like every backend.
//
// The file is read by New and read again by a Read that finds its size or
// modification time changed, so edits are picked up (once the Store's cache
// expires). A malformed file is an error with code Config naming the file
// and the line and column. Write and Delete (driver.Writer) rewrite the file
// atomically with mode 0600. There are no versions.
//
// It implements driver.ChangeNotifier: after a Write or Delete, and when a
// call finds the file edited and reads it again, every path whose entry
// changed is announced, so a Store drops those cached entries even when it
// did not make the change.
//
// A *Backend is safe for concurrent use; Close does nothing.
package filesecrets

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/vaultly/vaultly/driver"
	"github.com/vaultly/vaultly/internal/atomicfile"
	"github.com/vaultly/vaultly/internal/errs"
	"github.com/vaultly/vaultly/internal/fieldtext"
	"github.com/vaultly/vaultly/internal/notify"
	"github.com/vaultly/vaultly/internal/pathlist"
)

// Options configures a Backend. A nil *Options means defaults.
type Options struct {
	// Name is the backend's name in errors and logs. Default: "file".
	Name string
}

// Backend serves the entries of one JSON file. Create it with New.
//
// It prints as its name and file for every fmt verb, in slog and in JSON
// ("filesecrets.Backend(file /run/secrets.json)"), never a stored value.
// Its state sits behind a pointer, so even a *Backend in an unexported
// field of a caller's struct, which fmt prints without calling its methods,
// shows an address and not the values.
type Backend struct{ *backend }

type backend struct {
	file string
	name string

	listeners notify.Listeners

	mu      sync.Mutex
	entries map[string]map[string]string
	size    int64
	mtime   time.Time
}

var (
	_ driver.Backend        = (*Backend)(nil)
	_ driver.Writer         = (*Backend)(nil)
	_ driver.Lister         = (*Backend)(nil)
	_ driver.ChangeNotifier = (*Backend)(nil)
)

// New reads file and returns a Backend over it. A missing file is a Config
// error; use Write through a Store, or create the file first, to start empty.
func New(file string, opts *Options) (*Backend, error) {
	b := &Backend{&backend{file: file, name: "file"}}
	if opts != nil && opts.Name != "" {
		b.name = opts.Name
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, err := b.reload(true); err != nil {
		return nil, errs.Wrap("open", file, b.name, err)
	}
	return b, nil
}

// OnChange adds fn, called with each path whose entry changed, and returns
// a function that removes it (driver.ChangeNotifier).
func (b *Backend) OnChange(fn func(path string)) (remove func()) { return b.listeners.Add(fn) }

func (b *Backend) announce(paths []string) {
	for _, p := range paths {
		b.listeners.Notify(p)
	}
}

// changedPaths lists, sorted, the paths whose fields differ between two
// versions of the file.
func changedPaths(old, next map[string]map[string]string) []string {
	var out []string
	for p, f := range next {
		if o, ok := old[p]; !ok || !maps.Equal(o, f) {
			out = append(out, p)
		}
	}
	for p := range old {
		if _, ok := next[p]; !ok {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// Name returns the backend's name ("file" unless Options.Name is set).
func (b *Backend) Name() string { return b.name }

// String returns "filesecrets.Backend(NAME FILE)": never a stored value.
func (b *Backend) String() string {
	if b == nil || b.backend == nil {
		return "filesecrets.Backend(<nil>)"
	}
	return "filesecrets.Backend(" + b.name + " " + b.file + ")"
}

// GoString is String, for %#v.
func (b *Backend) GoString() string { return b.String() }

// Format writes String for every verb and flag.
func (b *Backend) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, b.String()) }

// LogValue is String, for log/slog.
func (b *Backend) LogValue() slog.Value { return slog.StringValue(b.String()) }

// MarshalJSON encodes String as a JSON string.
func (b *Backend) MarshalJSON() ([]byte, error) { return json.Marshal(b.String()) }

// reload rereads the file if it changed (or always with force), and
// returns the paths whose entries changed. b.mu held.
func (b *Backend) reload(force bool) ([]string, error) {
	fi, err := os.Stat(b.file)
	if err != nil {
		return nil, driver.NewError(driver.Config, fmt.Errorf("secrets file: %w", err))
	}
	if !force && fi.Size() == b.size && fi.ModTime().Equal(b.mtime) {
		return nil, nil
	}
	data, err := os.ReadFile(b.file)
	if err != nil {
		return nil, driver.NewError(driver.Config, fmt.Errorf("secrets file: %w", err))
	}
	entries, err := parse(data)
	if err != nil {
		return nil, driver.NewError(driver.Config, fmt.Errorf("secrets file %s:%w", b.file, err))
	}
	changed := changedPaths(b.entries, entries)
	b.entries, b.size, b.mtime = entries, fi.Size(), fi.ModTime()
	return changed, nil
}

// Parse decodes the file format into entries (path → fields as text).
// An error is an InvalidArgument *vaultly.Error whose cause reads
// "LINE:COLUMN: ..." and never quotes a value.
func Parse(data []byte) (map[string]map[string]string, error) {
	m, err := parse(data)
	if err != nil {
		return nil, &errs.Error{Op: "parse", Code: errs.InvalidArgument, Err: err}
	}
	return m, nil
}

func parse(data []byte) (map[string]map[string]string, error) {
	if !utf8.Valid(data) {
		// encoding/json would read each invalid byte as U+FFFD.
		line, col := position(data, int64(firstInvalidUTF8(data)))
		return nil, fmt.Errorf("%d:%d: not valid UTF-8: the file must be UTF-8 text; encode binary values first, e.g. as base64", line, col)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, positioned(data, err)
	}
	if _, err := dec.Token(); err == nil {
		line, col := position(data, dec.InputOffset())
		return nil, fmt.Errorf("%d:%d: unexpected data after the top-level object", line, col)
	}
	out := make(map[string]map[string]string, len(raw))
	for p, v := range raw {
		path := strings.TrimPrefix(p, "/")
		if path == "" {
			return nil, fmt.Errorf("%d:%d: empty path", lineOfKey(data, p), 1)
		}
		v = bytes.TrimSpace(v)
		switch {
		case len(v) > 0 && v[0] == '"':
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, fmt.Errorf("%d:1: entry %q: invalid string", lineOfKey(data, p), p)
			}
			out[path] = map[string]string{"value": s}
		case len(v) > 0 && v[0] == '{':
			f, err := fieldtext.Decode(v)
			if err != nil {
				return nil, fmt.Errorf("%d:1: entry %q: invalid fields", lineOfKey(data, p), p)
			}
			out[path] = f
		default:
			return nil, fmt.Errorf("%d:1: entry %q must be an object of fields or a string", lineOfKey(data, p), p)
		}
	}
	return out, nil
}

// firstInvalidUTF8 returns the offset of the first byte of data that is
// not part of valid UTF-8.
func firstInvalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(data)
}

// positioned adds the line and column of a JSON decoding error and drops
// any quoted input (which could be a secret).
func positioned(data []byte, err error) error {
	var off int64 = -1
	msg := "invalid JSON"
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		off = se.Offset
		msg = se.Error()
		// "invalid character 'x' after object key": drop the quoted character.
		if rest, ok := strings.CutPrefix(msg, "invalid character "); ok {
			if i := strings.Index(rest[1:], "' "); i >= 0 {
				msg = "invalid character " + rest[i+3:]
			} else {
				msg = "invalid character"
			}
		}
	} else if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		off = te.Offset
		msg = "the file must hold a JSON object of path to entry"
	} else if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		off = int64(len(data))
		msg = "unexpected end of file"
	}
	if off < 0 {
		return fmt.Errorf("1:1: %s", msg)
	}
	line, col := position(data, off)
	return fmt.Errorf("%d:%d: %s", line, col, msg)
}

func position(data []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1)
	if col == 0 {
		col = 1
	}
	return line, col
}

// lineOfKey returns the line where the JSON key k first appears, or 1.
func lineOfKey(data []byte, k string) int {
	q, _ := json.Marshal(k)
	i := bytes.Index(data, q)
	if i < 0 {
		return 1
	}
	l, _ := position(data, int64(i))
	return l
}

// Read returns the entry at path. Only version 0 exists.
func (b *Backend) Read(ctx context.Context, path string, version int) (*driver.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if version != 0 {
		return nil, driver.NewError(driver.NotFound, errors.New("secrets files have no versions"))
	}
	b.mu.Lock()
	changed, err := b.reload(false)
	f, ok := b.entries[path]
	b.mu.Unlock()
	b.announce(changed)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, driver.NewError(driver.NotFound, errors.New("no entry in secrets file"))
	}
	return &driver.Entry{Path: path, Fields: maps.Clone(f)}, nil
}

// Write replaces the entry at path and rewrites the file (driver.Writer).
func (b *Backend) Write(ctx context.Context, path string, fields map[string]any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := fieldtext.Normalize(fields)
	if err != nil {
		return driver.NewError(driver.InvalidArgument, err)
	}
	return b.update(func(m map[string]map[string]string) { m[path] = f })
}

// Delete removes the entry at path and rewrites the file (driver.Writer).
func (b *Backend) Delete(ctx context.Context, path string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return b.update(func(m map[string]map[string]string) { delete(m, path) })
}

func (b *Backend) update(change func(map[string]map[string]string)) error {
	changed, err := b.updateLocked(change)
	b.announce(changed)
	return err
}

func (b *Backend) updateLocked(change func(map[string]map[string]string)) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	changed, err := b.reload(false)
	if err != nil {
		return changed, err
	}
	next := maps.Clone(b.entries)
	change(next)
	data, err := encode(next)
	if err != nil {
		return changed, driver.NewError(driver.InvalidArgument, err)
	}
	if err := atomicfile.WriteFile(b.file, data); err != nil {
		return changed, driver.NewError(driver.Unavailable, fmt.Errorf("writing secrets file: %w", err))
	}
	changed = append(changed, changedPaths(b.entries, next)...)
	b.entries = next
	if fi, err := os.Stat(b.file); err == nil {
		b.size, b.mtime = fi.Size(), fi.ModTime()
	}
	return changed, nil
}

// encode writes entries back, sorted, with each field as a JSON string
// (non-string values were normalised to their JSON text and stay text).
func encode(entries map[string]map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("{\n")
	for i, p := range slices.Sorted(maps.Keys(entries)) {
		kp, _ := json.Marshal(p)
		fs, err := json.Marshal(entries[p]) // map keys are sorted
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&buf, "  %s: %s", kp, fs)
		if i < len(entries)-1 {
			buf.WriteByte(',')
		}
		buf.WriteByte('\n')
	}
	buf.WriteString("}\n")
	return buf.Bytes(), nil
}

// List returns the names directly under prefix; folders end in '/'.
func (b *Backend) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	changed, err := b.reload(false)
	var names []string
	if err == nil {
		names = pathlist.Children(maps.Keys(b.entries), prefix)
	}
	b.mu.Unlock()
	b.announce(changed)
	return names, err
}

// Close does nothing.
func (b *Backend) Close() error { return nil }
