package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// row is one line of a key/value table.
type row struct{ k, v string }

// printTable writes rows as an aligned two-column table under a header.
func printTable(w io.Writer, header [2]string, rows []row) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintf(tw, "%s\t%s\n", header[0], header[1])
	fmt.Fprintf(tw, "%s\t%s\n", strings.Repeat("-", len(header[0])), strings.Repeat("-", len(header[1])))
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", r.k, r.v)
	}
	return tw.Flush()
}

// section prints a "==== title ====" line, like the vault CLI.
func section(w io.Writer, title string) {
	fmt.Fprintf(w, "%s\n", centre(title, 20))
}

func centre(title string, width int) string {
	pad := max(width-len(title)-2, 2)
	l := pad / 2
	return strings.Repeat("=", l) + " " + title + " " + strings.Repeat("=", pad-l)
}

// text renders a stored value as text: strings as they are, everything
// else as compact JSON.
func text(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return "n/a"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func durText(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	return d.String()
}
