package vaultly

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseTag(t *testing.T) {
	t.Parallel()
	type result struct {
		Ref       string
		Vars      []string
		TTL       time.Duration
		Version   int
		Optional  bool
		Required  bool
		Default   *string
		Prefix    string
		HasPrefix bool
	}
	tests := []struct {
		tag  string
		want result
	}{
		{"/myapp/db:password", result{Ref: "/myapp/db:password"}},
		{"myapp/db", result{Ref: "myapp/db"}},
		{"myapp/db:password,ttl=5m", result{Ref: "myapp/db:password", TTL: 5 * time.Minute}},
		{"a,ttl=nocache", result{Ref: "a", TTL: NoCache}},
		{"a,ttl=forever", result{Ref: "a", TTL: UntilRefreshed}},
		{"a,version=2", result{Ref: "a", Version: 2}},
		{"a,optional", result{Ref: "a", Optional: true}},
		{"a,required", result{Ref: "a", Required: true}},
		{"a,default=x", result{Ref: "a", Default: ptr("x")}},
		{"a,default=", result{Ref: "a", Default: ptr("")}},
		{"a,ttl=1s,default=x,y=z,ttl=2", result{Ref: "a", TTL: time.Second, Default: ptr("x,y=z,ttl=2")}},
		{"a,optional,default=x", result{Ref: "a", Optional: true, Default: ptr("x")}},
		{"app/{Env}/db:{Key}", result{Ref: "app/{Env}/db:{Key}", Vars: []string{"Env", "Key"}}},
		{",prefix=myapp/{env}", result{Prefix: "myapp/{env}", HasPrefix: true}},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			s, err := parseTag(tt.tag)
			if err != nil {
				t.Fatalf("parseTag(%q) = %v, want nil error", tt.tag, err)
			}
			got := result{Ref: s.ref.raw, Vars: s.ref.vars(), TTL: s.ttl, Version: s.version, Optional: s.optional,
				Required: s.required, Default: s.def, Prefix: s.prefix.raw, HasPrefix: s.hasPrefix}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseTag(%q) mismatch (-want +got):\n%s", tt.tag, diff)
			}
		})
	}
}

func TestParseTagErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tag  string
		want string
	}{
		{"", "tag has no path"},
		{",optional", "tag has no path"},
		{"a,bogus", `unknown tag option "bogus"`},
		{"a,bogus=1", `unknown tag option "bogus"`},
		{"a,,optional", "empty tag option"},
		{"a,optional,optional", `duplicate tag option "optional"`},
		{"a,optional,required", "optional and required conflict"},
		{"a,required,default=x", "default= and required conflict"},
		{"a,ttl=0", "ttl= must be a positive duration"},
		{"a,ttl=-1s", "ttl= must be a positive duration"},
		{"a,ttl=soon", "ttl= must be a positive duration"},
		{"a,ttl", "ttl= needs a value"},
		{"a,version=0", "version= must be an integer >= 1"},
		{"a,version=x", "version= must be an integer >= 1"},
		{"a,optional=1", `"optional" takes no value`},
		{"a,default", "default needs '='"},
		{"a,prefix=b", "prefix= is for nested structs"},
		{",prefix=b,optional", "prefix= cannot be combined"},
		{",prefix=", "prefix= needs a value"},
		{"a/{b", "unbalanced '{'"},
		{"a/b}", "unbalanced '}'"},
		{"a/{}", "placeholder {} is not a Go identifier"},
		{"a/{1x}", "placeholder {1x} is not a Go identifier"},
		{",prefix=a/{b-c}", "placeholder {b-c} is not a Go identifier"},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			_, err := parseTag(tt.tag)
			if err == nil {
				t.Fatalf("parseTag(%q) = nil error, want %q", tt.tag, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseTag(%q) = %q, want it to contain %q", tt.tag, err, tt.want)
			}
			if !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("parseTag(%q) = %q, want errors.Is(err, ErrInvalidArgument)", tt.tag, err)
			}
		})
	}
}

func TestParseTagDefaultNotInErrors(t *testing.T) {
	t.Parallel()
	const canary = "Zq9canaryXw"
	for _, tag := range []string{"a,required,default=" + canary, "a,optional,required,default=" + canary} {
		_, err := parseTag(tag)
		if err == nil {
			t.Fatalf("parseTag(%q) = nil error, want one", tag)
		}
		if strings.Contains(err.Error(), canary) {
			t.Errorf("parseTag(%q) = %q: shows the default", tag, err)
		}
	}
}

func TestJoinPath(t *testing.T) {
	t.Parallel()
	tests := []struct{ prefix, p, want string }{
		{"", "a/b", "a/b"},
		{"x", "", "x"},
		{"x/", "/a", "x/a"},
		{"/x", "a", "/x/a"},
		{"", "", ""},
	}
	for _, tt := range tests {
		if got := joinPath(tt.prefix, tt.p); got != tt.want {
			t.Errorf("joinPath(%q, %q) = %q, want %q", tt.prefix, tt.p, got, tt.want)
		}
	}
}
