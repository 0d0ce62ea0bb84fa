package hashivault

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestConfigFileKeepsEveryField sets every string field of FileConfig (so a
// field added later is covered too) and checks that the file keeps them
// while json.Marshal of a FileConfig redacts the credentials.
func TestConfigFileKeepsEveryField(t *testing.T) {
	t.Parallel()
	in := &FileConfig{Auth: &FileAuth{Method: "approle", Mount: "ar", Params: map[string]string{"role_id": "r", "secret_id": "sid-canary"}}}
	v := reflect.ValueOf(in).Elem()
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.String {
			f.SetString("v-" + v.Type().Field(i).Name)
		}
	}
	p := filepath.Join(t.TempDir(), "config.json")
	if err := WriteConfigFile(p, in); err != nil {
		t.Fatal(err)
	}
	out, err := ReadConfigFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("round trip mismatch (-want +got):\n%s", diff)
	}

	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"v-Token", "sid-canary"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("json.Marshal(FileConfig) = %s, contains %q", b, secret)
		}
	}
	if !strings.Contains(string(b), `"address":"v-Address"`) {
		t.Errorf("json.Marshal(FileConfig) = %s, want the address", b)
	}
}
