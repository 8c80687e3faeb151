// Package sample picks the next token from a model's logits with Hugging Face
// transformers' semantics, in its order: repetition penalty over every distinct id
// seen so far (prompt and output), temperature, top-k, top-p, then a draw from a
// seeded generator. Temperature 0 is greedy: the highest penalized logit wins, the
// lowest id on ties, as torch.argmax does.
//
// The arithmetic on logits is float32 as in transformers; probabilities are float64.
// The draw uses a PCG generator seeded from Sampling.Seed, so a seed reproduces a
// generation exactly here, though not torch's random stream.
package sample

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/rewoo-agent/agent/engine"
)

// Sampler picks tokens for one generation. It is not safe for concurrent use.
type Sampler struct {
	temp    float32
	topK    int
	topP    float64
	penalty float32
	vocab   int
	rng     *rand.Rand

	seen     []uint64 // bitmap of ids in the history
	distinct []int32  // the ids of seen, for the penalty pass

	scores []float32 // working copy of the logits
	kth    []float32 // min-heap of the top-k scores
	cand   []int32   // candidate ids
	prob   []float64 // unnormalized probability of each candidate, by position in cand
	pairs  []pair    // nucleus scratch
}

// ErrBadLogits is returned when logits cannot be sampled: a NaN or +Inf value, or every
// token at -Inf.
var ErrBadLogits = errors.New("bad logits")

// Validate checks s for values transformers would reject.
func Validate(s engine.Sampling) error {
	switch {
	case math.IsNaN(s.Temperature) || s.Temperature < 0 || math.IsInf(s.Temperature, 0):
		return fmt.Errorf("temperature %v: must be a finite number >= 0", s.Temperature)
	case s.TopK < 0:
		return fmt.Errorf("top-k %d: must be >= 0 (0 is off)", s.TopK)
	case math.IsNaN(s.TopP) || s.TopP < 0 || s.TopP > 1:
		return fmt.Errorf("top-p %v: must be in [0, 1] (0 or 1 is off)", s.TopP)
	case math.IsNaN(s.RepetitionPenalty) || s.RepetitionPenalty < 0 || math.IsInf(s.RepetitionPenalty, 0):
		return fmt.Errorf("repetition penalty %v: must be a finite number > 0 (0 or 1 is off)", s.RepetitionPenalty)
	}
	return nil
}

// New returns a sampler for a vocabulary of vocab tokens.
func New(s engine.Sampling, vocab int) (*Sampler, error) {
	if err := Validate(s); err != nil {
		return nil, err
	}
	if vocab <= 0 {
		return nil, fmt.Errorf("vocabulary size %d: must be > 0", vocab)
	}
	sp := &Sampler{
		temp:   float32(s.Temperature),
		topK:   s.TopK,
		topP:   s.TopP,
		vocab:  vocab,
		rng:    rand.New(rand.NewPCG(s.Seed, s.Seed^0x9e3779b97f4a7c15)),
		seen:   make([]uint64, (vocab+63)/64),
		scores: make([]float32, vocab),
	}
	if s.RepetitionPenalty != 0 && s.RepetitionPenalty != 1 {
		sp.penalty = float32(s.RepetitionPenalty)
	}
	if sp.topP == 1 {
		sp.topP = 0
	}
	if sp.topK >= vocab {
		sp.topK = 0
	}
	return sp, nil
}

// Observe adds ids to the history the repetition penalty looks at. Call it with the
// prompt and then with each token as it is chosen.
func (s *Sampler) Observe(ids ...int) error {
	for _, id := range ids {
		if id < 0 || id >= s.vocab {
			return fmt.Errorf("token id %d outside the vocabulary [0, %d)", id, s.vocab)
		}
		w, bit := id/64, uint64(1)<<(id%64)
		if s.seen[w]&bit == 0 {
			s.seen[w] |= bit
			s.distinct = append(s.distinct, int32(id))
		}
	}
	return nil
}

// Sample picks the next token from logits (one row of VocabSize floats), which it
// does not modify.
func (s *Sampler) Sample(logits []float32) (int, error) {
	id, z, greedy, err := s.distribution(logits)
	if err != nil || greedy {
		return id, err
	}
	return s.draw(z), nil
}

// distribution applies the penalty, temperature, top-k and top-p to logits, as
// Sample and Verify both draw: greedy (temperature 0) it returns the argmax with
// greedy true, else the candidates' mass z for draw or verify.
func (s *Sampler) distribution(logits []float32) (id int, z float64, greedy bool, err error) {
	if len(logits) != s.vocab {
		return 0, 0, false, fmt.Errorf("%d logits for a vocabulary of %d", len(logits), s.vocab)
	}
	if err := s.prepare(logits); err != nil {
		return 0, 0, false, err
	}
	if s.temp == 0 {
		return Argmax(s.scores), 0, true, nil
	}
	s.candidates()
	if len(s.cand) == 0 {
		return 0, 0, false, fmt.Errorf("%w: every token is -Inf", ErrBadLogits)
	}
	z = s.softmax()
	if s.topP > 0 {
		z = s.nucleus(z)
	}
	return 0, z, false, nil
}

// Verify picks the next token from logits as Sample does, given draft, the token a
// deterministic drafter proposed for this position (speculative decoding). The
// token it returns has exactly the distribution p that Sample draws from: greedy,
// it is the argmax; sampling, the draft is kept with probability p(draft), which
// is min(1, p/q) for a drafter whose q is all on the draft, and otherwise the
// token is drawn from p with the draft taken out, renormalized (the residual
// max(p-q, 0)). A draft outside the vocabulary, or one p gives nothing, is never
// kept. The caller compares the token with the draft to know whether it was kept.
func (s *Sampler) Verify(logits []float32, draft int) (int, error) {
	id, z, greedy, err := s.distribution(logits)
	if err != nil || greedy {
		return id, err
	}
	return s.verify(z, draft, s.Uniform, s.Uniform), nil
}

// verify keeps draft when u1() < p(draft), else draws from the candidates
// without it with u2(); the uniforms are drawn only when needed, so a draft
// the distribution leaves out costs one draw, as Sample does.
func (s *Sampler) verify(z float64, draft int, u1, u2 func() float64) int {
	i, found := slices.BinarySearch(s.cand, int32(draft))
	if !found {
		return s.drawFrom(z, u2)
	}
	e := s.prob[i]
	if u1()*z < e {
		return draft
	}
	rest := z - e
	if len(s.cand) == 1 || rest <= 0 {
		return draft // p(draft) is 1 but for rounding
	}
	r, acc := u2()*rest, 0.0
	last := -1
	for j, p := range s.prob {
		if j == i {
			continue
		}
		acc += p
		last = j
		if r < acc {
			return int(s.cand[j])
		}
	}
	return int(s.cand[last]) // rounding left r at the very top
}

// Uniform draws the next uniform number in [0, 1) from the sampler's seeded
// generator, as Sample would for its draw: a device that samples with it
// (engine.DeviceSampler) picks what Sample would have picked from the same logits.
func (s *Sampler) Uniform() float64 { return s.rng.Float64() }

// History returns the distinct ids observed so far, in first-seen order, for a
// device sampler's repetition penalty. The slice is the sampler's own: read only.
func (s *Sampler) History() []int32 { return s.distinct }

// prepare fills s.scores with the penalized logits divided by the temperature.
func (s *Sampler) prepare(logits []float32) error {
	sc := s.scores[:len(logits)]
	t := s.temp
	bad := false
	if t == 0 || t == 1 {
		for i, x := range logits {
			// One comparison catches NaN and +Inf; -Inf is a masked token.
			bad = bad || !(x <= math.MaxFloat32)
			sc[i] = x
		}
	} else {
		for i, x := range logits {
			bad = bad || !(x <= math.MaxFloat32)
			sc[i] = x / t
		}
	}
	if bad {
		for i, x := range logits {
			if !(x <= math.MaxFloat32) {
				return fmt.Errorf("%w: logit of token %d is %v", ErrBadLogits, i, x)
			}
		}
	}
	if s.penalty == 0 {
		return nil
	}
	p := s.penalty
	for _, id := range s.distinct {
		x := logits[id]
		if x < 0 {
			x *= p
		} else {
			x /= p
		}
		if t != 0 && t != 1 {
			x /= t
		}
		sc[id] = x
	}
	return nil
}

// Argmax returns the index of the largest score, the first one on ties: the token
// greedy decoding picks (a draft model's drafts too, engine/speculate).
func Argmax(sc []float32) int {
	best := 0
	for i, x := range sc {
		if x > sc[best] {
			best = i
		}
	}
	return best
}

// candidates fills s.cand with the ids that survive top-k: every id scoring at least
// the k-th largest score (ties at the boundary all stay, as torch's `scores < kth`
// mask keeps them), never an id at -Inf.
func (s *Sampler) candidates() {
	negInf := float32(math.Inf(-1))
	threshold := negInf
	if s.topK > 0 {
		threshold = s.kthLargest()
	}
	s.cand = s.cand[:0]
	for i, x := range s.scores {
		if x >= threshold && x > negInf {
			s.cand = append(s.cand, int32(i))
		}
	}
}

// kthLargest returns the topK-th largest score, keeping a min-heap of the best topK.
func (s *Sampler) kthLargest() float32 {
	k := s.topK
	h := append(s.kth[:0], s.scores[:k]...)
	for i := k/2 - 1; i >= 0; i-- {
		siftDownMin(h, i)
	}
	for _, x := range s.scores[k:] {
		if x > h[0] {
			h[0] = x
			siftDownMin(h, 0)
		}
	}
	s.kth = h
	return h[0]
}

func siftDownMin(h []float32, i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h[r] < h[l] {
			m = r
		}
		if h[i] <= h[m] {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// softmax fills s.prob with exp(score - max) for each candidate and returns the sum.
func (s *Sampler) softmax() float64 {
	m := s.scores[s.cand[0]]
	for _, id := range s.cand {
		m = max(m, s.scores[id])
	}
	s.prob = s.prob[:0]
	z := 0.0
	for _, id := range s.cand {
		e := math.Exp(float64(s.scores[id]) - float64(m))
		s.prob = append(s.prob, e)
		z += e
	}
	return z
}

// nucleus keeps the most probable candidates while the probability of those already
// kept is below top-p (so at least one, and the token that crosses top-p too), which is
// transformers' rule of dropping the low tail whose cumulative probability is at most
// 1 - top-p. It shrinks s.cand and s.prob to the kept ones, in id order, and returns
// their sum. Candidates are popped from a max-heap, so a peaked distribution
// costs far less than a full sort.
func (s *Sampler) nucleus(z float64) float64 {
	c, p := s.cand, s.prob
	n := len(c)
	for i := n/2 - 1; i >= 0; i-- {
		siftDownMax(c[:n], p[:n], i)
	}
	limit := s.topP * z
	total, kept, mass := n, 0, 0.0
	// Popping moves the maximum to the end of the heap, so the kept ones collect at
	// the end of the slices.
	for n > 0 && mass < limit {
		mass += p[0]
		n--
		c[0], c[n] = c[n], c[0]
		p[0], p[n] = p[n], p[0]
		siftDownMax(c[:n], p[:n], 0)
		kept++
	}
	// Back to id order for the draw, as engine.DeviceSampler draws.
	s.pairs = s.pairs[:0]
	for i := total - kept; i < total; i++ {
		s.pairs = append(s.pairs, pair{c[i], p[i]})
	}
	slices.SortFunc(s.pairs, func(a, b pair) int { return int(a.id - b.id) })
	for i, pr := range s.pairs {
		c[i], p[i] = pr.id, pr.p
	}
	s.cand, s.prob = c[:kept], p[:kept]
	return mass
}

type pair struct {
	id int32
	p  float64
}

func siftDownMax(c []int32, p []float64, i int) {
	for {
		l := 2*i + 1
		if l >= len(p) {
			return
		}
		m := l
		if r := l + 1; r < len(p) && p[r] > p[l] {
			m = r
		}
		if p[i] >= p[m] {
			return
		}
		c[i], c[m] = c[m], c[i]
		p[i], p[m] = p[m], p[i]
		i = m
	}
}

// draw picks a candidate with probability s.prob[i]/z: for a uniform u, the first
// in id order at which the cumulative probability exceeds u, as
// engine.DeviceSampler does, so a device given the same u picks the same token.
func (s *Sampler) draw(z float64) int { return s.drawFrom(z, s.Uniform) }

func (s *Sampler) drawFrom(z float64, u func() float64) int {
	r := u() * z
	acc := 0.0
	for i, e := range s.prob {
		acc += e
		if r < acc {
			return int(s.cand[i])
		}
	}
	return int(s.cand[len(s.cand)-1]) // rounding left r at the very top
}
