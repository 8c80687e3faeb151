package batch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/generate"
	"github.com/rewoo-agent/agent/engine/sample"
	"github.com/rewoo-agent/agent/engine/stop"
)

// Model is what the scheduler drives: a model with a paged key-value cache
// (engine/llama loaded with Options.Paged on an engine.PagedBackend), sampling on
// the device where it also has DeviceSampling.
type Model interface {
	// ForwardBatch runs one step of rows of several sequences and returns the
	// logits of the rows in want, in that order.
	ForwardBatch(ctx context.Context, b engine.Batch, want []int) ([]float32, error)
	// Paged is the cache's pool: blocks of blockSize positions (0, 0: none).
	Paged() (blocks, blockSize int)
	MaxBatch() int
	VocabSize() int
	ContextLength() int
}

// DeviceSampling is an optional capability of a Model (engine/llama on a backend
// with engine.BatchDeviceSampler): a step that also picks the next token of some
// rows where the logits are, so only their ids are copied back. The scheduler
// samples there every row of a sequence without a constraint, with the uniform
// draw and the history its host sampler would use, so the tokens are the host
// path's (up to float rounding on a real device).
type DeviceSampling interface {
	SamplesBatchOnDevice() bool
	// ForwardBatchSampled is ForwardBatch for the rows in want, and picks the
	// token of each row of pick (ids[i] is pick[i]'s). When only some picked rows
	// fail, err is an engine.RowErrors and the rest of the result is valid.
	ForwardBatchSampled(ctx context.Context, b engine.Batch, want []int, pick []engine.RowSample) (logits []float32, ids []int, err error)
}

// Options bound the scheduler.
type Options struct {
	// MaxSequences is the most sequences decoding at once (0: 16), at most the
	// model's MaxBatch.
	MaxSequences int
	// MaxQueue is the most calls waiting for a slot (0: 64); past it Generate fails
	// with ErrBusy at once.
	MaxQueue int
	// StepTokens is the most rows of one step (0, or more than the model's
	// MaxBatch: MaxBatch): every running decode's row, then prompt chunks.
	StepTokens int
	// MixedStepTokens is the most rows of a step that carries running decodes
	// (0: DefaultMixedStepTokens; at most StepTokens): a prompt arriving beside
	// them goes in chunks that keep each of their tokens waiting for one short
	// step, while a prompt with nothing decoding beside it takes whole steps of
	// StepTokens (the CUDA backend's 2048 rows on Hopper: a 1,920-token 65B prompt
	// in one 0.5 s step, where the decodes beside it would wait that long a token).
	MixedStepTokens int
}

// DefaultMixedStepTokens is Options.MixedStepTokens' default: the CUDA backend's
// steps of 512 rows, 140 ms at 65B on the H200, as vLLM bounds a step's tokens for
// the decodes' latency.
const DefaultMixedStepTokens = 512

// ErrBusy is returned (wrapped, with the numbers) when the queue is full.
var ErrBusy = errors.New("engine busy: too many requests waiting")

// ErrClosed is returned by calls to a closed scheduler and to calls it was
// serving when it closed.
var ErrClosed = errors.New("engine closed")

// ErrNoPagedCache is returned by New for a model without a paged cache.
var ErrNoPagedCache = errors.New("model has no paged cache")

// Scheduler is an engine.LLM that serves many calls at once over one model (see
// the package documentation). It is safe for concurrent use.
type Scheduler struct {
	model     Model
	device    DeviceSampling // nil: every row is sampled on the host
	encode    func(string) []int
	newStream func() generate.Stream
	bos, eos  int
	vocab     engine.Vocab // nil when the tokenizer has no pieces
	blockSize int
	maxSeqs   int
	maxQueue  int
	stepRows  int
	mixedRows int // stepRows of a step with decodes in it

	mu      sync.Mutex
	waiting []*seq // admission order; preempted sequences go back in front
	running []*seq // oldest first
	pool    *pool
	tickets uint64
	stats   Stats
	closed  bool
	// onStep, when set (Bench), is told each step's decode rows, prompt rows and
	// time once its forward pass has returned.
	onStep func(decodes, prompt int, d time.Duration)

	wake   chan struct{} // cap 1: something changed for the loop
	cancel context.CancelFunc
	done   chan struct{} // closed when the loop has ended
}

var (
	_ engine.LLM          = (*Scheduler)(nil)
	_ engine.TokenCounter = (*Scheduler)(nil)
	_ engine.Constrained  = (*Scheduler)(nil)
)

// seq is one call. The loop owns sampler, fed, table and keys; toks, state, stop
// and err are shared with the calling goroutine under Scheduler.mu.
type seq struct {
	ticket  uint64 // admission order: higher is younger
	toks    []int  // prompt, then generated tokens
	prompt  int
	maxNew  int
	sampler *sample.Sampler
	setting engine.Sampling     // the sampler's, for the device
	c       generate.Constraint // nil: unconstrained
	logits  []float32           // scratch for c.Filter
	// ignoreEOS: EOS is a token like any other (Bench)
	ignoreEOS bool

	fed   int     // positions in the cache
	table []int32 // block table
	keys  []key   // keys of the full blocks of table, as far as known

	state     state
	cancelled bool
	err       error
	notify    chan struct{} // cap 1: new tokens or the end
}

type state int

const (
	waiting state = iota
	running
	finished
)

// Stats are the scheduler's counters, for monitoring (a server's /metrics).
type Stats struct {
	Running, Waiting int
	// The paged cache: blocks in all, in use by sequences, kept for the prefix
	// cache (in use or not), and the positions in a block.
	Blocks, BlocksUsed, BlocksCached, BlockSize int
	// PrefixQueries counts the full blocks of prompts looked up in the prefix
	// cache as sequences were admitted, PrefixHits those found; TokensSaved is
	// the positions not computed thanks to them.
	PrefixQueries, PrefixHits, TokensSaved int64
	// Preemptions counts sequences pushed out of the cache to be recomputed.
	Preemptions int64
	// Steps counts forward steps, Rows their rows (recomputed ones included).
	Steps, Rows int64
	// PromptTokens counts the prompt tokens of the calls queued, GeneratedTokens
	// the tokens sampled.
	PromptTokens, GeneratedTokens int64
}

// HitRate is PrefixHits/PrefixQueries, 0 before any query.
func (s Stats) HitRate() float64 {
	if s.PrefixQueries == 0 {
		return 0
	}
	return float64(s.PrefixHits) / float64(s.PrefixQueries)
}

// New starts a scheduler over m, which must have a paged cache holding at least
// one full context; tok encodes prompts (BOS in front, as engine/generate does)
// and decodes the output. Close stops it; the model stays the caller's.
func New[S generate.Stream](m Model, tok generate.Tokenizer[S], opt Options) (*Scheduler, error) {
	blocks, bs := m.Paged()
	if blocks <= 0 || bs <= 0 {
		return nil, ErrNoPagedCache
	}
	if need := (m.ContextLength() + bs - 1) / bs; blocks < need {
		return nil, fmt.Errorf("paged cache of %d blocks of %d positions: want at least one context, %d blocks", blocks, bs, need)
	}
	if opt.MaxSequences < 0 || opt.MaxQueue < 0 || opt.StepTokens < 0 || opt.MixedStepTokens < 0 {
		return nil, fmt.Errorf("scheduler options %+v: want counts >= 0", opt)
	}
	vocab, _ := any(tok).(engine.Vocab)
	s := &Scheduler{
		vocab: vocab, model: m, encode: tok.Encode, newStream: func() generate.Stream { return tok.NewStream() },
		bos: tok.BOS(), eos: tok.EOS(), blockSize: bs,
		maxSeqs: cmpOr(opt.MaxSequences, 16), maxQueue: cmpOr(opt.MaxQueue, 64),
		stepRows: m.MaxBatch(), pool: newPool(blocks),
		wake: make(chan struct{}, 1), done: make(chan struct{}),
	}
	if opt.StepTokens > 0 {
		s.stepRows = min(s.stepRows, opt.StepTokens)
	}
	s.mixedRows = min(s.stepRows, cmpOr(opt.MixedStepTokens, DefaultMixedStepTokens))
	s.maxSeqs = min(s.maxSeqs, s.stepRows)
	if ds, ok := m.(DeviceSampling); ok && ds.SamplesBatchOnDevice() {
		s.device = ds
	}
	s.stats.Blocks, s.stats.BlockSize = blocks, bs
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.loop(ctx)
	return s, nil
}

func cmpOr(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// Close stops the loop after its current step; calls still waiting or running
// fail with ErrClosed.
func (s *Scheduler) Close() error {
	s.cancel()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, q := range append(s.running, s.waiting...) {
		s.finish(q, ErrClosed)
	}
	s.running, s.waiting = nil, nil
	return nil
}

// Stats returns the counters now.
func (s *Scheduler) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Running, st.Waiting = len(s.running), len(s.waiting)
	st.BlocksUsed, st.BlocksCached = s.pool.used(), s.pool.cached
	return st
}

// PromptIDs returns the ids a prompt is fed as: BOS, then the encoded text.
func (s *Scheduler) PromptIDs(text string) []int {
	ids := s.encode(text)
	if s.bos < 0 {
		return ids
	}
	return append([]int{s.bos}, ids...)
}

// CountTokens implements engine.TokenCounter: the positions text takes as a
// prompt, BOS included.
func (s *Scheduler) CountTokens(text string) (int, error) { return len(s.PromptIDs(text)), nil }

// ContextLength implements engine.TokenCounter.
func (s *Scheduler) ContextLength() int { return s.model.ContextLength() }

// Generate implements engine.LLM; see GenerateIDs.
func (s *Scheduler) Generate(ctx context.Context, req engine.Request, onText func(string) error) (engine.Result, error) {
	res, _, err := s.GenerateIDs(ctx, s.PromptIDs(req.Prompt), req, onText)
	return res, err
}

// GenerateIDs continues the prompt given as ids, exactly as
// generate.Generator.GenerateIDs does (the same checks, limits, stop strings and
// sampling), sharing the model's steps with the other calls. Past the queue's bound
// it fails at once with ErrBusy. Returning (ctx done, a stop string, onText's
// error) frees the call's slot for the next step.
func (s *Scheduler) GenerateIDs(ctx context.Context, prompt []int, req engine.Request, onText func(string) error) (engine.Result, []int, error) {
	return s.generate(ctx, prompt, req, nil, onText, false)
}

// GenerateConstrained is GenerateIDs with every token chosen under c, as
// generate.Generator.GenerateConstrained does: c filters each row's logits before
// its sampler, takes every token chosen (Advance), and the tokens it forces are
// taken without sampling and fed in the next step as one chunk. Prepare (of a
// generate.Preparer) is not called: Filter runs on the scheduler's goroutine
// between steps.
func (s *Scheduler) GenerateConstrained(ctx context.Context, prompt []int, req engine.Request, c generate.Constraint, onText func(string) error) (engine.Result, []int, error) {
	if c == nil {
		return engine.Result{}, nil, errors.New("nil constraint")
	}
	return s.generate(ctx, prompt, req, c, onText, false)
}

// Vocab implements engine.Constrained: the tokenizer's vocabulary, nil when
// it has no pieces.
func (s *Scheduler) Vocab() engine.Vocab { return s.vocab }

// GenerateUnder implements engine.Constrained: GenerateConstrained over the
// prompt's ids.
func (s *Scheduler) GenerateUnder(ctx context.Context, req engine.Request, c engine.Constraint, onText func(string) error) (engine.Result, error) {
	res, _, err := s.GenerateConstrained(ctx, s.PromptIDs(req.Prompt), req, c, onText)
	return res, err
}

// generate serves one call; with ignoreEOS (Bench) the end-of-sequence token ends
// nothing, as engine/generate's Time decodes "EOS or not".
func (s *Scheduler) generate(ctx context.Context, prompt []int, req engine.Request, c generate.Constraint, onText func(string) error, ignoreEOS bool) (engine.Result, []int, error) {
	res := engine.Result{PromptTokens: len(prompt)}
	sampler, stops, maxNew, err := generate.Prepare(prompt, req, s.model.VocabSize(), s.model.ContextLength())
	if err != nil {
		return res, nil, err
	}
	if onText == nil {
		onText = func(string) error { return nil }
	}
	q := &seq{toks: slices.Clone(prompt), prompt: len(prompt), maxNew: maxNew, sampler: sampler, setting: req.Sampling, c: c,
		ignoreEOS: ignoreEOS, notify: make(chan struct{}, 1)}
	if err := s.enqueue(q); err != nil {
		return res, nil, err
	}
	defer s.drop(q)

	begin := time.Now()
	var out []int
	stream := s.newStream()
	first := true
	done := func() engine.Result {
		res.Text = stops.Text()
		if first {
			res.PromptTime = time.Since(begin)
		} else {
			res.GenTime = time.Since(begin)
		}
		return res
	}
	emit := func(t string) error {
		if t == "" {
			return nil
		}
		return onText(t)
	}
	for {
		select {
		case <-q.notify:
		case <-ctx.Done():
			return done(), out, ctx.Err()
		}
		s.mu.Lock()
		fresh := slices.Clone(q.toks[q.prompt+len(out):])
		ended, qerr := q.state == finished, q.err
		s.mu.Unlock()
		for _, id := range fresh {
			if first {
				res.PromptTime, begin, first = time.Since(begin), time.Now(), false
			}
			out = append(out, id)
			res.Tokens++
			if id == s.eos && !ignoreEOS {
				res.Stop = engine.StopEOS
				return s.flush(done, out, stream, stops, emit, &res)
			}
			text, stopped := stops.Add(stream.Next(id))
			if err := emit(text); err != nil {
				return done(), out, err
			}
			if stopped {
				res.Stop = engine.StopString
				return done(), out, nil
			}
			if len(out) == maxNew {
				res.Stop = engine.StopLength
				return s.flush(done, out, stream, stops, emit, &res)
			}
		}
		if ended {
			if qerr == nil {
				qerr = errors.New("sequence ended without a stop condition")
			}
			return done(), out, qerr
		}
	}
}

// flush ends a generation stopped by EOS or the length as engine/generate does:
// the stream's and the stop matcher's held-back text goes out.
func (s *Scheduler) flush(done func() engine.Result, out []int, stream generate.Stream, stops *stop.Matcher, emit func(string) error, res *engine.Result) (engine.Result, []int, error) {
	text, stopped := stops.Add(stream.Flush())
	if !stopped {
		text += stops.Flush()
	} else {
		res.Stop = engine.StopString
	}
	if err := emit(text); err != nil {
		return done(), out, err
	}
	return done(), out, nil
}

// enqueue puts q at the end of the queue, or fails with ErrBusy or ErrClosed.
func (s *Scheduler) enqueue(q *seq) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case len(s.waiting) >= s.maxQueue:
		return fmt.Errorf("%w: %d running, %d waiting (the most)", ErrBusy, len(s.running), len(s.waiting))
	}
	s.waiting = append(s.waiting, q)
	s.stats.PromptTokens += int64(q.prompt)
	s.poke()
	return nil
}

// drop ends q for its caller: a waiting call leaves the queue now, a running one
// is removed, its blocks released, before the next step.
func (s *Scheduler) drop(q *seq) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch q.state {
	case waiting:
		if i := slices.Index(s.waiting, q); i >= 0 {
			s.waiting = slices.Delete(s.waiting, i, i+1)
		}
		q.state = finished
	case running:
		q.cancelled = true
	}
	s.poke()
}

// poke wakes the loop.
func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// tell wakes q's caller.
func tell(q *seq) {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// finish ends q with err (nil: a stop condition), releasing its blocks.
func (s *Scheduler) finish(q *seq, err error) {
	s.releaseBlocks(q)
	q.state, q.err = finished, err
	tell(q)
}

func (s *Scheduler) releaseBlocks(q *seq) {
	for _, b := range q.table {
		s.pool.release(b)
	}
	q.table, q.keys, q.fed = nil, nil, 0
}

// part is one sequence's rows in a step.
type part struct {
	q      *seq
	n      int  // rows, from position q.fed
	want   bool // the last row's logits are sampled
	device bool // ... on the device (DeviceSampling)
}

// loop runs steps while there is work, until ctx ends.
func (s *Scheduler) loop(ctx context.Context) {
	defer close(s.done)
	for {
		s.mu.Lock()
		parts := s.plan()
		onStep := s.onStep
		s.mu.Unlock()
		if len(parts) == 0 {
			select {
			case <-s.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		b, want, pick := s.batchOf(parts)
		var logits []float32
		var ids []int
		var err error
		start := time.Now()
		if len(pick) > 0 {
			logits, ids, err = s.device.ForwardBatchSampled(ctx, b, want, pick)
		} else {
			logits, err = s.model.ForwardBatch(ctx, b, want)
		}
		if onStep != nil {
			decodes, prompt := rowsOf(parts)
			onStep(decodes, prompt, time.Since(start))
		}
		if err != nil && ctx.Err() != nil {
			err = ErrClosed
		}
		s.mu.Lock()
		s.apply(parts, logits, ids, len(want), len(pick), err)
		s.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
	}
}

// rowsOf counts a step's rows: one a decoding sequence (the one token it has not
// fed yet), and the rest, its prompt chunks.
func rowsOf(parts []part) (decodes, prompt int) {
	for _, pt := range parts {
		if pt.n == 1 && pt.want {
			decodes++
		} else {
			prompt += pt.n
		}
	}
	return decodes, prompt
}

// plan drops cancelled sequences, admits waiting ones while there are slots and
// blocks, and gives each running sequence its rows of the next step, oldest first,
// growing block tables and preempting the youngest when blocks run out.
func (s *Scheduler) plan() []part {
	s.running = slices.DeleteFunc(s.running, func(q *seq) bool {
		if q.cancelled {
			s.finish(q, context.Canceled)
		}
		return q.cancelled
	})
	for len(s.waiting) > 0 && len(s.running) < s.maxSeqs && s.admit(s.waiting[0]) {
		s.waiting = s.waiting[1:]
	}
	decodes := 0
	for _, q := range s.running {
		if len(q.toks)-q.fed == 1 {
			decodes++
		}
	}
	budget := s.stepRows - decodes
	if decodes > 0 { // a prompt still gets a row where the decodes fill mixedRows
		budget = min(budget, max(s.mixedRows-decodes, 1))
	}
	var parts []part
	for i := 0; i < len(s.running); i++ {
		q := s.running[i]
		n := len(q.toks) - q.fed
		if n > 1 {
			n = min(n, budget)
		}
		if n <= 0 {
			continue
		}
		for !s.grow(q, q.fed+n) {
			if young := s.running[len(s.running)-1]; young != q {
				s.preempt(young)
				continue
			}
			// q is the youngest: take what the pool has, or wait.
			n = len(q.table)*s.blockSize - q.fed
			break
		}
		if n <= 0 {
			if len(q.toks)-q.fed == 1 {
				s.preempt(q) // a decode that cannot grow makes room for the older ones
				i--
			}
			continue
		}
		if n > 1 || len(q.toks)-q.fed > 1 {
			budget -= n
		}
		want := q.fed+n == len(q.toks)
		parts = append(parts, part{q: q, n: n, want: want, device: want && s.device != nil && q.c == nil})
	}
	return parts
}

// admit moves q into the running set if the pool can hold all its tokens, after
// the prefix cache's hits, beside the blocks the running sequences still need for
// the tokens they have (reserved), and says whether it did.
func (s *Scheduler) admit(q *seq) bool {
	bs := s.blockSize
	var keys []key
	var hits []int32
	idle := 0
	prev := key{}
	for b := 0; (b+1)*bs <= len(q.toks)-1; b++ {
		k := chain(prev, q.toks[b*bs:(b+1)*bs])
		blk, unused, ok := s.pool.peek(k)
		if !ok {
			break
		}
		keys, hits, prev = append(keys, k), append(hits, blk), k
		if unused {
			idle++
		}
	}
	need := (len(q.toks)+bs-1)/bs - len(hits)
	if s.pool.available()-idle-s.reserved() < need {
		return false
	}
	for _, b := range hits {
		s.pool.take(b)
	}
	q.table, q.keys, q.fed = hits, keys, len(hits)*bs
	s.stats.PrefixQueries += int64((len(q.toks) - 1) / bs)
	s.stats.PrefixHits += int64(len(hits))
	s.stats.TokensSaved += int64(len(hits) * bs)
	if q.ticket == 0 {
		s.tickets++
		q.ticket = s.tickets
	}
	q.state = running
	i, _ := slices.BinarySearchFunc(s.running, q.ticket, func(r *seq, t uint64) int { return cmp.Compare(r.ticket, t) })
	s.running = slices.Insert(s.running, i, q)
	return true
}

// reserved is the blocks the running sequences still need for the tokens they
// have: a prompt being prefilled in chunks grows its table a chunk at a time, so
// admitting against the free blocks alone would hand its later chunks' blocks to
// the new call, and one of the two would be preempted and computed again.
func (s *Scheduler) reserved() int {
	n := 0
	for _, r := range s.running {
		n += max(0, (len(r.toks)+s.blockSize-1)/s.blockSize-len(r.table))
	}
	return n
}

// grow extends q's block table to hold positions [0, n), or reports that the pool
// ran out (keeping the blocks it got).
func (s *Scheduler) grow(q *seq, n int) bool {
	for len(q.table)*s.blockSize < n {
		b, ok := s.pool.alloc()
		if !ok {
			return false
		}
		q.table = append(q.table, b)
	}
	return true
}

// preempt pushes running q back to the front of the queue, releasing its blocks
// (its full ones stay in the prefix cache): it is recomputed when admitted again.
func (s *Scheduler) preempt(q *seq) {
	s.releaseBlocks(q)
	s.running = slices.DeleteFunc(s.running, func(r *seq) bool { return r == q })
	q.state = waiting
	s.waiting = slices.Insert(s.waiting, 0, q)
	s.stats.Preemptions++
}

// batchOf lays the parts out as one step: the rows whose logits are wanted, and
// those sampled on the device with their sequence's settings, history and uniform
// draw, taken from its sampler exactly when Sample would draw one (a temperature
// other than 0).
func (s *Scheduler) batchOf(parts []part) (engine.Batch, []int, []engine.RowSample) {
	var b engine.Batch
	var want []int
	var pick []engine.RowSample
	for i, p := range parts {
		for j := range p.n {
			b.IDs = append(b.IDs, int32(p.q.toks[p.q.fed+j]))
			b.Pos = append(b.Pos, int32(p.q.fed+j))
			b.Seq = append(b.Seq, int32(i))
		}
		b.Tables = append(b.Tables, p.q.table)
		switch {
		case p.device:
			r := engine.RowSample{Row: len(b.IDs) - 1, Sampling: p.q.setting, History: p.q.sampler.History()}
			if float32(r.Sampling.Temperature) != 0 { // as the sampler holds it
				r.U = p.q.sampler.Uniform()
			}
			pick = append(pick, r)
		case p.want:
			want = append(want, len(b.IDs)-1)
		}
	}
	return b, want, pick
}

// apply records a step: positions fed, full blocks keyed into the prefix cache,
// and a token sampled for each sequence whose last row was asked for, from the
// wanted rows' logits or the picked rows' ids (nwant and npick of them). A
// picked row that failed (engine.RowErrors) ends its sequence alone.
func (s *Scheduler) apply(parts []part, logits []float32, ids []int, nwant, npick int, err error) {
	s.stats.Steps++
	vocab, bs, w, d := s.model.VocabSize(), s.blockSize, 0, 0
	var rowErrs engine.RowErrors
	if errors.As(err, &rowErrs) && len(rowErrs) == npick {
		err = nil
	}
	if err == nil && (len(logits) != nwant*vocab || len(ids) != npick) {
		err = fmt.Errorf("the model gave %d logits and %d ids for %d rows of %d logits and %d ids", len(logits), len(ids), nwant, vocab, npick)
	}
	for _, p := range parts {
		q := p.q
		s.stats.Rows += int64(p.n)
		if err != nil {
			s.end(q, fmt.Errorf("forward step: %w", err))
			continue
		}
		q.fed += p.n
		for b := len(q.keys); (b+1)*bs <= q.fed; b++ {
			prev := key{}
			if b > 0 {
				prev = q.keys[b-1]
			}
			k := chain(prev, q.toks[b*bs:(b+1)*bs])
			q.keys = append(q.keys, k)
			s.pool.register(q.table[b], k)
		}
		if !p.want {
			continue
		}
		if p.device {
			i := d
			d++
			if q.cancelled {
				continue
			}
			if id, derr := s.picked(ids, rowErrs, i); derr != nil {
				s.end(q, fmt.Errorf("sampling after position %d on the device: %w", q.fed-1, derr))
			} else if s.take(q, id) {
				tell(q)
			}
			continue
		}
		row := logits[w*vocab : (w+1)*vocab]
		w++
		if q.cancelled {
			continue
		}
		if q.c != nil {
			q.logits = append(q.logits[:0], row...)
			if cerr := q.c.Filter(q.logits); cerr != nil {
				s.end(q, fmt.Errorf("constraint: %w", cerr))
				continue
			}
			row = q.logits
		}
		id, serr := q.sampler.Sample(row)
		if serr != nil {
			s.end(q, fmt.Errorf("sampling after position %d: %w", q.fed-1, serr))
			continue
		}
		if s.take(q, id) {
			tell(q)
		}
	}
}

// picked is the id the device chose for picked row i, or its error.
func (s *Scheduler) picked(ids []int, errs engine.RowErrors, i int) (int, error) {
	if errs != nil && errs[i] != nil {
		return 0, errs[i]
	}
	if id := ids[i]; id < 0 || id >= s.model.VocabSize() {
		return 0, fmt.Errorf("the device chose id %d outside the vocabulary of %d", id, s.model.VocabSize())
	}
	return ids[i], nil
}

// take appends the chosen id to q and, under a constraint, the tokens it forces
// after it, as engine/generate does: each is advanced into the constraint, checked
// for EOS and the token limit, and observed by the sampler; the forced ones are
// fed in the next step. It reports whether q goes on (else it has ended).
func (s *Scheduler) take(q *seq, id int) bool {
	var forced []int
	for {
		if q.c != nil {
			if err := q.c.Advance(id); err != nil {
				s.end(q, fmt.Errorf("constraint: %w", err))
				return false
			}
		}
		q.toks = append(q.toks, id)
		s.stats.GeneratedTokens++
		if (id == s.eos && !q.ignoreEOS) || len(q.toks)-q.prompt == q.maxNew {
			s.end(q, nil)
			return false
		}
		if err := q.sampler.Observe(id); err != nil {
			s.end(q, err)
			return false
		}
		if q.c == nil {
			return true
		}
		if len(forced) == 0 {
			forced = q.c.Forced()
		}
		if len(forced) == 0 {
			return true
		}
		id, forced = forced[0], forced[1:]
	}
}

// end removes running q and finishes it with err.
func (s *Scheduler) end(q *seq, err error) {
	s.running = slices.DeleteFunc(s.running, func(r *seq) bool { return r == q })
	s.finish(q, err)
}
