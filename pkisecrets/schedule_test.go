package pkisecrets

import (
	"testing"
	"time"
)

func TestNextIssue(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	life := 90 * time.Second
	if got, want := nextIssue(t0, t0.Add(life), 0.5), t0.Add(60*time.Second); !got.Equal(want) {
		t.Errorf("nextIssue(90s lifetime, no jitter) = t0+%v, want t0+60s (2/3)", got.Sub(t0))
	}
	lo, hi := nextIssue(t0, t0.Add(life), 0), nextIssue(t0, t0.Add(life), 0.999999)
	if !lo.Before(hi) {
		t.Errorf("jitter: nextIssue(r=0) = t0+%v, not before nextIssue(r=1) = t0+%v", lo.Sub(t0), hi.Sub(t0))
	}
	for _, r := range []float64{0, 0.25, 0.5, 0.75, 0.999999} {
		got := nextIssue(t0, t0.Add(life), r)
		// At least a sixth of the lifetime is always left for retries.
		if !got.After(t0) || got.After(t0.Add(life*5/6)) {
			t.Errorf("nextIssue(r=%v) = t0+%v, want after t0 and with a sixth of 90s left", r, got.Sub(t0))
		}
	}
	for _, notAfter := range []time.Time{t0, t0.Add(-time.Second)} {
		if got := nextIssue(t0, notAfter, 0.5); !got.Equal(t0) {
			t.Errorf("nextIssue(no lifetime left) = t0+%v, want now", got.Sub(t0))
		}
	}
}

func TestRetryDelay(t *testing.T) {
	tests := []struct {
		name     string
		attempt  int
		left     time.Duration
		rnd      float64
		min, max time.Duration
	}{
		{"first retry, plenty left", 1, time.Hour, 0.999999, 125 * time.Millisecond, 250 * time.Millisecond},
		{"doubles", 3, time.Hour, 0.999999, 500 * time.Millisecond, time.Second},
		{"capped at 30s", 20, time.Hour, 0.999999, 15 * time.Second, 30 * time.Second},
		{"never more than half of what is left", 20, 4 * time.Second, 0.999999, 0, 2 * time.Second},
		{"never below 50ms", 20, 20 * time.Millisecond, 0.5, 50 * time.Millisecond, 50 * time.Millisecond},
		{"expired: at least once a second", 20, -time.Minute, 0.999999, 500 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := retryDelay(tt.attempt, tt.left, tt.rnd)
			if got < tt.min || got > tt.max {
				t.Errorf("retryDelay(%d, %v, %v) = %v, want within [%v, %v]", tt.attempt, tt.left, tt.rnd, got, tt.min, tt.max)
			}
		})
	}
	// Retries get denser as the end nears.
	prev := time.Duration(1 << 62)
	for left := 10 * time.Second; left > 0; left -= time.Second {
		d := retryDelay(30, left, 0.999999)
		if d > prev {
			t.Errorf("retryDelay with %v left = %v, more than with more left (%v)", left, d, prev)
		}
		prev = d
	}
}

func TestNearExpiry(t *testing.T) {
	tests := []struct {
		left, life time.Duration
		want       bool
	}{
		{30 * time.Second, 60 * time.Second, false},
		{10 * time.Second, 60 * time.Second, false},
		{9 * time.Second, 60 * time.Second, true},
		{0, 60 * time.Second, true},
	}
	for _, tt := range tests {
		if got := nearExpiry(tt.left, tt.life); got != tt.want {
			t.Errorf("nearExpiry(%v, %v) = %v, want %v", tt.left, tt.life, got, tt.want)
		}
	}
}

func TestRequestTimeout(t *testing.T) {
	tests := []struct{ left, want time.Duration }{
		{time.Hour, 30 * time.Second},
		{30 * time.Second, 10 * time.Second},
		{3 * time.Second, 2 * time.Second},
		{-time.Second, 2 * time.Second},
	}
	for _, tt := range tests {
		if got := requestTimeout(tt.left); got != tt.want {
			t.Errorf("requestTimeout(%v) = %v, want %v", tt.left, got, tt.want)
		}
	}
}
