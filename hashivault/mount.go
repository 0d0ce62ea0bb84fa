package hashivault

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// systemMounts are Vault's own mounts, never a KV engine: reading them as
// KV (v1 reads are plain GETs of <mount>/<path>) would return policies,
// mount tables, tokens' cubbyholes or identities as if they were secrets.
var systemMounts = []string{"sys", "auth", "identity", "cubbyhole"}

// validateMount checks the KV mount (already trimmed of '/') like an entry
// path: no empty, '.' or '..' segment, no control, format or invalid
// character; and refuses Vault's system mounts. With KVVersion set nothing
// asks Vault what the mount is, so "sys" or "secret/../sys" would read
// sys/ otherwise.
func validateMount(mount string) error {
	bad := func(why string) error {
		return configError("options: mount " + strconv.Quote(mount) + " " + why)
	}
	for _, c := range mount {
		if c == utf8.RuneError || unicode.IsControl(c) || unicode.Is(unicode.Cf, c) {
			return bad("contains a control or invalid character")
		}
	}
	segs := strings.Split(mount, "/")
	for _, seg := range segs {
		switch seg {
		case "":
			return bad("has an empty segment")
		case ".", "..":
			return bad("has a " + strconv.Quote(seg) + " segment")
		}
	}
	for _, m := range systemMounts {
		if strings.EqualFold(segs[0], m) {
			return bad("is under " + m + "/, one of Vault's system mounts, not a kv secrets engine")
		}
	}
	return nil
}
