// Package generate turns an engine.Model and a tokenizer into an engine.LLM: it
// encodes the prompt with BOS in front as transformers does, processes it in one
// batched Forward, then samples token after token until EOS, a stop string, the token
// limit or the context length ends the generation, streaming text as it is decoded.
//
// The model's key-value cache is kept between calls: a prompt that begins with the
// tokens of the previous call (a conversation, a plan growing step by step) only
// pays for its new tokens. Calls are serialized, since a Model serves one at a time.
//
// With Speculate, decoding is speculative: a Drafter (engine/speculate) proposes
// the next tokens, one Forward feeds them with the step's own token, and the
// drafts are kept while the model agrees (sample.Sampler.Verify), so a step may
// yield several tokens with the output of plain decoding: the same tokens
// greedy, the same distribution sampled. Each token is still taken one at a
// time through the constraint, the stop strings, the limits and the penalty's
// history; a rejected draft is overwritten by the next step (the cache rewinds).
package generate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/sample"
	"github.com/rewoo-agent/agent/engine/stop"
)

// Stream decodes generated ids into text piece by piece, never half a character.
type Stream interface {
	Next(id int) string
	Flush() string
}

// Tokenizer is what the generator needs from a tokenizer. BOS or EOS below 0 means
// the vocabulary has none.
type Tokenizer[S Stream] interface {
	Encode(text string) []int // without BOS
	BOS() int
	EOS() int
	NewStream() S
}

// Generator is an engine.LLM over a local model. It is safe for concurrent use;
// calls take turns.
type Generator struct {
	model     engine.Model
	encode    func(string) []int
	newStream func() Stream
	bos, eos  int
	vocab     engine.Vocab // nil when the tokenizer has no pieces

	turn chan struct{} // holds one token while a call owns the model
	fed  []int         // the ids in the model's cache, by position
	spec Speculation   // the drafter, nil when decoding token by token
}

var (
	_ engine.LLM          = (*Generator)(nil)
	_ engine.TokenCounter = (*Generator)(nil)
	_ engine.Constrained  = (*Generator)(nil)
)

// New returns a generator for model, encoding and decoding with tok. The generator
// must be the model's only user: it trusts the model's cache to hold what it fed.
func New[S Stream](model engine.Model, tok Tokenizer[S]) *Generator {
	vocab, _ := any(tok).(engine.Vocab)
	return &Generator{
		vocab:     vocab,
		model:     model,
		encode:    tok.Encode,
		newStream: func() Stream { return tok.NewStream() },
		bos:       tok.BOS(),
		eos:       tok.EOS(),
		turn:      make(chan struct{}, 1),
	}
}

// PromptIDs returns the ids a prompt is fed as: BOS, then the encoded text.
func (g *Generator) PromptIDs(text string) []int {
	ids := g.encode(text)
	if g.bos < 0 {
		return ids
	}
	return append([]int{g.bos}, ids...)
}

// CountTokens returns the number of positions text takes as a prompt, BOS included.
func (g *Generator) CountTokens(text string) (int, error) {
	return len(g.PromptIDs(text)), nil
}

// ContextLength is the model's maximum number of positions: prompt and generated
// tokens together.
func (g *Generator) ContextLength() int { return g.model.ContextLength() }

// Generate continues req.Prompt; see GenerateIDs.
func (g *Generator) Generate(ctx context.Context, req engine.Request, onText func(string) error) (engine.Result, error) {
	res, _, err := g.GenerateIDs(ctx, g.PromptIDs(req.Prompt), req, onText)
	return res, err
}

// GenerateIDs continues the prompt given as ids (taken as they are: no BOS is added)
// with req's limits, sampling and stop strings; req.Prompt is ignored. It returns the
// generated ids, the EOS that ended them included. With an error the Result and ids
// describe what was generated before it.
//
// A prompt that leaves no room for a new token in the context fails with
// engine.ErrContextLength; a generation that reaches the end of the context stops
// there with engine.StopLength.
func (g *Generator) GenerateIDs(ctx context.Context, prompt []int, req engine.Request, onText func(string) error) (engine.Result, []int, error) {
	return g.generate(ctx, prompt, req, nil, onText)
}

// Constraint restricts the tokens a generation may produce: engine.Constraint.
type Constraint = engine.Constraint

// Preparer is an optional capability of a Constraint: Prepare computes what the
// next Filter needs (a token mask) ahead of it. The generator runs it on its own
// goroutine during the forward pass, so the mask costs no time of the step.
type Preparer interface {
	Prepare()
}

// GenerateConstrained is GenerateIDs with every token chosen under c. It samples on
// the host, since c filters the logits there.
func (g *Generator) GenerateConstrained(ctx context.Context, prompt []int, req engine.Request, c Constraint, onText func(string) error) (engine.Result, []int, error) {
	if c == nil {
		return engine.Result{}, nil, errors.New("nil constraint")
	}
	return g.generate(ctx, prompt, req, c, onText)
}

// Vocab implements engine.Constrained: the tokenizer's vocabulary, nil when
// it has no pieces.
func (g *Generator) Vocab() engine.Vocab { return g.vocab }

// Prepare checks a generation's prompt and request against a model of vocab
// tokens and ctxLen positions, and gives its sampler (primed with the prompt),
// its stop-string matcher and how many new tokens it may write. The one-sequence
// generator and the batching scheduler both start each generation with it.
func Prepare(prompt []int, req engine.Request, vocab, ctxLen int) (*sample.Sampler, *stop.Matcher, int, error) {
	switch {
	case len(prompt) == 0:
		return nil, nil, 0, errors.New("empty prompt")
	case len(prompt) >= ctxLen:
		return nil, nil, 0, fmt.Errorf("%w: %d prompt tokens leave no room in %d positions",
			engine.ErrContextLength, len(prompt), ctxLen)
	case req.MaxTokens < 0:
		return nil, nil, 0, fmt.Errorf("max tokens %d: must be >= 0", req.MaxTokens)
	}
	if err := engine.CheckIDs(prompt, vocab); err != nil {
		return nil, nil, 0, fmt.Errorf("prompt: %w", err)
	}
	sampler, err := sample.New(req.Sampling, vocab)
	if err != nil {
		return nil, nil, 0, err
	}
	if err := sampler.Observe(prompt...); err != nil {
		return nil, nil, 0, fmt.Errorf("prompt: %w", err)
	}
	stops, err := stop.New(req.Stop)
	if err != nil {
		return nil, nil, 0, err
	}
	maxNew := ctxLen - len(prompt)
	if req.MaxTokens > 0 {
		maxNew = min(maxNew, req.MaxTokens)
	}
	return sampler, stops, maxNew, nil
}

// GenerateUnder implements engine.Constrained: GenerateConstrained over the
// prompt's ids.
func (g *Generator) GenerateUnder(ctx context.Context, req engine.Request, c engine.Constraint, onText func(string) error) (engine.Result, error) {
	res, _, err := g.GenerateConstrained(ctx, g.PromptIDs(req.Prompt), req, c, onText)
	return res, err
}

func (g *Generator) generate(ctx context.Context, prompt []int, req engine.Request, c Constraint, onText func(string) error) (engine.Result, []int, error) {
	res := engine.Result{PromptTokens: len(prompt)}
	vocab := g.model.VocabSize()
	sampler, stops, maxNew, err := Prepare(prompt, req, vocab, g.model.ContextLength())
	if err != nil {
		return res, nil, err
	}
	if onText == nil {
		onText = func(string) error { return nil }
	}

	select {
	case g.turn <- struct{}{}:
	case <-ctx.Done():
		return res, nil, ctx.Err()
	}
	defer func() { <-g.turn }()

	spec := g.spec
	next := g.next(sampler, req.Sampling)
	var rows RowSampling // speculative steps choose their rows' tokens on the device
	switch {
	case c != nil:
		// The constraint filters the logits on the host.
		next = g.hostNext(sampler, c)
	case spec.Drafter != nil:
		if rows = g.rowSampler(); rows == nil {
			// Verifying drafts needs every row's logits on the host.
			next = g.hostNext(sampler, nil)
		}
	}
	begin := time.Now()
	start := g.prefixStart(prompt)
	id, err := next(ctx, prompt[start:], start)
	res.PromptTime = time.Since(begin)
	if err != nil {
		return res, nil, err
	}
	begin = time.Now()
	done := func() engine.Result {
		res.Text = stops.Text()
		res.GenTime = time.Since(begin)
		return res
	}

	emit := func(s string) error {
		if s == "" {
			return nil
		}
		return onText(s)
	}
	var (
		out, forced []int
		seq         = slices.Clip(prompt) // prompt and out: what the next token follows
		r           round                 // the verified rows of the last step
		v           = verifier{g: g, sampler: sampler, sampling: req.Sampling, c: c, rows: rows}
	)
	stream := g.newStream()
	for {
		if c != nil {
			if err := c.Advance(id); err != nil {
				return done(), out, fmt.Errorf("constraint: %w", err)
			}
		}
		out = append(out, id)
		seq = append(seq, id)
		res.Tokens++
		if id == g.eos {
			res.Stop = engine.StopEOS
			break
		}
		text, stopped := stops.Add(stream.Next(id))
		if err := emit(text); err != nil {
			return done(), out, err
		}
		if stopped {
			res.Stop = engine.StopString
			break
		}
		if len(out) == maxNew {
			res.Stop = engine.StopLength
			break
		}
		if err := sampler.Observe(id); err != nil {
			return done(), out, err
		}
		if err := ctx.Err(); err != nil {
			return done(), out, err
		}
		if c != nil && len(forced) == 0 {
			forced = c.Forced()
		}
		if len(forced) > 0 {
			// The forced tokens may leave the drafted path: they are fed with the
			// next step, from where the cache stops agreeing.
			r = round{}
			id, forced = forced[0], forced[1:]
			continue
		}
		if r.kept(id) {
			// The token is its row's draft, so the next row's logits are the
			// model's after it: no forward pass.
			if id, err = v.choose(&r, &res); err != nil {
				return done(), out, err
			}
			continue
		}
		start := g.cached(seq)
		res.Steps++
		if spec.Drafter == nil {
			if id, err = next(ctx, seq[start:], start); err != nil {
				return done(), out, err
			}
			continue
		}
		if r, err = v.step(ctx, spec, r, seq, start, maxNew-len(out)-1, &res); err != nil {
			return done(), out, err
		}
		if id, err = v.choose(&r, &res); err != nil {
			return done(), out, err
		}
	}
	if res.Stop != engine.StopString {
		text, stopped := stops.Add(stream.Flush())
		if !stopped {
			text += stops.Flush()
		} else {
			res.Stop = engine.StopString
		}
		if err := emit(text); err != nil {
			return done(), out, err
		}
	}
	return done(), out, nil
}

// Time measures the decode path of GenerateIDs: it feeds prompt from position 0,
// whatever the cache holds, then decodes n tokens greedily one at a time, EOS or
// not, and reports the prompt's time (PromptTime) and the n tokens' (GenTime).
func (g *Generator) Time(ctx context.Context, prompt []int, n int) (engine.Result, error) {
	res := engine.Result{PromptTokens: len(prompt)}
	vocab, ctxLen := g.model.VocabSize(), g.model.ContextLength()
	switch {
	case len(prompt) == 0 || n < 1:
		return res, fmt.Errorf("time: need a prompt and at least one token to decode, have %d and %d", len(prompt), n)
	case len(prompt)+n > ctxLen:
		return res, fmt.Errorf("%w: %d prompt + %d generated tokens exceed the context of %d", engine.ErrContextLength, len(prompt), n, ctxLen)
	}
	if err := engine.CheckIDs(prompt, vocab); err != nil {
		return res, fmt.Errorf("prompt: %w", err)
	}
	greedy := engine.Sampling{}
	sampler, err := sample.New(greedy, vocab)
	if err != nil {
		return res, err
	}
	select {
	case g.turn <- struct{}{}:
	case <-ctx.Done():
		return res, ctx.Err()
	}
	defer func() { <-g.turn }()
	next := g.next(sampler, greedy)
	begin := time.Now()
	id, err := next(ctx, prompt, 0)
	res.PromptTime = time.Since(begin)
	if err != nil {
		return res, fmt.Errorf("prefill: %w", err)
	}
	begin = time.Now()
	for i := range n {
		if id, err = next(ctx, []int{id}, len(prompt)+i); err != nil {
			return res, fmt.Errorf("decode step %d: %w", i, err)
		}
		res.Tokens++
	}
	res.GenTime = time.Since(begin)
	res.Stop = engine.StopLength
	return res, nil
}

// next is the decode step for s: on the device where the model samples there,
// else on the host.
func (g *Generator) next(sampler *sample.Sampler, s engine.Sampling) nextFunc {
	if ds, ok := g.model.(DeviceSampling); ok && ds.SamplesOnDevice() {
		return g.deviceNext(ds, sampler, s)
	}
	return g.hostNext(sampler, nil)
}

// DeviceSampling is an optional capability of a Model (engine/llama has it on
// backends that implement engine.DeviceSampler): feeding ids and picking the next
// token where the logits are, so only the id is copied back.
type DeviceSampling interface {
	SamplesOnDevice() bool
	ForwardSample(ctx context.Context, ids []int, start int, s engine.Sampling, history []int32, u float64) (int, error)
}

// nextFunc feeds ids at start and returns the token chosen after the last of them.
type nextFunc func(ctx context.Context, ids []int, start int) (int, error)

// hostNext copies the logits back and samples on the host, under c if not nil.
func (g *Generator) hostNext(sampler *sample.Sampler, c Constraint) nextFunc {
	var filtered []float32
	return func(ctx context.Context, ids []int, start int) (int, error) {
		logits, err := g.forward(ctx, ids, start, 1, c)
		if err != nil {
			return 0, err
		}
		if logits, err = filter(c, logits, &filtered); err != nil {
			return 0, err
		}
		id, err := sampler.Sample(logits)
		if err != nil {
			return 0, fmt.Errorf("sampling after position %d: %w", start+len(ids)-1, err)
		}
		return id, nil
	}
}

// filter returns logits as c filters them, in *buf; logits themselves when c is
// nil.
func filter(c Constraint, logits []float32, buf *[]float32) ([]float32, error) {
	if c == nil {
		return logits, nil
	}
	*buf = append((*buf)[:0], logits...)
	if err := c.Filter(*buf); err != nil {
		return nil, fmt.Errorf("constraint: %w", err)
	}
	return *buf, nil
}

// deviceNext samples where the logits are, drawing u from the host sampler's seeded
// generator so a seed picks the same tokens on either path (up to float rounding).
func (g *Generator) deviceNext(ds DeviceSampling, sampler *sample.Sampler, s engine.Sampling) nextFunc {
	return func(ctx context.Context, ids []int, start int) (int, error) {
		u := 0.0
		if s.Temperature != 0 {
			u = sampler.Uniform()
		}
		g.fed = g.fed[:start]
		id, err := ds.ForwardSample(ctx, ids, start, s, sampler.History(), u)
		if err != nil {
			return 0, fmt.Errorf("forward and sample at position %d: %w", start, err)
		}
		if id < 0 || id >= g.model.VocabSize() {
			return 0, fmt.Errorf("device sampler chose id %d outside the vocabulary of %d", id, g.model.VocabSize())
		}
		g.fed = append(g.fed, ids...)
		return id, nil
	}
}

// prefixStart is where a prompt must be fed from: the cache is reused for the part it
// shares with what was fed before, but at least the last token is fed again, since
// the choice after it is needed.
func (g *Generator) prefixStart(prompt []int) int {
	shared := 0
	for shared < len(g.fed) && shared < len(prompt) && g.fed[shared] == prompt[shared] {
		shared++
	}
	return min(shared, len(prompt)-1)
}

// cached is how many of seq's first positions the cache holds as they are: the
// next step feeds seq from there. The last id of seq is never among them, since
// the choice after it is needed.
func (g *Generator) cached(seq []int) int {
	n := 0
	for n < len(g.fed) && n < len(seq)-1 && g.fed[n] == seq[n] {
		n++
	}
	return n
}

// forward feeds ids at start, returning the logits of the last `last`, and keeps
// g.fed in step with the model's cache: after a failure only the positions
// before start are known to be intact. A Preparer c prepares its next Filter
// during the pass.
func (g *Generator) forward(ctx context.Context, ids []int, start, last int, c Constraint) ([]float32, error) {
	var prepared chan struct{}
	if prep, ok := c.(Preparer); ok {
		prepared = make(chan struct{})
		go func() {
			defer close(prepared)
			prep.Prepare()
		}()
	}
	g.fed = g.fed[:start]
	logits, err := g.model.Forward(ctx, ids, start, last)
	if prepared != nil {
		<-prepared
	}
	if err != nil {
		return nil, fmt.Errorf("forward at position %d: %w", start, err)
	}
	if n := g.model.VocabSize(); len(logits) != last*n {
		return nil, fmt.Errorf("forward at position %d: %d logits for %d rows of a vocabulary of %d", start, len(logits), last, n)
	}
	g.fed = append(g.fed, ids...)
	return logits, nil
}
