package bench_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/engine/open"
	"github.com/rewoo-agent/agent/internal/bench"
	"github.com/rewoo-agent/agent/internal/benchpeer"
	"github.com/rewoo-agent/agent/internal/fixtures"
)

func TestRun(t *testing.T) {
	spec := open.Spec{Model: fixtures.GPTQ("tiny-4bit-nogroup-actorder"), Device: "cpu"}
	peer := `printf '{"name":"fake","seqs":1,"decode_ms_per_token":2}\n'`
	for _, tt := range []struct {
		name     string
		o        bench.Options
		runLines int    // progress lines of runs: a warm-up and the timed ones
		batch    []int  // the batch points' concurrencies
		peers    int    // the peer's points
		peerErr  error  // the peer's error, returned beside the report
		stderr   string // what progress must hold
	}{
		{name: "plain", o: bench.Options{Prompt: 4, Gen: 3, Runs: 2}, runLines: 3},
		{name: "seqs", o: bench.Options{Prompt: 4, Gen: 2, Runs: 1, Seqs: []int{1, 2}}, runLines: 2, batch: []int{1, 2}},
		{name: "peer", o: bench.Options{Prompt: 4, Gen: 2, Runs: 1, Peer: peer + `; echo peer saw $AGENT_BENCH_PROMPT $AGENT_BENCH_SEQS >&2`, PeerTimeout: time.Minute},
			runLines: 2, peers: 1, stderr: "peer saw 4 1\n"},
		{name: "failing peer", o: bench.Options{Prompt: 4, Gen: 2, Runs: 1, Peer: "echo no device >&2; exit 3", PeerTimeout: time.Minute},
			runLines: 2, peerErr: benchpeer.ErrFailed, stderr: "no device"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var progress strings.Builder
			res, err := bench.Run(context.Background(), spec, tt.o, &progress)
			if !errors.Is(err, tt.peerErr) || (err == nil) != (tt.peerErr == nil) {
				t.Fatalf("err %v, want %v", err, tt.peerErr)
			}
			if res == nil {
				t.Fatal("no report")
			}
			if res.Device != "cpu" || res.PromptTokens != tt.o.Prompt || res.GenTokens != tt.o.Gen || res.Runs != tt.o.Runs || res.Model != spec.Model {
				t.Errorf("report %+v does not echo the options %+v", res, tt.o)
			}
			if !(res.LoadSeconds > 0 && res.PrefillTokS > 0 && res.DecodeTokS > 0 && res.FloorMsToken > 0) {
				t.Errorf("report %+v lacks a time or the decode floor", res)
			}
			if n := strings.Count("\n"+progress.String(), "\nrun "); n != tt.runLines {
				t.Errorf("%d run lines, want %d:\n%s", n, tt.runLines, progress.String())
			}
			if len(res.Batch) != len(tt.batch) {
				t.Fatalf("batch points %+v, want %v", res.Batch, tt.batch)
			}
			for i, b := range res.Batch {
				if b.Seqs != tt.batch[i] || b.TokS <= 0 {
					t.Errorf("batch point %d: %+v, want %d calls", i, b, tt.batch[i])
				}
			}
			if len(res.Peer) != tt.peers {
				t.Errorf("peer points %+v, want %d", res.Peer, tt.peers)
			}
			if tt.peerErr != nil && (res.PeerError != err.Error() || !strings.HasPrefix(res.PeerError, "bench --peer: ")) {
				t.Errorf("peer error in the report %q, returned %v", res.PeerError, err)
			}
			if !strings.Contains(progress.String(), tt.stderr) {
				t.Errorf("progress lacks %q:\n%s", tt.stderr, progress.String())
			}
		})
	}
}

// TestRunPastTheContext: a prompt and generation longer than the model's
// context is a ContextError, with no report.
func TestRunPastTheContext(t *testing.T) {
	spec := open.Spec{Model: fixtures.GPTQ("tiny-4bit-nogroup-actorder"), Device: "cpu"}
	res, err := bench.Run(context.Background(), spec, bench.Options{Prompt: 2040, Gen: 9, Runs: 1}, &strings.Builder{})
	var ce *bench.ContextError
	if !errors.As(err, &ce) || res != nil {
		t.Fatalf("report %v, err %v; want a ContextError", res, err)
	}
	if ce.Prompt != 2040 || ce.Gen != 9 || ce.Context != 2048 || err.Error() != "2040 prompt + 9 generated tokens exceed the context of 2048" {
		t.Errorf("error %+v: %v", ce, err)
	}
}
