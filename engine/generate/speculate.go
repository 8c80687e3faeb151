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
// Speculation samples on the host, since verification needs every row's
// logits: on a model that samples on the device (DeviceSampling) a speculative
// step copies back 1+drafts rows of logits instead of one id. Generator.Time
// (agent bench) measures plain decoding whatever s is.
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

// round is one speculative step's result: the drafts fed after the tokens the
// cache lacked, and the logits of len(drafts)+1 rows, row i being the model's
// after drafts[:i].
type round struct {
	drafts []int
	logits []float32
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
	c        Constraint
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
	logits, err := v.g.forward(ctx, feed, start, len(drafts)+1, v.c)
	if err != nil {
		return round{}, err
	}
	res.Drafted += len(drafts)
	return round{drafts: drafts, logits: logits, vocab: vocab}, nil
}

// choose picks the token of r's next row, verifying its draft if it has one,
// and counts the draft in res when it is kept.
func (v *verifier) choose(r *round, res *engine.Result) (int, error) {
	i := r.row
	r.row++
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
