package driver

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// String describes e by its path, version and field names; never a value.
func (e Entry) String() string {
	s := "driver.Entry{" + strconv.Quote(e.Path)
	if e.Version != 0 {
		s += " version " + strconv.Itoa(e.Version)
	}
	s += " fields [" + strings.Join(slices.Sorted(maps.Keys(e.Fields)), " ") + "]"
	if e.Lease != nil {
		s += " leased"
	}
	return s + "}"
}

// Format prints String for every verb, so an Entry passed to fmt or a log
// line never shows the secret values it holds. Read Fields for them.
func (e Entry) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, e.String()) }

// LogValue is String, for log/slog.
func (e Entry) LogValue() slog.Value { return slog.StringValue(e.String()) }

// MarshalJSON encodes String as a JSON string: an Entry nested in a value
// that is logged as JSON shows no secret either.
func (e Entry) MarshalJSON() ([]byte, error) { return json.Marshal(e.String()) }
