package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	yaml "go.yaml.in/yaml/v3"
	"golang.org/x/term"
)

// printJSON writes v as indented JSON, as the vault CLI does
// (json.MarshalIndent with two spaces, then a newline).
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// printYAML writes v as YAML: its JSON form converted, keys sorted and
// two-space indentation, as the vault CLI's -format=yaml.
func printYAML(w io.Writer, v any) error {
	b, err := yamlBytes(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func yamlBytes(v any) ([]byte, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode output: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return nil, fmt.Errorf("encode output: %w", err)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	enc.CompactSeqIndent() // "- x" under its key, not indented: as the vault CLI prints lists
	if err := enc.Encode(yamlNumbers(generic)); err != nil {
		return nil, fmt.Errorf("encode output: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode output: %w", err)
	}
	return buf.Bytes(), nil
}

// yamlNumbers turns json.Numbers into YAML numbers (a json.Number would
// be written as a quoted string).
func yamlNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: v.String()}
		if strings.ContainsAny(v.String(), ".eE") {
			n.Tag = "!!float"
		}
		return n
	case map[string]any:
		for k, x := range v {
			v[k] = yamlNumbers(x)
		}
	case []any:
		for i, x := range v {
			v[i] = yamlNumbers(x)
		}
	}
	return v
}

// structured reports whether -format asks for something other than the
// human table.
func (g *globals) structured() bool { return g.format != "table" }

// printData writes v in the -format asked for (json or yaml). raw is only
// for -field values, as in the vault CLI.
func (g *globals) printData(w io.Writer, v any) error {
	switch g.format {
	case "yaml":
		return printYAML(w, v)
	case "raw":
		return usagef("this command does not support -format=raw: only -field values print raw")
	}
	return printJSON(w, v)
}

// printField prints one value the way `vault ... -field=NAME` does: raw
// (fmt's %v) with table and raw formats, else in the format asked for;
// followed by a newline only when stdout is a terminal, so that
// $(vaultly get -field=...) and a pipe get the bytes alone.
func (g *globals) printField(w io.Writer, v any) error {
	var s string
	switch g.format {
	case "table", "raw":
		s = fmt.Sprintf("%v", v)
	case "yaml":
		b, err := yamlBytes(v)
		if err != nil {
			return err
		}
		s = string(b)
	default:
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Errorf("encode output: %w", err)
		}
		s = string(b)
	}
	if isTerminal(w) {
		s += "\n"
	}
	_, err := io.WriteString(w, s)
	return err
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// row is one line of a key/value table.
type row struct{ k, v string }

// printTable writes rows as an aligned two-column table under a header.
func printTable(w io.Writer, header [2]string, rows []row) error {
	tw := tabwriter.NewWriter(w, 0, 4, 4, ' ', 0)
	fmt.Fprintf(tw, "%s\t%s\n", header[0], header[1])
	fmt.Fprintf(tw, "%s\t%s\n", strings.Repeat("-", len(header[0])), strings.Repeat("-", len(header[1])))
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", r.k, r.v)
	}
	return tw.Flush()
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

func durText(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	return d.String()
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return "n/a"
	}
	return t.UTC().Format(time.RFC3339Nano)
}
