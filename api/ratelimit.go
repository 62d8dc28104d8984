package api

import (
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"github.com/phiwatch/phiwatch/api/route"
)

// RateLimit is a token bucket per principal: Rate requests a second on
// average, bursts of up to Burst. A zero Rate turns it off.
type RateLimit struct {
	Rate  float64
	Burst int
}

// limiter holds one bucket per key (a principal's subject, or a client
// address before authentication).
type limiter struct {
	rate  rate.Limit
	burst int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	sweep   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
}

// idleBucket is how long an unused bucket is kept; a full bucket is the
// same as a new one, so dropping it changes nothing.
const idleBucket = 10 * time.Minute

func newLimiter(rl RateLimit, now func() time.Time) *limiter {
	if rl.Rate <= 0 {
		return nil
	}
	if rl.Burst < 1 {
		rl.Burst = max(1, int(math.Ceil(rl.Rate)))
	}
	return &limiter{rate: rate.Limit(rl.Rate), burst: rl.Burst, now: now, buckets: map[string]*bucket{}}
}

// allow takes a token for key, or says how long to wait for one.
func (l *limiter) allow(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.sweep) > idleBucket {
		for k, b := range l.buckets {
			if now.Sub(b.last) > idleBucket {
				delete(l.buckets, k)
			}
		}
		l.sweep = now
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[key] = b
	}
	b.last = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// rateLimited answers 429 with Retry-After once the caller's bucket is
// empty. The key is the principal when there is one, else the client IP.
func (l *limiter) middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		if l == nil {
			c.Next()
			return
		}
		key := "ip:" + c.ClientIP()
		if p := route.Principal(c); p != nil {
			key = p.Subject
		}
		if ok, wait := l.allow(key); !ok {
			tooMany(c, wait)
			return
		}
		c.Next()
	}
}

// tooMany answers 429 with Retry-After in whole seconds.
func tooMany(c *gin.Context, wait time.Duration) {
	secs := strconv.Itoa(max(1, int(math.Ceil(wait.Seconds()))))
	c.Header("Retry-After", secs)
	problem(c, 429, "too many requests: retry after "+secs+" s (the limit is per caller)")
}
