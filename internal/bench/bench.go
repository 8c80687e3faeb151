// Package bench measures a model as agent bench reports it: it loads the
// model, times a prompt of random ids fed in one batch and greedy decoding one
// token at a time against the floors the backend measures in the same run,
// then, one model in memory at a time, the continuous-batching engine at
// several concurrencies and a peer command's times (package benchpeer), all
// into one benchreport.Report.
package bench

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/batch"
	"github.com/rewoo-agent/agent/engine/open"
	"github.com/rewoo-agent/agent/internal/benchpeer"
	"github.com/rewoo-agent/agent/internal/benchreport"
	"github.com/rewoo-agent/agent/internal/procstat"
)

// Options are what Run times.
type Options struct {
	Prompt, Gen, Runs int   // prompt tokens, generated tokens, timed runs (each at least 1)
	Seqs              []int // the batched engine's calls at once, each timed (none: not timed)
	// Peer, when not "", is a command (sh -c) timed on the same checkpoint,
	// killed after PeerTimeout.
	Peer        string
	PeerTimeout time.Duration
}

// ContextError is a prompt and generation longer than the model's context.
type ContextError struct{ Prompt, Gen, Context int }

func (e *ContextError) Error() string {
	return fmt.Sprintf("%d prompt + %d generated tokens exceed the context of %d", e.Prompt, e.Gen, e.Context)
}

// Run loads spec's model (ids only: no tokenizer is needed) and measures it as
// o says, with each run's line and the peer's standard error on progress. A
// failing peer still gives the report, with the peer's error in it and
// returned beside it; any other error gives no report.
func Run(ctx context.Context, spec open.Spec, o Options, progress io.Writer) (*benchreport.Report, error) {
	spec.IDsOnly = true // random ids: no tokenizer needed
	begin := time.Now()
	m, err := open.Model(ctx, spec)
	if err != nil {
		return nil, err
	}
	defer func() {
		if m != nil {
			m.Close()
		}
	}()
	res := &benchreport.Report{Model: spec.Model, PromptTokens: o.Prompt, GenTokens: o.Gen, Runs: o.Runs,
		Device: m.Model.BackendName(), LoadSeconds: time.Since(begin).Seconds(), DeviceSampling: m.Model.SamplesOnDevice()}
	if n := o.Prompt + o.Gen; n > m.Model.ContextLength() {
		return nil, &ContextError{o.Prompt, o.Gen, m.Model.ContextLength()}
	}
	p, d, err := m.Generator.Bench(ctx, o.Prompt, o.Gen, o.Runs, func(r int, t engine.Result) { benchreport.WriteRun(progress, r, o.Gen, t.PromptTime, t.GenTime) })
	if err != nil {
		return nil, err
	}
	res.SetTimes(p, d)
	if bw, how, ok, err := m.Model.ReadBandwidth(ctx); err != nil {
		return nil, err
	} else if ok { // the floor at the decode's middle position
		kv := m.Model.KVBytes(o.Prompt + o.Gen/2)
		res.SetFloor(m.Model.DecodeBytes(o.Prompt+o.Gen/2)-kv, kv, bw, how)
	}
	if rate, how, ok, err := m.Model.TensorRate(ctx); err != nil {
		return nil, err
	} else if ok {
		res.SetCompute(m.Model.Weights(), rate, how)
	}
	dir := m.Dir
	if len(o.Seqs) > 0 || o.Peer != "" {
		// One model in memory at a time: a 65B checkpoint does not fit twice.
		if err := m.Close(); err != nil {
			return nil, err
		}
		m = nil
	}
	if len(o.Seqs) > 0 {
		if err := batched(ctx, spec, o, res); err != nil {
			return nil, err
		}
	}
	var peerErr error
	if o.Peer != "" { // a failing peer still lets the report out with our figures
		peerErr = peer(ctx, o, benchpeer.Job{Model: dir, Device: spec.Device, PromptTokens: o.Prompt,
			GenTokens: o.Gen, Runs: o.Runs, Seqs: benchpeer.BatchSizes(o.Seqs)}, progress, res)
	}
	res.PeakRSSMiB = procstat.PeakRSSMiB()
	return res, peerErr
}

// peer runs the peer command for job and adds its points to res, or its error
// to res and returns it.
func peer(ctx context.Context, o Options, job benchpeer.Job, progress io.Writer, res *benchreport.Report) error {
	pts, err := benchpeer.Run(ctx, o.Peer, job, progress, o.PeerTimeout)
	if err != nil {
		err = fmt.Errorf("bench --peer: %w", err)
		res.PeerError = err.Error()
		return err
	}
	for _, p := range pts {
		res.AddPeer(p.Name, p.Seqs, p.PrefillS, p.DecodeMsToken)
	}
	return nil
}

// batched loads spec's model into the continuous-batching engine and adds its
// throughput at each of o.Seqs calls at once to res.
func batched(ctx context.Context, spec open.Spec, o Options, res *benchreport.Report) error {
	llm, closeLLM, err := open.LLM(ctx, spec)
	if err != nil {
		return err
	}
	defer closeLLM()
	sched, ok := llm.(*batch.Scheduler)
	if !ok {
		return fmt.Errorf("bench --seqs: the %s backend has no paged cache, so no batched engine", res.Device)
	}
	for _, n := range o.Seqs {
		p, err := sched.Bench(ctx, n, o.Prompt, o.Gen, o.Runs)
		if err != nil {
			return err
		}
		res.AddBatch(benchreport.Batch{Seqs: p.Seqs, Running: p.Running, TokS: p.TokS, TTFTms: p.TTFTms, ITLms: p.ITLms, StepMs: p.StepMs})
	}
	return nil
}
