package procstat

import (
	"os"
	"testing"
)

func TestPeakRSSMiB(t *testing.T) {
	for status, want := range map[string]float64{
		"Name:\tagent\nVmPeak:\t 9000 kB\nVmHWM:\t    2048 kB\n": 2,
		"Name:\tagent\n": 0,
		"VmHWM:\tlots\n": 0,
	} {
		if got := peakRSSMiB(status); got != want {
			t.Errorf("peakRSSMiB(%q) = %v, want %v", status, got, want)
		}
	}
	if _, err := os.Stat("/proc/self/status"); err == nil && PeakRSSMiB() <= 0 {
		t.Error("no peak RSS where Linux reports it")
	}
}
