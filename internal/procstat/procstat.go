// Package procstat reads what Linux reports of the running process.
package procstat

import (
	"os"
	"strconv"
	"strings"
)

// PeakRSSMiB is the process's peak resident memory (VmHWM) in MiB, 0 where
// /proc/self/status does not report it.
func PeakRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	return peakRSSMiB(string(b))
}

func peakRSSMiB(status string) float64 {
	for line := range strings.Lines(status) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
