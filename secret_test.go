package vaultly_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vaultly/vaultly"
)

const canary = "Zq9canaryXw"

// holder is a user struct holding secrets in exported and unexported fields.
type holder struct {
	Pub    vaultly.Value
	PubInt vaultly.Secret[int]
	Map    vaultly.Secret[map[string]string]
	Live   vaultly.Live[string]
	Ptr    *vaultly.Value
	priv   vaultly.Value
	privB  vaultly.Secret[[]byte]
	privL  vaultly.Live[string]
	Err    error
}

// render returns every printed, logged and marshalled form of v.
func render(t *testing.T, v any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%t", "%10.3v", "%-8s", "% x", "%T", "%p"} {
		out[verb] = fmt.Sprintf(verb, v)
	}
	out["Sprint"] = fmt.Sprint(v)
	out["Sprintln"] = fmt.Sprintln(v)
	if s, ok := v.(fmt.Stringer); ok {
		out["String"] = s.String()
	}
	if g, ok := v.(fmt.GoStringer); ok {
		out["GoString"] = g.GoString()
	}
	if e, ok := v.(error); ok {
		out["Error"] = e.Error()
	}
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json.Marshal(%T) = %v", v, err)
	}
	out["json"] = string(j)
	var jb bytes.Buffer
	slog.New(slog.NewJSONHandler(&jb, nil)).Info("m", "v", v, slog.Any("any", v), slog.Group("g", "v", v))
	out["slog json"] = jb.String()
	var tb bytes.Buffer
	slog.New(slog.NewTextHandler(&tb, nil)).Info("m", "v", v, slog.Any("any", v))
	out["slog text"] = tb.String()
	func() {
		defer func() {
			r := recover()
			out["panic %v"] = fmt.Sprintf("%v", r)
			out["panic %#v"] = fmt.Sprintf("%#v", r)
		}()
		panic(v)
	}()
	return out
}

func TestRedaction(t *testing.T) {
	b := newEntries(map[string]map[string]string{"app": {"pw": canary, "n": "12345"}})
	s := newStore(t, b)
	live, err := vaultly.NewLive[string](s, "app:pw", nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := live.Get(t.Context()); err != nil || v != canary {
		t.Fatalf("live.Get() = %q, %v; want the canary, nil", v, err)
	}
	bad, err := vaultly.NewLive[int](s, "app:pw", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, castErr := bad.Get(t.Context())
	if castErr == nil {
		t.Fatal("Live[int].Get() of a non-number = nil error")
	}
	_, getErr := vaultly.GetAs[time.Duration](t.Context(), s, "app:pw")
	if getErr == nil {
		t.Fatal("GetAs[time.Duration] of a non-duration = nil error")
	}
	type loadBad struct {
		N int `secret:"app:pw"`
	}
	loadErr := s.Load(t.Context(), &loadBad{}, nil)
	if loadErr == nil {
		t.Fatal("Load of a non-number into int = nil error")
	}
	var unmarshalErr error
	{
		var x vaultly.Secret[int]
		unmarshalErr = json.Unmarshal([]byte(`"`+canary+`"`), &x)
		if unmarshalErr == nil {
			t.Fatal("Secret[int].UnmarshalJSON of a non-number = nil error")
		}
	}
	sec := vaultly.NewSecret(canary)
	h := holder{
		Pub: sec, PubInt: vaultly.NewSecret(987654321), Map: vaultly.NewSecret(map[string]string{"k": canary}),
		Live: live, Ptr: &sec, priv: sec, privB: vaultly.NewSecret([]byte(canary)), privL: live, Err: castErr,
	}
	values := map[string]any{
		"Secret[string]":    sec,
		"*Secret[string]":   &sec,
		"Secret[[]byte]":    vaultly.NewSecret([]byte(canary)),
		"Secret[int]":       vaultly.NewSecret(987654321),
		"Secret[map]":       vaultly.NewSecret(map[string]string{canary: canary}),
		"Secret[struct]":    vaultly.NewSecret(struct{ A string }{canary}),
		"Live[string]":      live,
		"*Live[string]":     &live,
		"Live cast error":   castErr,
		"GetAs cast error":  getErr,
		"Load cast error":   loadErr,
		"Unmarshal error":   unmarshalErr,
		"holder":            h,
		"*holder":           &h,
		"[]Secret":          []vaultly.Value{sec, sec},
		"map[string]Secret": map[string]vaultly.Value{"k": sec},
		"anonymous unexported": struct {
			s vaultly.Value
			l vaultly.Live[string]
		}{sec, live},
	}
	secrets := []string{canary, "987654321", fmt.Sprintf("%x", canary), fmt.Sprintf("%X", canary)}
	for name, v := range values {
		t.Run(name, func(t *testing.T) {
			for how, got := range render(t, v) {
				for _, sv := range secrets {
					if strings.Contains(got, sv) {
						t.Errorf("%s of %s shows the secret: %s", how, name, got)
					}
				}
			}
		})
	}
	// The one way out still works.
	if got := h.priv.Reveal(); got != canary {
		t.Errorf("Reveal() = %q, want the value", got)
	}
}

func TestSecretForms(t *testing.T) {
	s := vaultly.NewSecret("pw")
	var zero vaultly.Value
	tests := []struct{ name, got, want string }{
		{"String", s.String(), "[redacted]"},
		{"%v", fmt.Sprintf("%v", s), "[redacted]"},
		{"%q", fmt.Sprintf("%q", s), `"[redacted]"`},
		{"%#v", fmt.Sprintf("%#v", s), "vaultly.Secret[string]([redacted])"},
		{"%d", fmt.Sprintf("%d", vaultly.NewSecret(42)), "[redacted]"},
		{"LogValue", s.LogValue().String(), "[redacted]"},
		{"zero %v", fmt.Sprintf("%v", zero), "[redacted]"},
		{"zero Reveal", zero.Reveal(), ""},
		{"Reveal", s.Reveal(), "pw"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	if zero.IsSet() || !s.IsSet() {
		t.Errorf("IsSet() zero, set = %v, %v; want false, true", zero.IsSet(), s.IsSet())
	}
	j, _ := json.Marshal(map[string]any{"a": s})
	if got, want := string(j), `{"a":"[redacted]"}`; got != want {
		t.Errorf("json.Marshal = %s, want %s", got, want)
	}
	txt, _ := s.MarshalText()
	if got := string(txt); got != vaultly.Redacted {
		t.Errorf("MarshalText = %q, want %q", got, vaultly.Redacted)
	}
}

func TestSecretUnmarshal(t *testing.T) {
	type cfg struct {
		Password vaultly.Value                      `json:"password"`
		Port     vaultly.Secret[int]                `json:"port"`
		PortStr  vaultly.Secret[int]                `json:"port_str"`
		Timeout  vaultly.Secret[time.Duration]      `json:"timeout"`
		Tags     vaultly.Secret[[]string]           `json:"tags"`
		Extra    vaultly.Secret[map[string]float64] `json:"extra"`
	}
	in := `{"password":"pw","port":5432,"port_str":"6432","timeout":"3s","tags":["a"],"extra":{"x":1.5}}`
	var c cfg
	if err := json.Unmarshal([]byte(in), &c); err != nil {
		t.Fatalf("json.Unmarshal = %v", err)
	}
	type view struct {
		Password string
		Port     int
		PortStr  int
		Timeout  time.Duration
		Tags     []string
		Extra    map[string]float64
	}
	got := view{c.Password.Reveal(), c.Port.Reveal(), c.PortStr.Reveal(), c.Timeout.Reveal(), c.Tags.Reveal(), c.Extra.Reveal()}
	want := view{"pw", 5432, 6432, 3 * time.Second, []string{"a"}, map[string]float64{"x": 1.5}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("json.Unmarshal mismatch (-want +got):\n%s", diff)
	}
	var raw vaultly.Secret[[]byte]
	if err := json.Unmarshal([]byte(`"abcd"`), &raw); err != nil || string(raw.Reveal()) != "abcd" {
		t.Errorf("Secret[[]byte] from JSON \"abcd\" = %q, %v; want the bytes abcd (no base64)", raw.Reveal(), err)
	}
	var d vaultly.Secret[time.Duration]
	if err := d.UnmarshalText([]byte("90s")); err != nil || d.Reveal() != 90*time.Second {
		t.Errorf("UnmarshalText(90s) = %v, %v; want 1m30s, nil", d.Reveal(), err)
	}
	err := d.UnmarshalText([]byte(canary))
	if err == nil || strings.Contains(err.Error(), canary) || !errors.Is(err, vaultly.ErrInvalidArgument) {
		t.Errorf("UnmarshalText(bad) = %v; want an InvalidArgument error without the value", err)
	}
	if d.Reveal() != 90*time.Second {
		t.Errorf("after a failed UnmarshalText, value = %v, want unchanged 1m30s", d.Reveal())
	}
}
