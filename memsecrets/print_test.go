package memsecrets_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/vaultly/vaultly/memsecrets"
)

// TestBackendPrintsNameOnly: a *Backend holding values prints its name for
// every verb and in JSON (the leak walk in internal/redact checks every
// placement and logger).
func TestBackendPrintsNameOnly(t *testing.T) {
	b := memsecrets.New(&memsecrets.Options{Name: "dev"})
	b.SetValue("app", "hunter2")
	const want = "memsecrets.Backend(dev)"
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%10s"} {
		if got := fmt.Sprintf(verb, b); got != want {
			t.Errorf("Sprintf(%q, backend) = %q, want %q", verb, got, want)
		}
	}
	j, _ := json.Marshal(b)
	if got, want := string(j), fmt.Sprintf("%q", want); got != want {
		t.Errorf("json.Marshal(backend) = %s, want %s", got, want)
	}
	type holder struct{ b *memsecrets.Backend }
	verbs := "%s %v %q %x" // not a constant: vet rejects %s of a struct, which is the point
	if got := fmt.Sprintf(verbs, holder{b}, holder{b}, holder{b}, holder{b}); strings.Contains(got, "hunter2") || strings.Contains(got, "68756e746572") {
		t.Errorf("Sprintf of a Backend in an unexported field = %q, shows a value", got)
	}
}
