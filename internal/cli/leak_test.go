package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestBadArgumentsNeverEchoValues: a malformed KEY=VALUE argument (empty
// key) may well hold a secret; the usage error names its position, not its
// text.
func TestBadArgumentsNeverEchoValues(t *testing.T) {
	const canary = "hunter2-c4n4ry"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"put empty key", []string{"put", "app/db", "user=a", "=" + canary}, "field argument 2 has an empty key"},
		{"patch empty key", []string{"patch", "app/db", "=" + canary}, "field argument 1 has an empty key"},
		{"login empty name", []string{"login", "-method", "userpass", "username=a", "=" + canary}, "login parameter 2: want NAME=VALUE"},
		{"login no equals", []string{"login", "-method", "userpass", canary}, "login parameter 1: want NAME=VALUE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(context.Background(), tt.args, IO{In: strings.NewReader(""), Out: &out, Err: &errb})
			if code != ExitUsage {
				t.Errorf("Main(%q) = %d, want %d (stderr %q)", tt.args, code, ExitUsage, errb.String())
			}
			if got := out.String() + errb.String(); strings.Contains(got, canary) {
				t.Errorf("Main(%q) output = %q, contains the value", tt.args, got)
			}
			if got := errb.String(); !strings.Contains(got, tt.want) {
				t.Errorf("Main(%q) stderr = %q, want it to contain %q", tt.args, got, tt.want)
			}
		})
	}
}
