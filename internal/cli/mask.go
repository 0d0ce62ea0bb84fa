package cli

import (
	"io"
	"sort"
	"strings"
	"sync"
)

// maskText replaces every secret in output.
const maskText = "*****"

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
	var s []string
	seen := map[string]bool{}
	for _, x := range secrets {
		if x != "" && !seen[x] {
			seen[x] = true
			s = append(s, x)
		}
	}
	sort.Slice(s, func(i, j int) bool { return len(s[i]) > len(s[j]) })
	return &masker{w: w, secrets: s}
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
