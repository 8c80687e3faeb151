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

// TestBatch: each concurrency gets its line, in order, and its ratio to the one-call
// point once there is one, whatever the order they were added in; without a
// floor the lines still come.
func TestBatch(t *testing.T) {
	r := Report{Model: "m", Device: "cpu", PromptTokens: 16, GenTokens: 8}
	r.SetTimes(time.Second, time.Second)
	r.AddBatch(Batch{Seqs: 4, TokS: 300, TTFTms: 12.5, ITLms: 3.25})
	if r.Batch[0].VsOne != 0 {
		t.Errorf("ratio %g before the one-call point", r.Batch[0].VsOne)
	}
	r.AddBatch(Batch{Seqs: 1, TokS: 100, TTFTms: 5, ITLms: 9.5})
	if r.Batch[0].VsOne != 3 || r.Batch[1].VsOne != 1 {
		t.Errorf("ratios %g, %g; want 3, 1", r.Batch[0].VsOne, r.Batch[1].VsOne)
	}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := "batched, 4 calls at once: 300.0 tok/s, 3.00x one call (time to first token 12.5 ms, between tokens 3.25 ms)\n" +
		"batched, 1 call at once: 100.0 tok/s, 1.00x one call (time to first token 5.0 ms, between tokens 9.50 ms)\n"
	if !strings.HasSuffix(b.String(), want) {
		t.Errorf("WriteText = %q, want it to end with %q", b.String(), want)
	}
}
