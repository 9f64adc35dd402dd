package cronstream

import (
	"math/rand/v2"
	"time"
)

// backoff spaces reconnection attempts: attempt n waits a uniformly random
// time in [0, min(max, base*2^n)] ("full jitter"), so many workers cut off
// together do not reconnect together.
type backoff struct {
	base, max time.Duration
}

// ceiling is the longest wait of attempt n (n >= 0).
func (b backoff) ceiling(n int) time.Duration {
	if n < 0 {
		n = 0
	}
	c := b.base
	for i := 0; i < n && c < b.max; i++ {
		c *= 2
	}
	return min(c, b.max)
}

// delay is the wait before attempt n.
func (b backoff) delay(n int) time.Duration {
	c := b.ceiling(n)
	if c <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(c) + 1))
}
