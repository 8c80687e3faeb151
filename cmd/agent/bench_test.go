package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/internal/benchpeer"
	"github.com/rewoo-agent/agent/internal/benchreport"
)

func TestBench(t *testing.T) {
	dir := gptqFixture("tiny-4bit-nogroup-actorder")
	var out, errb bytes.Buffer
	err := run(context.Background(), stdio{strings.NewReader(""), &out, &errb},
		[]string{"bench", "--model", dir, "--device", "cpu", "--prompt", "9", "--gen", "5", "--runs", "2", "--json"})
	if err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	var res benchreport.Report
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if res.Device != "cpu" || res.PromptTokens != 9 || res.GenTokens != 5 || res.Runs != 2 || res.DeviceSampling {
		t.Errorf("result %+v does not echo the run's settings", res)
	}
	if !(res.PrefillSeconds > 0 && res.PrefillTokS > 0 && res.DecodeMsToken > 0 && res.DecodeTokS > 0) {
		t.Errorf("result %+v lacks a timing", res)
	}
	if got, want := res.DecodeTokS*res.DecodeMsToken, 1000.0; got < want*0.999 || got > want*1.001 {
		t.Errorf("decode %.3f tok/s and %.3f ms/token disagree", res.DecodeTokS, res.DecodeMsToken)
	}
	if n := strings.Count(errb.String(), "\nrun "); n != 3 {
		t.Errorf("progress shows %d runs, want a warm-up and 2 timed:\n%s", n, errb.String())
	}
}

// TestBenchSeqs: --seqs adds the batched engine's figures, one point a concurrency,
// each against the one-call point and against its floor (the CPU measures its read
// bandwidth, not a tensor-core rate).
func TestBenchSeqs(t *testing.T) {
	dir := gptqFixture("tiny-4bit-nogroup-actorder")
	var out, errb bytes.Buffer
	err := run(context.Background(), stdio{strings.NewReader(""), &out, &errb},
		[]string{"bench", "--model", dir, "--device", "cpu", "--prompt", "9", "--gen", "16", "--runs", "1", "--seqs", "1,3", "--json"})
	if err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	var res benchreport.Report
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if len(res.Batch) != 2 || res.Batch[0].Seqs != 1 || res.Batch[1].Seqs != 3 {
		t.Fatalf("batch points %+v, want 1 and 3 calls", res.Batch)
	}
	for _, b := range res.Batch {
		if !(b.TokS > 0 && b.TTFTms > 0 && b.VsOne > 0 && b.Running == b.Seqs && b.BytesPerToken > 0 && b.FloorMsStep > 0 && b.FloorPct > 0) {
			t.Errorf("batch point %+v lacks a figure", b)
		}
	}
	if one, three := res.Batch[0], res.Batch[1]; one.BytesPerToken != res.BytesPerToken || three.BytesPerToken >= one.BytesPerToken || three.FloorMsStep <= one.FloorMsStep {
		t.Errorf("three calls read %d bytes a token in %g ms a step, one %d in %g (the single-sequence floor %d): want fewer a token, more a step",
			three.BytesPerToken, three.FloorMsStep, one.BytesPerToken, one.FloorMsStep, res.BytesPerToken)
	}
	if res.TensorTFLOPs != 0 || res.PrefillFloorS != 0 || res.FloorPct <= 0 {
		t.Errorf("CPU limits: %g TFLOP/s, prefill floor %g s, decode %g%% of its floor", res.TensorTFLOPs, res.PrefillFloorS, res.FloorPct)
	}
	if res.Batch[0].VsOne != 1 {
		t.Errorf("one call is %gx itself", res.Batch[0].VsOne)
	}
}

// fakePeer prints two points (its name, 1 and 3 sequences) and what agent bench
// told it on standard error.
const fakePeer = `printf '{"name":"fake","seqs":1,"prompt_tokens":9,"prefill_s":0.01,"decode_ms_per_token":2}\n{"name":"fake","seqs":3,"decode_ms_per_token":3}\n'; ` +
	`echo "peer saw $AGENT_BENCH_MODEL $AGENT_BENCH_DEVICE $AGENT_BENCH_PROMPT $AGENT_BENCH_GEN $AGENT_BENCH_RUNS $AGENT_BENCH_SEQS" >&2`

// TestBenchPeer: --peer runs the command after our runs with the job in its
// environment and reports its points against the same floors, in the JSON and
// in the decode table.
func TestBenchPeer(t *testing.T) {
	dir := gptqFixture("tiny-4bit-nogroup-actorder")
	for _, asJSON := range []bool{true, false} {
		args := []string{"bench", "--model", dir, "--device", "cpu", "--prompt", "9", "--gen", "16", "--runs", "1", "--seqs", "3", "--peer", fakePeer}
		if asJSON {
			args = append(args, "--json")
		}
		var out, errb bytes.Buffer
		if err := run(context.Background(), stdio{strings.NewReader(""), &out, &errb}, args); err != nil {
			t.Fatalf("%v\n%s", err, errb.String())
		}
		if want := "peer saw " + dir + " cpu 9 16 1 1,3\n"; !strings.Contains(errb.String(), want) {
			t.Errorf("stderr %q lacks %q", errb.String(), want)
		}
		if !asJSON {
			if !regexp.MustCompile(`(?m)^fake +3 +3\.00 +1000\.0 +[0-9.]+ [kMG]?B +[0-9.]+ +[0-9.]+%$`).MatchString(out.String()) {
				t.Errorf("no peer row at 3 sequences in the table:\n%s", out.String())
			}
			continue
		}
		var res benchreport.Report
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("%v: %s", err, out.String())
		}
		if len(res.Peer) != 2 || res.Peer[0].Seqs != 1 || res.Peer[1].Seqs != 3 || res.Peer[0].Name != "fake" {
			t.Fatalf("peer points %+v", res.Peer)
		}
		one, three := res.Peer[0], res.Peer[1]
		if one.PrefillTokS != 900 || one.DecodeTokS != 500 || one.FloorMsStep != res.FloorMsToken || one.FloorPct != 100*res.FloorMsToken/2 ||
			three.BytesPerToken != res.Batch[0].BytesPerToken || three.PrefillSeconds != 0 {
			t.Errorf("peer points %+v against floor %g ms and batch %+v", res.Peer, res.FloorMsToken, res.Batch)
		}
	}
}

// TestBenchPeerFails: a peer that fails, prints what is not the schema or runs
// past --peer-timeout fails agent bench with an error saying so, after the report
// of our own figures (with the error in it).
func TestBenchPeerFails(t *testing.T) {
	dir := gptqFixture("tiny-4bit-nogroup-actorder")
	for _, tt := range []struct {
		peer, timeout string
		is            error
		want          string
	}{
		{"echo 'CUDA out of memory' >&2; exit 1", "1m", benchpeer.ErrFailed, "CUDA out of memory"},
		{"echo 'seqs: 1'", "1m", benchpeer.ErrOutput, "line 1"},
		{`echo '{"seqs":2,"decode_ms_per_token":3}'`, "1m", benchpeer.ErrOutput, "seqs 2 is not one of the batch sizes asked for, [1]"},
		{"sleep 30", "50ms", benchpeer.ErrTimeout, "timed out after 50ms"},
	} {
		for _, asJSON := range []bool{false, true} {
			args := []string{"bench", "--model", dir, "--device", "cpu", "--prompt", "4", "--gen", "2", "--runs", "1", "--peer", tt.peer, "--peer-timeout", tt.timeout}
			if asJSON {
				args = append(args, "--json")
			}
			var out, errb bytes.Buffer
			err := run(context.Background(), stdio{strings.NewReader(""), &out, &errb}, args)
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), "bench --peer") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("--peer %q: %v; want %v with %q", tt.peer, err, tt.is, tt.want)
				continue
			}
			if !asJSON {
				if !strings.Contains(out.String(), "\nagent  ") || !strings.Contains(out.String(), "no peer times: "+err.Error()) {
					t.Errorf("--peer %q: the report lacks our rows or the error:\n%s", tt.peer, out.String())
				}
				continue
			}
			var res benchreport.Report
			if jerr := json.Unmarshal(out.Bytes(), &res); jerr != nil || res.DecodeTokS <= 0 || res.PeerError != err.Error() || len(res.Peer) != 0 {
				t.Errorf("--peer %q --json: %+v, %v", tt.peer, res, jerr)
			}
		}
	}
}

func TestBenchRefuses(t *testing.T) {
	dir := gptqFixture("tiny-4bit-nogroup-actorder")
	for _, args := range [][]string{
		{"bench"},
		{"bench", "--model", dir, "--gen", "0"},
		{"bench", "--model", dir, "--prompt", "2040", "--gen", "9"}, // past the 2048 positions
		{"bench", "--model", dir, "--seqs", "1,0"},
		{"bench", "--model", dir, "--seqs", "65"},
		{"bench", "--model", dir, "--peer", "true", "--peer-timeout", "0s"},
	} {
		var errb bytes.Buffer
		err := run(context.Background(), stdio{strings.NewReader(""), &bytes.Buffer{}, &errb}, args)
		var ee exitError
		if !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("%v: err %v, want a usage error (exit 2)", args, err)
		}
	}
}

// TestBenchMaxSequences: --max-sequences sets the batched engine's running slots,
// so a point of more calls than the default 16 runs them all at once.
func TestBenchMaxSequences(t *testing.T) {
	dir := gptqFixture("tiny-4bit-nogroup-actorder")
	for _, c := range []struct {
		max     string
		running int
	}{{"", 16}, {"20", 20}} {
		// 16 tokens each: the first calls still decode when the last start
		args := []string{"bench", "--model", dir, "--device", "cpu", "--prompt", "3", "--gen", "16", "--runs", "1", "--seqs", "20", "--json"}
		if c.max != "" {
			args = append(args, "--max-sequences", c.max)
		}
		var out, errb bytes.Buffer
		if err := run(context.Background(), stdio{strings.NewReader(""), &out, &errb}, args); err != nil {
			t.Fatalf("%v\n%s", err, errb.String())
		}
		var res benchreport.Report
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("%v: %s", err, out.String())
		}
		if p := res.Batch[len(res.Batch)-1]; p.Seqs != 20 || p.Running != c.running {
			t.Errorf("--max-sequences %q: point %+v, want 20 calls with %d running", c.max, p, c.running)
		}
	}
}
