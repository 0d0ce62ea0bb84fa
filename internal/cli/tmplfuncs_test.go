package cli

import (
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"
)

// TestHelperFuncsConsulTemplate: the helpers added for consul-template's
// templates give what consul-template's documentation says, with its
// argument order (the piped value last); their errors never quote the
// value.
func TestHelperFuncsConsulTemplate(t *testing.T) {
	const secretish = "s3cr3t-v4lue"
	for _, tc := range []struct{ tmpl, want, err string }{
		{`{{ "true" | parseBool }} {{ "42" | parseInt | add 1 }} {{ "1.5" | parseFloat | multiply 2 }}`, "true 43 3", ""},
		{`{{ 10 | subtract 3 }} {{ 10 | divide 4 }} {{ 10.0 | divide 4 }} {{ 10 | modulo 4 }}`, "7 2 2.5 2", ""},
		{`{{ "--a--" | trim "-" }} {{ "v1.2" | trimPrefix "v" }} {{ "app.conf" | trimSuffix ".conf" }} {{ "hello wORLD" | toTitle }}`, "a 1.2 app Hello WORLD", ""},
		{`{{ "abc123" | regexMatch "^[a-z]+[0-9]+$" }} {{ "a-b-c" | regexReplaceAll "-" "_" }}`, "true a_b_c", ""},
		{`{{ "hello" | sha256Hex }}`, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", ""},
		{`{{ range loop 3 }}{{ . }}{{ end }} {{ range loop 2 4 }}{{ . }}{{ end }}`, "012 23", ""},
		{`{{ $l := split "," "a,b,c" }}{{ $l | containsAll (split "," "a,c") }} {{ $l | containsAll (split "," "a,d") }} {{ $l | containsAny (split "," "x,b") }} {{ $l | containsAny (split "," "x,y") }}`, "true false true false", ""},
		{`{{ with parseYAML "a: 1\nb:\n  c: [x, z]\n" }}{{ .a }} {{ index .b.c 1 }} {{ toJSON . }}{{ end }}`, `1 z {"a":1,"b":{"c":["x","z"]}}`, ""},
		{`{{ parseJSON "{\"u\":\"a<b&c\"}" | toUnescapedJSON }} {{ parseJSON "{\"u\":\"a<b\"}" | toJSON }}`, `{"u":"a<b&c"} {"u":"a\u003cb"}`, ""},
		{`{{ "` + secretish + `: [" | parseYAML }}`, "", "parseYAML: the value is not valid YAML"},
		{`{{ "` + secretish + `" | parseInt }}`, "", "parseInt: the text is not a valid value"},
		{`{{ "` + secretish + `" | add 1 }}`, "", "add: want two numbers"},
		{`{{ 1 | divide 0 }}`, "", "divide: by zero"},
		{`{{ "` + secretish + `" | regexMatch "(" }}`, "", "regexMatch: the pattern is not a valid regular expression"},
		{`{{ range loop 0 10000000 }}{{ end }}`, "", "loop: more than"},
	} {
		tp, err := template.New("t").Funcs(helperFuncs()).Parse(tc.tmpl)
		if err != nil {
			t.Fatalf("%s: %v", tc.tmpl, err)
		}
		var b strings.Builder
		err = tp.Execute(&b, nil)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want %q", tc.tmpl, err, tc.err)
		case tc.err != "" && strings.Contains(err.Error(), secretish):
			t.Errorf("%s: the error quotes the value: %v", tc.tmpl, err)
		case tc.err == "" && (err != nil || b.String() != tc.want):
			t.Errorf("%s = %q, %v; want %q", tc.tmpl, b.String(), err, tc.want)
		}
	}
	// timestamp: now, RFC 3339 by default (tolerance: the 2 s around the call).
	tp := template.Must(template.New("t").Funcs(helperFuncs()).Parse(`{{ timestamp }}|{{ timestamp "unix" }}|{{ timestamp "2006-01-02" }}`))
	var b strings.Builder
	before := time.Now()
	if err := tp.Execute(&b, nil); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(b.String(), "|")
	ts, err := time.Parse(time.RFC3339, parts[0])
	unix, uerr := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || uerr != nil || ts.Sub(before).Abs() > 2*time.Second || time.Unix(unix, 0).Sub(before).Abs() > 2*time.Second || parts[2] != before.Format("2006-01-02") {
		t.Errorf("timestamp forms = %q", b.String())
	}
}
