package ldap

import (
	"fmt"
	"log/slog"

	"github.com/vaultly/vaultly/internal/redact"
)

// Format prints o for every verb with its credentials replaced by
// "[redacted]" (an unset credential stays empty), so printing or logging
// the Options never shows one.
func (o Options) Format(f fmt.State, verb rune) {
	type plain Options
	p := plain(o)
	p.Password = redact.String(p.Password)
	redact.Format(f, verb, "ldap.Options", p)
}

// LogValue is the redacted %+v text, for log/slog.
func (o Options) LogValue() slog.Value { return redact.LogValue(o) }

// MarshalJSON encodes the redacted %+v text as a JSON string.
func (o Options) MarshalJSON() ([]byte, error) { return redact.JSON(o) }
