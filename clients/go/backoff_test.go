package cronstream

import (
	"testing"
	"time"
)

// The delay after the n-th failure in a row is uniform in
// [0, min(5 s, 100 ms * 2^n)] in all four clients.
func TestBackoffDefaultsMatchTheOtherClients(t *testing.T) {
	o := withDefaults(WorkerOptions{})
	b := backoff{base: o.MinBackoff, max: o.MaxBackoff}
	want := []time.Duration{100, 200, 400, 800, 1600, 3200, 5000, 5000}
	for n, ms := range want {
		if got := b.ceiling(n); got != ms*time.Millisecond {
			t.Errorf("ceiling(%d) = %v, want %v", n, got, ms*time.Millisecond)
		}
	}
}

func TestBackoffStaysWithinItsCeiling(t *testing.T) {
	b := backoff{base: 100 * time.Millisecond, max: 10 * time.Second}
	want := []time.Duration{100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000}
	for n, ms := range want {
		if got := b.ceiling(n); got != ms*time.Millisecond {
			t.Errorf("ceiling(%d) = %v, want %v", n, got, ms*time.Millisecond)
		}
	}
	if got := b.ceiling(1000); got != b.max {
		t.Errorf("ceiling(1000) = %v: no overflow past the cap", got)
	}
	for n := range 40 {
		var longest time.Duration
		for range 500 {
			d := b.delay(n)
			if d < 0 || d > b.ceiling(n) {
				t.Fatalf("delay(%d) = %v, outside [0, %v]", n, d, b.ceiling(n))
			}
			longest = max(longest, d)
		}
		if longest < b.ceiling(n)/2 {
			t.Errorf("delay(%d): longest of 500 is %v; full jitter should reach near %v", n, longest, b.ceiling(n))
		}
	}
}

func TestBackoffJitterSpreadsDelays(t *testing.T) {
	b := backoff{base: 100 * time.Millisecond, max: 10 * time.Second}
	seen := map[time.Duration]bool{}
	for range 100 {
		seen[b.delay(10)] = true
	}
	if len(seen) < 90 {
		t.Errorf("only %d distinct delays out of 100", len(seen))
	}
}
