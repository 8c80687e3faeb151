// Package human writes byte counts and durations as people read them, in the
// tables and progress lines of the commands.
package human

import (
	"fmt"
	"strings"
	"time"
)

// Bytes is a byte count in the unit that suits it: B, kB, MB or GB (powers of
// ten).
func Bytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

// Duration is d to the second, to the minute past an hour, in days past two
// days; never negative.
func Duration(d time.Duration) string {
	switch d = max(d, 0); {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	case d >= time.Hour:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
	return d.Round(time.Second).String()
}

// Ago is Duration(d) + " ago".
func Ago(d time.Duration) string { return Duration(d) + " ago" }
