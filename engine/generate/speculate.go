package generate

import (
	"context"
	"fmt"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/sample"
)

// Drafter proposes the tokens that may follow ids (the prompt and the tokens
// generated so far) for speculative decoding: at most k, possibly none.
// engine/speculate has one that copies them from earlier n-grams of ids and one
// that runs a smaller model of the same vocabulary.
//
// The generator verifies every draft against the model, so a draft changes only
// the speed, never the output: greedy decoding gives the same tokens, sampling
// the same distribution, as decoding token by token. For the second the drafter
// must not see the sampler's random draws (none here do).
type Drafter interface {
	Draft(ctx context.Context, ids []int, k int) ([]int, error)
}

// Speculation configures speculative decoding: each decode step feeds the
// tokens not yet in the cache and up to MaxDraft draft tokens in one forward
// pass, and keeps the drafts the model agrees with, plus the model's own next
// token after them.
type Speculation struct {
	Drafter  Drafter // nil turns speculation off
	MaxDraft int     // draft tokens per step at most; 0 means DefaultMaxDraft
	// Adaptive varies the draft length within [1, MaxDraft] as transformers'
	// assisted generation does: two more after a step that kept every draft,
	// one fewer after one that did not, from MaxDraft/2. For backends where
	// each row of a step costs nearly as much as a step (the CPU); without it
	// every step asks for MaxDraft, best where extra rows are nearly free (a
	// GPU, bound by reading the weights).
	Adaptive bool
}

// DefaultMaxDraft is the draft length unless configured.
const DefaultMaxDraft = 8

// Speculate makes g's later generations decode speculatively with s (s.Drafter
// nil: token by token). It waits for a generation in progress to end.
//
// On a model that picks several rows' tokens on the device (RowSampling) a
// step copies back one id a row: each row's token is chosen there as plain
// decoding would choose it after the drafts before it (greedy, the argmax;
// sampled, a draw of its own from the row's distribution) and a draft is kept
// when it is that token, which gives plain decoding's tokens greedy and its
// distribution sampled. Elsewhere, and under a constraint (which filters the
// logits on the host), every row's logits are copied back and verified on the
// host (sample.Sampler.Verify). Generator.Time (agent bench) measures plain
// decoding whatever s is.
func (g *Generator) Speculate(s Speculation) error {
	if s.MaxDraft < 0 {
		return fmt.Errorf("speculation: max draft %d: must be >= 0", s.MaxDraft)
	}
	if s.MaxDraft == 0 {
		s.MaxDraft = DefaultMaxDraft
	}
	g.turn <- struct{}{}
	g.spec = s
	<-g.turn
	return nil
}

// RowSampling is an optional capability of a Model (engine/llama has it on
// backends that implement engine.BatchDeviceSampler): feeding ids and picking
// the token after each of several of them where the logits are (rows[i].Row
// indexes ids), so that a speculative step copies back one id a row instead of
// VocabSize floats a row.
type RowSampling interface {
	SamplesRowsOnDevice() bool
	ForwardSampleRows(ctx context.Context, ids []int, start int, rows []engine.RowSample) ([]int, error)
}

// rowSampler is g's model as a RowSampling when it picks rows' tokens on the
// device, else nil.
func (g *Generator) rowSampler() RowSampling {
	if rs, ok := g.model.(RowSampling); ok && rs.SamplesRowsOnDevice() {
		return rs
	}
	return nil
}

// round is one speculative step's result: the drafts fed after the tokens the
// cache lacked, and for each of len(drafts)+1 rows, row i being the model's
// after drafts[:i], either its logits (verified on the host) or its token
// (chosen on the device).
type round struct {
	drafts []int
	logits []float32 // nil when ids holds the rows' tokens
	ids    []int
	vocab  int
	row    int // the next row to choose from
}

// kept reports whether id, chosen from the previous row, is that row's draft
// and a row after it is left: then the next token comes from that row.
func (r *round) kept(id int) bool {
	return r.row > 0 && r.row < len(r.drafts)+1 && r.drafts[r.row-1] == id
}

// verifier chooses tokens from a round's rows.
type verifier struct {
	g        *Generator
	sampler  *sample.Sampler
	sampling engine.Sampling
	c        Constraint
	rows     RowSampling // the model, when the rows' tokens are chosen on the device; else nil
	filtered []float32
	k        int // the draft length of the next step; 0 until the first
}

// step drafts after seq (at most room tokens, the generation's budget after the
// next token), then feeds seq[start:] and the drafts in one forward pass,
// counting the drafts in res. prev is the step before, for Adaptive.
func (v *verifier) step(ctx context.Context, spec Speculation, prev round, seq []int, start, room int, res *engine.Result) (round, error) {
	vocab := v.g.model.VocabSize()
	switch {
	case !spec.Adaptive:
		v.k = spec.MaxDraft
	case v.k == 0:
		v.k = max(spec.MaxDraft/2, 1)
	case len(prev.drafts) == 0:
	case prev.row == len(prev.drafts)+1:
		v.k = min(v.k+2, spec.MaxDraft)
	default:
		v.k = max(v.k-1, 1)
	}
	var drafts []int
	if k := min(v.k, room); k > 0 {
		d, err := spec.Drafter.Draft(ctx, seq, k)
		if err != nil {
			return round{}, fmt.Errorf("draft: %w", err)
		}
		if len(d) > k {
			return round{}, fmt.Errorf("draft: %d tokens, asked for %d at most", len(d), k)
		}
		if err := engine.CheckIDs(d, vocab); err != nil {
			return round{}, fmt.Errorf("draft: %w", err)
		}
		drafts = d
	}
	feed := append(seq[start:len(seq):len(seq)], drafts...)
	res.Drafted += len(drafts)
	if v.rows != nil {
		ids, err := v.onDevice(ctx, feed, start, drafts)
		return round{drafts: drafts, ids: ids, vocab: vocab}, err
	}
	logits, err := v.g.forward(ctx, feed, start, len(drafts)+1, v.c)
	if err != nil {
		return round{}, err
	}
	return round{drafts: drafts, logits: logits, vocab: vocab}, nil
}

// onDevice feeds feed at start, its last len(drafts) ids the drafts, and has
// the model choose the token after each of its last len(drafts)+1 ids on the
// device as plain decoding would there: row i with the history of the
// repetition penalty and drafts[:i] (a repeated id marks nothing twice), and a
// draw of its own from the sampler's generator. Like forward it keeps g.fed in
// step with the model's cache.
func (v *verifier) onDevice(ctx context.Context, feed []int, start int, drafts []int) ([]int, error) {
	n, s := len(drafts)+1, v.sampling
	var hist []int32
	if s.RepetitionPenalty != 0 && s.RepetitionPenalty != 1 {
		h := v.sampler.History()
		hist = make([]int32, len(h), len(h)+len(drafts))
		copy(hist, h)
		for _, d := range drafts {
			hist = append(hist, int32(d))
		}
	}
	pick := make([]engine.RowSample, n)
	for i := range pick {
		pick[i] = engine.RowSample{Row: len(feed) - n + i, Sampling: s}
		if hist != nil {
			pick[i].History = hist[:len(hist)-len(drafts)+i]
		}
		if s.Temperature != 0 {
			pick[i].U = v.sampler.Uniform()
		}
	}
	g := v.g
	g.fed = g.fed[:start]
	ids, err := v.rows.ForwardSampleRows(ctx, feed, start, pick)
	if err != nil {
		return nil, fmt.Errorf("forward and sample %d rows at position %d: %w", n, start, err)
	}
	if len(ids) != n {
		return nil, fmt.Errorf("forward and sample %d rows at position %d: %d ids", n, start, len(ids))
	}
	if err := engine.CheckIDs(ids, g.model.VocabSize()); err != nil {
		return nil, fmt.Errorf("device sampler at position %d: %w", start, err)
	}
	g.fed = append(g.fed, feed...)
	return ids, nil
}

// choose picks the token of r's next row, verifying its draft if it has one,
// and counts the draft in res when it is kept.
func (v *verifier) choose(r *round, res *engine.Result) (int, error) {
	i := r.row
	r.row++
	if r.ids != nil {
		id := r.ids[i]
		if i < len(r.drafts) && id == r.drafts[i] {
			res.Accepted++
		}
		return id, nil
	}
	logits, err := filter(v.c, r.logits[i*r.vocab:(i+1)*r.vocab], &v.filtered)
	if err != nil {
		return 0, err
	}
	if i == len(r.drafts) {
		id, err := v.sampler.Sample(logits)
		if err != nil {
			return 0, fmt.Errorf("sampling after %d drafts: %w", i, err)
		}
		return id, nil
	}
	id, err := v.sampler.Verify(logits, r.drafts[i])
	if err != nil {
		return 0, fmt.Errorf("verifying draft %d: %w", i, err)
	}
	if id == r.drafts[i] {
		res.Accepted++
	}
	return id, nil
}
