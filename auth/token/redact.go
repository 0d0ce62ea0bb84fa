package token

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/vaultly/vaultly/internal/redact"
)

// Format prints o for every verb with its credentials replaced by
// "[redacted]" (an unset credential stays empty), so printing or logging
// the Options never shows one.
func (o Options) Format(f fmt.State, verb rune) {
	type plain Options
	p := plain(o)
	p.Token = redact.String(p.Token)
	redact.Format(f, verb, "token.Options", p)
}

// LogValue is the redacted %+v text, for log/slog.
func (o Options) LogValue() slog.Value { return redact.LogValue(o) }

// MarshalJSON encodes the redacted %+v text as a JSON string.
func (o Options) MarshalJSON() ([]byte, error) { return redact.JSON(o) }

// Format prints Describe for every verb, so printing a *Method never shows
// the credential it holds.
func (m *Method) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, m.Describe()) }

// LogValue is Describe, for log/slog.
func (m *Method) LogValue() slog.Value { return slog.StringValue(m.Describe()) }
