// Package pathlist lists the names directly under a prefix in a flat set of
// slash-separated entry paths, the way the local backends (filesecrets,
// memsecrets) answer driver.Lister. It keeps no state and is safe for
// concurrent use.
package pathlist

import (
	"iter"
	"maps"
	"slices"
	"strings"
)

// Children returns the sorted, distinct names directly under prefix among
// paths: an entry's name as is, a folder's name with a trailing '/'.
// Leading and trailing slashes of prefix are ignored; "" is the root. No
// match gives an empty (nil) slice.
func Children(paths iter.Seq[string], prefix string) []string {
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	seen := map[string]bool{}
	for p := range paths {
		rest, ok := strings.CutPrefix(p, prefix)
		if !ok || rest == "" {
			continue
		}
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[:i+1]
		}
		seen[rest] = true
	}
	return slices.Sorted(maps.Keys(seen))
}
