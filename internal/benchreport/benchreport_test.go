package benchreport

import (
	"encoding/json"
	"flag"
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.txt from the reports")

func TestTimes(t *testing.T) {
	r := Report{Model: "m", Device: "cpu", PromptTokens: 100, GenTokens: 50, LoadSeconds: 1.25, PeakRSSMiB: 300}
	r.SetTimes(200*time.Millisecond, 2*time.Second)
	if r.PrefillSeconds != 0.2 || r.PrefillTokS != 500 || r.DecodeMsToken != 40 || r.DecodeTokS != 25 {
		t.Errorf("times %+v: want 0.2 s, 500 tok/s, 40 ms/token, 25 tok/s", r)
	}
	if r.FloorMsToken != 0 || r.FloorPct != 0 || r.PrefillFloorS != 0 {
		t.Errorf("floors %+v without limits", r)
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

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// TestFloor: the decode floor is the step's bytes (weights once, one sequence's
// cache) over the bandwidth, the ratio and percentage the decode's time against it.
func TestFloor(t *testing.T) {
	r := Report{Model: "m", Device: "cuda", PromptTokens: 512, GenTokens: 100}
	r.SetTimes(time.Second, 2*time.Second) // 20 ms a token
	r.SetFloor(30e9, 4e9, 4.25e12, "copy")
	if r.BytesPerToken != 34e9 || !near(r.FloorMsToken, 8) || !near(r.FloorRatio, 2.5) || !near(r.FloorPct, 40) || r.ReadGBs != 4250 {
		t.Errorf("floor %d B, %g ms, ratio %g, %g%%, %g GB/s; want 34e9, 8, 2.5, 40, 4250", r.BytesPerToken, r.FloorMsToken, r.FloorRatio, r.FloorPct, r.ReadGBs)
	}
}

// TestCompute: the prefill floor is 2 x weights x prompt tokens over the rate.
func TestCompute(t *testing.T) {
	r := Report{Model: "m", Device: "cuda", PromptTokens: 500, GenTokens: 10}
	r.SetCompute(64e9, 512e12, "mma")
	r.SetTimes(250*time.Millisecond, time.Second) // setters in any order
	if !near(r.PrefillFloorS, 0.125) || !near(r.PrefillFloorPct, 50) || r.TensorTFLOPs != 512 {
		t.Errorf("prefill floor %g s, %g%%, %g TFLOP/s; want 0.125, 50, 512", r.PrefillFloorS, r.PrefillFloorPct, r.TensorTFLOPs)
	}
}

// TestBatch: each concurrency gets its ratio to the one-call point once there is
// one, whatever the order they were added in, and its floor: the weights read once
// for the sequences running, the cache of each.
func TestBatch(t *testing.T) {
	r := Report{Model: "m", Device: "cuda", PromptTokens: 16, GenTokens: 8}
	r.SetTimes(time.Second, time.Second)
	r.AddBatch(Batch{Seqs: 4, TokS: 300, TTFTms: 12.5, ITLms: 20})
	if r.Batch[0].VsOne != 0 || r.Batch[0].Running != 4 || r.Batch[0].FloorPct != 0 {
		t.Errorf("point %+v before the one-call point and the floor", r.Batch[0])
	}
	r.AddBatch(Batch{Seqs: 1, TokS: 100, TTFTms: 5, ITLms: 10})
	r.AddBatch(Batch{Seqs: 32, Running: 16, TokS: 800, ITLms: 40})
	// A full decode step's time, when the run had one, is what the floor is held to.
	r.AddBatch(Batch{Seqs: 16, TokS: 700, ITLms: 40, StepMs: 25})
	r.SetFloor(30e9, 1e9, 2e12, "copy")
	for i, want := range []struct {
		vsOne, bytes, floorMs, pct float64
	}{
		{3, 34e9 / 4, 17, 85},
		{1, 31e9, 15.5, 155},
		{8, 46e9 / 16, 23, 57.5},
		{7, 46e9 / 16, 23, 92},
	} {
		b := r.Batch[i]
		if !near(b.VsOne, want.vsOne) || b.BytesPerToken != int64(want.bytes) || !near(b.FloorMsStep, want.floorMs) || !near(b.FloorPct, want.pct) {
			t.Errorf("point %d: %+v; want %+v", i, b, want)
		}
	}
}

// TestPeer: the peer's points get the floors of their batch sizes, set before or
// after them, and tok/s from their times.
func TestPeer(t *testing.T) {
	r := Report{Model: "m", Device: "cuda", PromptTokens: 500, GenTokens: 8}
	r.AddPeer("exl", 1, 0.5, 20)
	r.SetFloor(30e9, 1e9, 2e12, "copy")
	r.SetCompute(64e9, 512e12, "mma")
	r.AddPeer("exl", 4, 0, 25)
	p := r.Peer[0]
	if !near(p.PrefillTokS, 1000) || !near(p.PrefillFloorS, 0.125) || !near(p.PrefillFloorPct, 25) ||
		!near(p.DecodeTokS, 50) || p.BytesPerToken != 31e9 || !near(p.FloorMsStep, 15.5) || !near(p.FloorPct, 77.5) {
		t.Errorf("peer at 1: %+v", p)
	}
	p = r.Peer[1]
	if p.PrefillTokS != 0 || p.PrefillFloorPct != 0 || !near(p.DecodeTokS, 160) || !near(p.FloorMsStep, 17) || !near(p.FloorPct, 68) {
		t.Errorf("peer at 4: %+v", p)
	}
}

// TestWriteText compares the tables with testdata/*.txt (go test -update
// rewrites them): a CPU run without limits, and a GPU run with every row.
func TestWriteText(t *testing.T) {
	cpu := Report{Model: "tiny", Device: "cpu", PromptTokens: 64, GenTokens: 32, Runs: 2, LoadSeconds: 0.25, PeakRSSMiB: 120}
	cpu.SetTimes(100*time.Millisecond, 320*time.Millisecond)
	cpu.AddBatch(Batch{Seqs: 1, TokS: 90, TTFTms: 110, ITLms: 0})
	gpu := Report{Model: "/tmp/m", Device: "cuda", PromptTokens: 512, GenTokens: 128, Runs: 3, LoadSeconds: 6.5, PeakRSSMiB: 2100, DeviceSampling: true}
	gpu.SetTimes(370*time.Millisecond, 128*17*time.Millisecond)
	gpu.SetFloor(33.9e9, 0.7e9, 4.35e12, "device-to-device copy")
	gpu.SetCompute(65.2e9, 620e12, "mma.sync")
	gpu.AddBatch(Batch{Seqs: 1, TokS: 55, TTFTms: 380, ITLms: 17.5})
	gpu.AddBatch(Batch{Seqs: 4, TokS: 190, TTFTms: 1400, ITLms: 19})
	gpu.AddBatch(Batch{Seqs: 32, Running: 16, TokS: 600, TTFTms: 5000, ITLms: 24, StepMs: 21.5})
	gpu.AddPeer("exllamav2", 1, 0.17, 18.8)
	gpu.AddPeer("exllamav2", 4, 0, 21)
	for name, r := range map[string]Report{"cpu": cpu, "gpu": gpu} {
		t.Run(name, func(t *testing.T) {
			var b strings.Builder
			if err := r.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			golden := "testdata/" + name + ".txt"
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if b.String() != string(want) {
				t.Errorf("WriteText:\n%s\nwant (%s):\n%s", b.String(), golden, want)
			}
			if _, err := json.Marshal(r); err != nil {
				t.Errorf("JSON: %v", err)
			}
		})
	}
}

func TestBytesText(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		want string
	}{
		{0, "-"}, {7, "7 B"}, {999, "999 B"}, {1000, "1.00 kB"}, {12345, "12.3 kB"},
		{654321, "654 kB"}, {9_995_000, "10.0 MB"}, {34.6e9, "34.6 GB"}, {9.175e9, "9.18 GB"}, {2500e9, "2500 GB"},
	} {
		if got := bytesText(tt.n); got != tt.want {
			t.Errorf("bytesText(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}
