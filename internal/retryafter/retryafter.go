// Package retryafter reads the HTTP Retry-After header (RFC 9110 §10.2.3), so
// that every client that reports a busy server says the same thing about when to
// come back.
package retryafter

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Max bounds what a server may ask for: a longer wait is read as Max, so a
// hostile or confused server cannot park a caller for days.
const Max = 10 * time.Minute

// Parse reads a Retry-After value, delay-seconds or an HTTP date, relative to
// now. It reports false for an empty or unreadable value; a date in the past is
// a wait of zero.
func Parse(value string, now time.Time) (time.Duration, bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}
	if n, err := strconv.ParseUint(value, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if err != nil || n > uint64(Max/time.Second) {
			return Max, true
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(value)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), Max), true
}
