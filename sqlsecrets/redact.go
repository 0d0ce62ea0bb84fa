package sqlsecrets

import (
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/vaultly/vaultly/internal/redact"
)

// Format prints c for every verb with Password replaced by "[redacted]".
// The password is reachable only as the field itself.
func (c Credentials) Format(f fmt.State, verb rune) {
	type plain Credentials
	p := plain(c)
	p.Password = redact.String(p.Password)
	redact.Format(f, verb, "sqlsecrets.Credentials", p)
}

// LogValue is the redacted %+v text, for log/slog.
func (c Credentials) LogValue() slog.Value { return redact.LogValue(c) }

// MarshalJSON encodes c with Password replaced by "[redacted]".
func (c Credentials) MarshalJSON() ([]byte, error) {
	type plain Credentials
	p := plain(c)
	p.Password = redact.String(p.Password)
	return json.Marshal(p)
}
