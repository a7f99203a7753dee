package server

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/opsflow/opsflow"
)

// Abuse limits: each credential (an API token, or an SSO subject) has a
// budget of writes and one of exports, token buckets of
// golang.org/x/time/rate. A request over budget is answered 429 with
// Retry-After, and nothing is done. Reads are not limited. The buckets
// live in the API process: with N instances behind a balancer a
// credential gets N times the budget.

// RateLimit is one budget: Rate requests a second on average, Burst at
// once. A zero RateLimit is "no limit".
type RateLimit struct {
	Rate  rate.Limit
	Burst int
}

// Off reports whether the limit is "no limit".
func (l RateLimit) Off() bool { return l.Burst == 0 }

func (l RateLimit) String() string {
	if l.Off() {
		return "off"
	}
	return fmt.Sprintf("%g/s:%d", float64(l.Rate), l.Burst)
}

// RateLimits are the API's budgets per credential.
type RateLimits struct {
	Writes  RateLimit // POST, PUT, DELETE on /v1
	Exports RateLimit // inspection packs and CSV exports
}

// Default budgets per credential: 1200 writes a minute (a burst of 100),
// far above what a person or a well-behaved integration sends, and 60
// exports an hour (a burst of 10): a pack of every CAPA closed in a year
// is one export.
var (
	DefaultWriteLimit  = RateLimit{Rate: rate.Limit(20), Burst: 100}
	DefaultExportLimit = RateLimit{Rate: rate.Limit(60.0 / 3600), Burst: 10}
)

// ParseRateLimit reads a budget: "N/unit" with unit s, m or h, and an
// optional ":burst" (default: N, at least 1) — "600/m:60", "30/h:5" — or
// "off".
func ParseRateLimit(s string) (RateLimit, error) {
	s = strings.TrimSpace(s)
	if s == "off" {
		return RateLimit{}, nil
	}
	bad := fmt.Errorf("rate limit %q: want N/s, N/m or N/h with an optional :burst (600/m:60), or off", s)
	spec, burstText, hasBurst := strings.Cut(s, ":")
	nText, unit, ok := strings.Cut(spec, "/")
	n, err := strconv.ParseFloat(nText, 64)
	if !ok || err != nil || n <= 0 || math.IsInf(n, 0) {
		return RateLimit{}, bad
	}
	per := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}[unit]
	if per == 0 {
		return RateLimit{}, bad
	}
	burst := max(int(n), 1)
	if hasBurst {
		if burst, err = strconv.Atoi(burstText); err != nil || burst < 1 {
			return RateLimit{}, bad
		}
	}
	return RateLimit{Rate: rate.Limit(n / per.Seconds()), Burst: burst}, nil
}

// limiter holds one kind of budget for every credential.
type limiter struct {
	limit RateLimit
	class string // what the budget is for, in the 429's message
	mu    sync.Mutex
	m     map[string]*bucket
}

type bucket struct {
	*rate.Limiter
	seen time.Time
}

// maxBuckets bounds the credentials remembered; past it, buckets idle for
// longer than it takes to refill are dropped (they would be full anyway).
const maxBuckets = 10000

// take spends one request of key's budget at now, or says how long until
// one is available.
func (l *limiter) take(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]*bucket{}
	}
	b, ok := l.m[key]
	if !ok {
		if len(l.m) >= maxBuckets {
			full := time.Duration(float64(l.limit.Burst) / float64(l.limit.Rate) * float64(time.Second))
			for k, old := range l.m {
				if now.Sub(old.seen) > full {
					delete(l.m, k)
				}
			}
		}
		b = &bucket{Limiter: rate.NewLimiter(l.limit.Rate, l.limit.Burst)}
		l.m[key] = b
	}
	b.seen = now
	r := b.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Hour
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// limited wraps an op's handler with its budget: writes and exports are
// counted per credential; other ops pass.
func (s *Server) limited(o op, h echo.HandlerFunc) echo.HandlerFunc {
	var l *limiter
	switch {
	case o.isPublic():
		return h
	case strings.HasSuffix(o.path, "/export"):
		l = s.exportLimiter
	case o.method != http.MethodGet && o.method != http.MethodHead:
		l = s.writeLimiter
	}
	if l == nil || l.limit.Off() {
		return h
	}
	return func(c echo.Context) error {
		key, _ := c.Get(credentialKey).(string)
		if ok, wait := l.take(key, time.Now()); !ok {
			secs := int(math.Ceil(wait.Seconds()))
			c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
			return &opsflow.Error{Code: opsflow.ERATELIMITED, Message: fmt.Sprintf(
				"too many %s with this credential (%s): nothing was done; retry after %d s", l.class, l.limit, secs)}
		}
		return h(c)
	}
}

// credentialKey holds the request's credential, as the rate limits key it.
const credentialKey = "opsflow.credential"
