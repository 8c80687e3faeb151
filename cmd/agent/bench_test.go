package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

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
// each against the one-call point.
func TestBenchSeqs(t *testing.T) {
	dir := gptqFixture("tiny-4bit-nogroup-actorder")
	var out, errb bytes.Buffer
	err := run(context.Background(), stdio{strings.NewReader(""), &out, &errb},
		[]string{"bench", "--model", dir, "--device", "cpu", "--prompt", "9", "--gen", "5", "--runs", "1", "--seqs", "1,3", "--json"})
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
		if !(b.TokS > 0 && b.TTFTms > 0 && b.VsOne > 0) {
			t.Errorf("batch point %+v lacks a figure", b)
		}
	}
	if res.Batch[0].VsOne != 1 {
		t.Errorf("one call is %gx itself", res.Batch[0].VsOne)
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
	} {
		var errb bytes.Buffer
		err := run(context.Background(), stdio{strings.NewReader(""), &bytes.Buffer{}, &errb}, args)
		var ee exitError
		if !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("%v: err %v, want a usage error (exit 2)", args, err)
		}
	}
}
