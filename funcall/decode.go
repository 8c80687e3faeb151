package funcall

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/sample"
)

// Decoded is a generation under the constraint.
type Decoded struct {
	Text         string
	IDs          []int
	PromptTokens int
	PromptTime   time.Duration // the prompt's forward pass
	GenTime      time.Duration // the generated tokens', masks included
	MaskTime     time.Duration // computing masks (cache misses) and applying them
	Forced       int           // tokens the constraint forced, fed with the one before them
}

// ErrIncomplete is returned when the token limit ends a call before it is
// complete; a limit of at least the automaton's MaxLen never does.
var ErrIncomplete = errors.New("the token limit ended the call before it was complete")

// Generate writes a call with model, continuing prompt (ids, fed as given),
// choosing each token with s among those m's mask allows, until the call is
// complete. The tokens the constraint forces after a chosen one (Forced) are
// fed with it in one forward pass. maxTokens 0 is the automaton's MaxLen (every token writes at least
// one byte, so the call always completes). The model's cache is rewritten from
// position 0: whatever else drives the model must not trust what it fed
// before (a fresh generate.Generator does not).
func Generate(ctx context.Context, model engine.Model, m *Masker, prompt []int, s engine.Sampling, maxTokens int) (d Decoded, err error) {
	d.PromptTokens = len(prompt)
	if len(prompt) == 0 {
		return d, errors.New("empty prompt")
	}
	if maxTokens <= 0 {
		maxTokens = m.a.MaxLen()
	}
	if room := model.ContextLength() - len(prompt); room < maxTokens {
		if room < 1 {
			return d, fmt.Errorf("%w: %d prompt tokens leave no room in %d positions", engine.ErrContextLength, len(prompt), model.ContextLength())
		}
		maxTokens = room
	}
	if err := engine.CheckIDs(prompt, model.VocabSize()); err != nil {
		return d, fmt.Errorf("prompt: %w", err)
	}
	sampler, err := sample.New(s, model.VocabSize())
	if err != nil {
		return d, err
	}
	if err := sampler.Observe(prompt...); err != nil {
		return d, err
	}
	begin := time.Now()
	logits, err := model.Forward(ctx, prompt, 0, 1)
	d.PromptTime = time.Since(begin)
	if err != nil {
		return d, fmt.Errorf("prompt: %w", err)
	}
	begin = time.Now()
	defer func() { d.GenTime = time.Since(begin) }()
	state := m.a.Start()
	var text []byte
	for {
		if len(logits) != model.VocabSize() {
			return d, fmt.Errorf("%d logits for a vocabulary of %d", len(logits), model.VocabSize())
		}
		t0 := time.Now()
		mask := m.Mask(state)
		mask.Apply(logits)
		d.MaskTime += time.Since(t0)
		id, err := sampler.Sample(logits)
		if err != nil {
			return d, fmt.Errorf("token %d: %w (the constraint allows %d tokens)", len(d.IDs), err, mask.Count())
		}
		next, ok := m.Advance(state, id)
		if !ok {
			return d, fmt.Errorf("token %d: the sampler chose id %d, which the constraint does not allow", len(d.IDs), id)
		}
		state = next
		feed := []int{id}
		t0 = time.Now()
		forced := m.Forced(state)
		d.MaskTime += time.Since(t0)
		for _, f := range forced[:min(len(forced), maxTokens-len(d.IDs)-1)] {
			state, _ = m.Advance(state, f) // Forced only returns tokens the automaton takes
			feed = append(feed, f)
			d.Forced++
		}
		start := len(prompt) + len(d.IDs)
		for _, f := range feed {
			d.IDs = append(d.IDs, f)
			text = append(text, m.vocab[f]...)
		}
		d.Text = string(text)
		if m.a.Done(state) {
			return d, nil
		}
		if len(d.IDs) >= maxTokens {
			return d, fmt.Errorf("%w (%d tokens): %q", ErrIncomplete, maxTokens, clip(d.Text))
		}
		if err := sampler.Observe(feed...); err != nil {
			return d, err
		}
		if err := ctx.Err(); err != nil {
			return d, err
		}
		if logits, err = model.Forward(ctx, feed, start, 1); err != nil {
			return d, fmt.Errorf("token %d: %w", len(d.IDs), err)
		}
	}
}
