package driver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestCodeOf(t *testing.T) {
	tests := []struct {
		err  error
		want Code
	}{
		{nil, OK},
		{errors.New("x"), Unknown},
		{NewError(NotFound, nil), NotFound},
		{fmt.Errorf("wrapped: %w", &Error{Code: ResourceExhausted, RetryAfter: time.Second}), ResourceExhausted},
		{context.Canceled, Canceled},
		{fmt.Errorf("read: %w", context.DeadlineExceeded), DeadlineExceeded},
		// A classified error wins over the context error it wraps.
		{&Error{Code: Unavailable, Err: context.DeadlineExceeded}, Unavailable},
	}
	for _, tt := range tests {
		if got := CodeOf(tt.err); got != tt.want {
			t.Errorf("CodeOf(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestCodeStringAndRetryable(t *testing.T) {
	for c := OK; c <= Conflict; c++ {
		if s := c.String(); s == "" || (c != Unknown && s == "unknown") {
			t.Errorf("Code(%d).String() = %q, want its own name", c, s)
		}
		want := c == Unavailable || c == ResourceExhausted
		if got := c.Retryable(); got != want {
			t.Errorf("%v.Retryable() = %v, want %v", c, got, want)
		}
	}
	if got := Code(99).String(); got != "unknown" {
		t.Errorf("Code(99).String() = %q, want unknown", got)
	}
}

func TestErrorText(t *testing.T) {
	cause := errors.New("code 404")
	e := &Error{Code: NotFound, Err: cause, Hint: "undelete it"}
	if got, want := e.Error(), "not found: code 404 (undelete it)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, cause) {
		t.Error("errors.Is(e, cause) = false; the cause must stay reachable")
	}
}

func TestEntryNeverPrintsValues(t *testing.T) {
	const canary = "canary-value-91c2"
	e := Entry{Path: "app/db", Version: 3, Fields: map[string]string{"password": canary, "user": "u"}}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("read", "entry", e, "ptr", &e)
	js, _ := json.Marshal(struct{ E Entry }{e})
	outs := []string{logs.String(), string(js)}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		outs = append(outs, fmt.Sprintf(verb, e), fmt.Sprintf(verb, &e))
	}
	for _, out := range outs {
		if strings.Contains(out, canary) {
			t.Errorf("printed entry shows a value: %s", out)
		}
	}
	if s := e.String(); !strings.Contains(s, "password") || !strings.Contains(s, "app/db") {
		t.Errorf("String() = %q, want the path and field names", s)
	}
}
