package transit

import (
	"fmt"
	"log/slog"

	"github.com/vaultly/vaultly/internal/redact"
)

func redactBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return []byte(redact.Marker)
}

// Format prints it for every verb with Plaintext replaced by "[redacted]",
// so logging a batch does not log the data. Read the field itself for the
// plaintext.
func (it EncryptItem) Format(f fmt.State, verb rune) {
	type plain EncryptItem
	p := plain(it)
	p.Plaintext = redactBytes(p.Plaintext)
	redact.Format(f, verb, "transit.EncryptItem", p)
}

// LogValue is the redacted %+v text, for log/slog.
func (it EncryptItem) LogValue() slog.Value { return redact.LogValue(it) }

// MarshalJSON encodes the redacted %+v text as a JSON string.
func (it EncryptItem) MarshalJSON() ([]byte, error) { return redact.JSON(it) }

// Format prints r for every verb with Plaintext replaced by "[redacted]".
// Read the field itself for the plaintext.
func (r DecryptResult) Format(f fmt.State, verb rune) {
	type plain DecryptResult
	p := plain(r)
	p.Plaintext = redactBytes(p.Plaintext)
	redact.Format(f, verb, "transit.DecryptResult", p)
}

// LogValue is the redacted %+v text, for log/slog.
func (r DecryptResult) LogValue() slog.Value { return redact.LogValue(r) }

// MarshalJSON encodes the redacted %+v text as a JSON string.
func (r DecryptResult) MarshalJSON() ([]byte, error) { return redact.JSON(r) }
