package vaultly

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vaultly/vaultly/driver"
)

// Entry is every field of one secret entry at one version, as read through
// a Store (Store.Entry). An Entry returned by the Store is shared with its
// cache and with other callers: do not modify it or its Fields.
//
// Fields holds each value as text: strings as they are, every other JSON
// value as its compact JSON encoding (42 as "42", {"a":1} as `{"a":1}`).
//
// An Entry never prints its values: String, every fmt verb, slog and JSON
// show the path, the version and the field names only. Read Fields for the
// values.
type Entry struct {
	Path        string
	Version     int               // 0 when the backend keeps no versions
	Fields      map[string]string // never nil
	CreatedTime time.Time         // when the version was written; zero if the backend does not say
}

// entryOf converts what a backend returned into the Store's Entry.
func entryOf(e *driver.Entry) *Entry {
	out := &Entry{Path: e.Path, Version: e.Version, Fields: e.Fields}
	if out.Fields == nil {
		out.Fields = map[string]string{}
	}
	if e.Metadata != nil {
		out.CreatedTime = e.Metadata.CreatedTime
	}
	return out
}

// String describes e by its path, version and field names; never a value.
func (e Entry) String() string {
	s := "vaultly.Entry{" + strconv.Quote(e.Path)
	if e.Version != 0 {
		s += " version " + strconv.Itoa(e.Version)
	}
	return s + " fields [" + strings.Join(slices.Sorted(maps.Keys(e.Fields)), " ") + "]}"
}

// Format writes String for every verb, so an Entry passed to fmt or a log
// line never shows the values it holds.
func (e Entry) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, e.String()) }

// LogValue is String, for log/slog.
func (e Entry) LogValue() slog.Value { return slog.StringValue(e.String()) }

// MarshalJSON encodes String as a JSON string: an Entry nested in a value
// that is logged as JSON shows no secret either.
func (e Entry) MarshalJSON() ([]byte, error) { return json.Marshal(e.String()) }

// keyNames lists the keys of fields for an error text: sorted, quoted, at
// most 20 (names are not values; they help spot a typo).
func keyNames(fields map[string]string) string {
	if len(fields) == 0 {
		return "the entry has no keys"
	}
	names := slices.Sorted(maps.Keys(fields))
	const limit = 20
	more := len(names) - limit
	if more > 0 {
		names = names[:limit]
	}
	for i, n := range names {
		names[i] = strconv.Quote(n)
	}
	s := "the entry has " + strings.Join(names, ", ")
	if more > 0 {
		s += " and " + strconv.Itoa(more) + " more"
	}
	return s
}
