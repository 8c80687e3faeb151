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

// TestFloor: the floor is the bytes over the bandwidth, the ratio the decode's
// time over it, and the summary gains its line only when set.
func TestFloor(t *testing.T) {
	r := Report{Model: "m", Device: "cuda", PromptTokens: 512, GenTokens: 100}
	r.SetTimes(time.Second, 2*time.Second) // 20 ms a token
	var b strings.Builder
	if err := r.WriteText(&b); err != nil || strings.Contains(b.String(), "floor") {
		t.Errorf("no floor set: %q, %v", b.String(), err)
	}
	r.SetFloor(34e9, 4.25e12, "copy")
	if r.FloorMsToken != 8 || r.FloorRatio != 2.5 || r.ReadGBs != 4250 {
		t.Errorf("floor %g ms, ratio %g, %g GB/s; want 8, 2.5, 4250", r.FloorMsToken, r.FloorRatio, r.ReadGBs)
	}
	b.Reset()
	if err := r.WriteText(&b); err != nil || !strings.Contains(b.String(), "decode floor 8.00 ms/token: 34.00 GB a token at 4250 GB/s read (copy); decode is 2.50x the floor\n") {
		t.Errorf("with the floor: %q, %v", b.String(), err)
	}
}
