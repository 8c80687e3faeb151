package benchreport

import (
	"strings"
	"testing"
	"time"
)

func TestReport(t *testing.T) {
	r := Report{Model: "m", Device: "cpu", PromptTokens: 100, GenTokens: 50, LoadSeconds: 1.25, PeakRSSMiB: 300}
	r.SetTimes(200*time.Millisecond, 2*time.Second)
	if r.PrefillSeconds != 0.2 || r.PrefillTokS != 500 || r.DecodeMsToken != 40 || r.DecodeTokS != 25 {
		t.Errorf("times %+v: want 0.2 s, 500 tok/s, 40 ms/token, 25 tok/s", r)
	}
	for _, tt := range []struct {
		device bool
		want   string
	}{
		{false, "m on cpu: load 1.2 s; prefill 100 tokens 200.0 ms (500 tok/s); decode 40.00 ms/token (25.0 tok/s, host sampling); peak RSS 300 MiB\n"},
		{true, "device sampling"},
	} {
		r.DeviceSampling = tt.device
		var b strings.Builder
		if err := r.WriteText(&b); err != nil || !strings.Contains(b.String(), tt.want) {
			t.Errorf("WriteText = %q, %v; want %q", b.String(), err, tt.want)
		}
	}
}

func TestWriteRun(t *testing.T) {
	for _, tt := range []struct {
		n    int
		want string
	}{
		{0, "run 0 (warm-up): prefill 12.5 ms, decode 2.50 ms/token\n"},
		{2, "run 2: prefill 12.5 ms, decode 2.50 ms/token\n"},
	} {
		var b strings.Builder
		WriteRun(&b, tt.n, 4, 12500*time.Microsecond, 10*time.Millisecond)
		if b.String() != tt.want {
			t.Errorf("WriteRun(%d) = %q, want %q", tt.n, b.String(), tt.want)
		}
	}
}
