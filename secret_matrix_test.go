package vaultly_test

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"text/template"

	"github.com/vaultly/vaultly"
)

// holderOf is a user struct with a Secret[T] in every position fmt, slog
// and the encoders reach: exported and unexported fields, behind pointers,
// in slices, maps, interfaces and nested structs. In an unexported
// position fmt cannot call the Secret's methods and prints its fields.
type holderOf[T any] struct {
	Exported   vaultly.Secret[T]
	unexported vaultly.Secret[T]
	Ptr        *vaultly.Secret[T]
	ptr        *vaultly.Secret[T]
	Slice      []vaultly.Secret[T]
	slice      []vaultly.Secret[T]
	Map        map[string]vaultly.Secret[T]
	m          map[string]vaultly.Secret[T]
	Any        any
	anyv       any
	Nested     nestedOf[T]
	nested     nestedOf[T]
	Array      [1]vaultly.Secret[T]
	array      [1]vaultly.Secret[T]
}

type nestedOf[T any] struct {
	S vaultly.Secret[T]
	s vaultly.Secret[T]
}

func newHolder[T any](v T) *holderOf[T] {
	s := vaultly.NewSecret(v)
	return &holderOf[T]{
		Exported: s, unexported: s, Ptr: &s, ptr: &s,
		Slice: []vaultly.Secret[T]{s}, slice: []vaultly.Secret[T]{s},
		Map: map[string]vaultly.Secret[T]{"k": s}, m: map[string]vaultly.Secret[T]{"k": s},
		Any: s, anyv: s,
		Nested: nestedOf[T]{s, s}, nested: nestedOf[T]{s, s},
		Array: [1]vaultly.Secret[T]{s}, array: [1]vaultly.Secret[T]{s},
	}
}

type xmlDoc struct {
	XMLName xml.Name `xml:"doc"`
	S       any
}

type creds struct{ User, Password string }

// secretKind builds the same holder around two different plaintexts. Every
// printed form of the two must be the same once the addresses are masked:
// any difference is the plaintext (or its length) showing through.
type secretKind struct {
	name string
	a, b func() any           // *holderOf[T] around plaintext a or b
	sec  func(holder any) any // the holder's Secret[T], as a value
	// forms are texts that must never appear in any output of a (the
	// plaintext and its hex, decimal-byte and quoted encodings).
	forms []string
}

func kindOf[T any](name string, a, b T, forms ...string) secretKind {
	return secretKind{
		name:  name,
		a:     func() any { return newHolder(a) },
		b:     func() any { return newHolder(b) },
		sec:   func(h any) any { return h.(*holderOf[T]).Exported },
		forms: forms,
	}
}

const (
	plainA = "Zq9canaryXw"
	plainB = "Mk2differentPlainQ" // another length: the length must not show either
	intA   = 987654321
	intB   = 123
)

// textForms are the encodings of s that a leak would print.
func textForms(s string) []string {
	var dec []string
	for _, c := range []byte(s[:4]) {
		dec = append(dec, strconv.Itoa(int(c)))
	}
	return []string{s, fmt.Sprintf("%x", s), fmt.Sprintf("%X", s), fmt.Sprintf("% x", s[:4]),
		strings.Join(dec, " "), strings.Join(dec, ", "), strings.Join(dec, ","), s[:5]}
}

func intForms(n int) []string {
	return []string{strconv.Itoa(n), fmt.Sprintf("%x", n), fmt.Sprintf("%X", n), fmt.Sprintf("%o", n), fmt.Sprintf("%b", n), fmt.Sprintf("%e", float64(n))[:5]}
}

func secretKinds() []secretKind {
	sa, sb := plainA, plainB
	return []secretKind{
		kindOf("string", plainA, plainB, textForms(plainA)...),
		kindOf("int", intA, intB, intForms(intA)...),
		kindOf("[]byte", []byte(plainA), []byte(plainB), textForms(plainA)...),
		kindOf("map", map[string]string{"password": plainA}, map[string]string{"password": plainB}, textForms(plainA)...),
		kindOf("struct", creds{"u", plainA}, creds{"u", plainB}, textForms(plainA)...),
		kindOf("array", [2]string{"x", plainA}, [2]string{"x", plainB}, textForms(plainA)...),
		kindOf("[]int", []int{intA}, []int{intB}, intForms(intA)...),
		kindOf("pointer", &sa, &sb, textForms(plainA)...),
		kindOf("pointer to struct", &creds{"u", plainA}, &creds{"u", plainB}, textForms(plainA)...),
	}
}

// formats returns every fmt verb with every flag combination and a set of
// widths and precisions.
func formats() []string {
	verbs := "vbcdeEfFgGoOpqstTUxX"
	flags := []string{"", "+", "-", "#", " ", "0", "+#", "-# 0"}
	widths := []string{"", "1", "12", ".0", ".3", "30.2"}
	var out []string
	for _, v := range verbs {
		for _, f := range flags {
			for _, w := range widths {
				out = append(out, "%"+f+w+string(v))
			}
		}
	}
	return out
}

// addresses collects every address held in v that fmt may print: the
// pointers, slices, maps and interfaces on the way to each Secret, and the
// Secret's own (unexported) reference, which is read but not followed.
func addresses(v reflect.Value, out map[uintptr]bool) {
	switch v.Kind() {
	case reflect.Pointer, reflect.UnsafePointer, reflect.Slice, reflect.Map:
		if p := v.Pointer(); p != 0 {
			out[p] = true
		}
	}
	if v.Kind() == reflect.Struct && strings.HasPrefix(v.Type().Name(), "Secret[") {
		for i := range v.NumField() {
			addresses(v.Field(i), out) // its reference only
			if k := v.Field(i).Kind(); k != reflect.Pointer && k != reflect.UnsafePointer {
				panic("Secret has a field that is not a reference: " + v.Type().Field(i).Name)
			}
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			addresses(v.Elem(), out)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			addresses(v.Field(i), out)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			addresses(v.Index(i), out)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			addresses(it.Value(), out)
		}
	}
}

// maskAddresses replaces each address of h, in every base fmt prints a
// pointer in, by "ADDR".
func maskAddresses(s string, roots ...any) string {
	set := map[uintptr]bool{}
	for _, r := range roots {
		addresses(reflect.ValueOf(r), set)
	}
	var forms []string
	for p := range set {
		forms = append(forms, strconv.FormatUint(uint64(p), 2), strconv.FormatUint(uint64(p), 8),
			strconv.FormatUint(uint64(p), 10), strconv.FormatUint(uint64(p), 16),
			strings.ToUpper(strconv.FormatUint(uint64(p), 16)))
	}
	sort.Slice(forms, func(i, j int) bool { return len(forms[i]) > len(forms[j]) })
	for _, f := range forms {
		s = strings.ReplaceAll(s, f, "ADDR")
	}
	return s
}

// renderAll returns every printed, logged and encoded form of the holder h
// and of its Secret.
func renderAll(t *testing.T, k secretKind, h any) map[string]string {
	t.Helper()
	sec := k.sec(h)
	elem := reflect.ValueOf(h).Elem().Interface() // the holder as a value
	list := []any{sec, h}
	out := map[string]string{}
	for _, f := range formats() {
		out["holder "+f] = fmt.Sprintf(f, elem)
		out["&holder "+f] = fmt.Sprintf(f, h)
		out["secret "+f] = fmt.Sprintf(f, sec)
		out["[]any "+f] = fmt.Sprintf(f, list)
	}
	out["Sprint"] = fmt.Sprint(elem, h, sec)
	out["Sprintln"] = fmt.Sprintln(elem, h, sec)
	noTime := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}
	var text, js bytes.Buffer
	for _, l := range []*slog.Logger{slog.New(slog.NewTextHandler(&text, noTime)), slog.New(slog.NewJSONHandler(&js, noTime))} {
		l.Info("m", "holder", elem, "ptr", h, "secret", sec, slog.Any("any", sec), slog.Group("g", "h", elem))
		l.With("secret", sec).Info(fmt.Sprint(sec), "holder", h)
	}
	out["slog text"], out["slog json"] = text.String(), js.String()
	for name, v := range map[string]any{"holder": elem, "&holder": h, "secret": sec} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal(%s) = %v", name, err)
		}
		out["json "+name] = string(b)
		b, err = json.MarshalIndent(v, "", " ")
		if err != nil {
			t.Fatalf("json.MarshalIndent(%s) = %v", name, err)
		}
		out["json indent "+name] = string(b)
	}
	xb, err := xml.Marshal(xmlDoc{S: sec})
	if err != nil {
		t.Fatalf("xml.Marshal(secret) = %v", err)
	}
	out["xml"] = string(xb)
	var gb bytes.Buffer
	// gob refuses a Secret (no exported fields); its error must not leak either.
	err = gob.NewEncoder(&gb).Encode(sec)
	out["gob"] = fmt.Sprint(gb.String(), err)
	var tb bytes.Buffer
	tmpl := template.Must(template.New("t").Parse(`{{.}} {{printf "%s %x %d" .Exported .Exported .Exported}} {{.Any}} {{.Map}}`))
	if err := tmpl.Execute(&tb, h); err != nil {
		t.Fatalf("template = %v", err)
	}
	out["text/template"] = tb.String()
	func() {
		defer func() {
			r := recover()
			out["recovered %v"] = fmt.Sprintf("%v", r)
			out["recovered %#v"] = fmt.Sprintf("%#v", r)
			out["recovered %s"] = fmt.Sprintf("%s", r)
		}()
		panic(elem)
	}()
	for k, v := range out {
		out[k] = maskAddresses(v, h, list)
	}
	return out
}

// TestSecretNeverPrints renders a Secret[T] of every kind, in every
// position of a user's struct, through every fmt verb × flag × width, the
// slog text and JSON handlers, encoding/json, xml, gob, text/template and
// a recovered panic. Two plaintexts must give the same output (addresses
// masked), and no encoding of the plaintext may appear.
func TestSecretNeverPrints(t *testing.T) {
	t.Parallel()
	for _, k := range secretKinds() {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			ha, hb := k.a(), k.b()
			a, b := renderAll(t, k, ha), renderAll(t, k, hb)
			var bad int
			for how, got := range a {
				for _, f := range k.forms {
					if strings.Contains(got, f) && bad < 20 {
						bad++
						t.Errorf("%s shows the plaintext (%q): %s", how, f, got)
					}
				}
				if got != b[how] && bad < 20 {
					bad++
					t.Errorf("%s depends on the plaintext:\n a: %s\n b: %s", how, got, b[how])
				}
			}
		})
	}
}

// TestSecretNeverPrintsInPanic lets a Secret and a holder of one escape as
// an unrecovered panic, in a child process, and reads what the runtime
// printed (the panic value and the goroutine traceback with its argument
// words).
func TestSecretNeverPrintsInPanic(t *testing.T) {
	if k := os.Getenv("VAULTLY_SECRET_PANIC"); k != "" {
		for _, sk := range secretKinds() {
			if sk.name+"/a" == k || sk.name+"/b" == k {
				h := sk.a
				if strings.HasSuffix(k, "/b") {
					h = sk.b
				}
				panicWith(h(), sk.sec(h()), os.Getenv("VAULTLY_SECRET_PANIC_WHAT"))
			}
		}
		t.Fatalf("unknown kind %q", k)
	}
	t.Parallel()
	hexes := regexp.MustCompile(`0x[0-9a-f]+|goroutine \d+|\d+\.\d+s|m=\d+`)
	for _, k := range secretKinds() {
		for _, what := range []string{"secret", "&secret", "holder", "&holder", "error"} {
			t.Run(k.name+"/"+what, func(t *testing.T) {
				t.Parallel()
				run := func(ab string) string {
					cmd := exec.Command(os.Args[0], "-test.run=^TestSecretNeverPrintsInPanic$", "-test.count=1")
					cmd.Env = append(os.Environ(), "VAULTLY_SECRET_PANIC="+k.name+"/"+ab,
						"VAULTLY_SECRET_PANIC_WHAT="+what)
					out, err := cmd.CombinedOutput()
					if err == nil || !strings.Contains(string(out), "panic: ") {
						t.Fatalf("child did not panic: %v\n%s", err, out)
					}
					return string(out)
				}
				a, b := run("a"), run("b")
				for _, f := range k.forms {
					if strings.Contains(a, f) {
						t.Errorf("the panic output shows the plaintext (%q):\n%s", f, a)
					}
				}
				if ma, mb := hexes.ReplaceAllString(a, "N"), hexes.ReplaceAllString(b, "N"); ma != mb {
					t.Errorf("the panic output depends on the plaintext:\n%s\n---\n%s", ma, mb)
				}
			})
		}
	}
}

//go:noinline
func panicWith(h, sec any, what string) {
	switch what {
	case "secret":
		panic(sec)
	case "&secret":
		p := reflect.New(reflect.TypeOf(sec))
		p.Elem().Set(reflect.ValueOf(sec))
		panic(p.Interface())
	case "holder":
		panic(reflect.ValueOf(h).Elem().Interface())
	case "&holder":
		panic(h)
	case "error":
		panic(fmt.Errorf("bad secret %v / %s / %d", sec, h, sec))
	}
}
