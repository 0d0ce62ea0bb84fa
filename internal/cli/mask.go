package cli

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"sort"
	"strings"
	"sync"
)

// maskText replaces every secret in output.
const maskText = "*****"

// minMaskLen is the shortest value `run` masks: shorter ones (a port, "1",
// "on") would turn ordinary output into asterisks and protect little; run
// warns once about the variables it leaves unmasked.
const minMaskLen = 4

// unmasked reports whether run leaves value v unmasked: shorter than
// minMaskLen, or a JSON literal (true, false, null), which any JSON the
// command prints is full of.
func unmasked(v string) bool {
	return len(v) < minMaskLen || v == "true" || v == "false" || v == "null"
}

// maskForms returns the texts to mask for values: each value of at least
// minMaskLen bytes; each line of a multi-line value that is that long and
// is not PEM armour (a private key printed line by line); the JSON-escaped
// form (a value printed inside a JSON string); and the standard and URL
// base64 forms without padding (which also find the padded forms).
func maskForms(values []string) []string {
	var out []string
	add := func(s string) {
		if len(s) >= minMaskLen {
			out = append(out, s)
		}
	}
	for _, v := range values {
		if unmasked(v) {
			continue
		}
		add(v)
		if strings.ContainsAny(v, "\r\n") {
			for _, line := range strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == '\r' }) {
				if t := strings.TrimSpace(line); !strings.HasPrefix(t, "-----") {
					add(t)
				}
			}
		}
		for _, html := range []bool{true, false} {
			var b strings.Builder
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(html)
			if enc.Encode(v) == nil {
				q := strings.TrimSuffix(b.String(), "\n")
				add(q[1 : len(q)-1])
			}
		}
		add(base64.RawStdEncoding.EncodeToString([]byte(v)))
		add(base64.RawURLEncoding.EncodeToString([]byte(v)))
	}
	return out
}

// masker is an io.WriteCloser that copies to w with every occurrence of a
// secret replaced by maskText, including secrets split across writes: it
// holds back the shortest tail that could still be the start of a secret.
// Close flushes what is held back. Safe for concurrent use.
type masker struct {
	mu      sync.Mutex
	w       io.Writer
	secrets []string // longest first
	buf     []byte
}

func newMasker(w io.Writer, secrets []string) *masker {
	m := &masker{w: w}
	m.add(secrets)
	return m
}

// add masks secrets too from now on.
func (m *masker) add(secrets []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[string]bool{}
	for _, x := range m.secrets {
		seen[x] = true
	}
	for _, x := range secrets {
		if x != "" && !seen[x] {
			seen[x] = true
			m.secrets = append(m.secrets, x)
		}
	}
	sort.SliceStable(m.secrets, func(i, j int) bool { return len(m.secrets[i]) > len(m.secrets[j]) })
}

func (m *masker) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.buf = append(m.buf, p...)
	out, rest := m.mask(string(m.buf), false)
	m.buf = append(m.buf[:0], rest...)
	if out != "" {
		if _, err := io.WriteString(m.w, out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Close writes what is held back.
func (m *masker) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	out, _ := m.mask(string(m.buf), true)
	m.buf = m.buf[:0]
	if out == "" {
		return nil
	}
	_, err := io.WriteString(m.w, out)
	return err
}

// mask returns the text of s that can be written now, masked, and the tail
// to hold back (empty when final).
func (m *masker) mask(s string, final bool) (string, string) {
	var b strings.Builder
	for {
		at, n := -1, 0
		for _, sec := range m.secrets { // longest first: ties go to the longer secret
			if i := strings.Index(s, sec); i >= 0 && (at < 0 || i < at) {
				at, n = i, len(sec)
			}
		}
		if at < 0 {
			break
		}
		b.WriteString(s[:at])
		b.WriteString(maskText)
		s = s[at+n:]
	}
	if final {
		b.WriteString(s)
		return b.String(), ""
	}
	hold := 0
	for _, sec := range m.secrets {
		for k := min(len(sec)-1, len(s)); k > hold; k-- {
			if strings.HasSuffix(s, sec[:k]) {
				hold = k
				break
			}
		}
	}
	b.WriteString(s[:len(s)-hold])
	return b.String(), s[len(s)-hold:]
}
