package sample

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/rewoo-agent/agent/engine"
)

// ln turns probabilities into logits, so cases can be written as distributions.
func ln(ps ...float64) []float32 {
	out := make([]float32, len(ps))
	for i, p := range ps {
		out[i] = float32(math.Log(p))
	}
	return out
}

// dist returns the distribution the sampler would draw from, as id -> probability.
func dist(t *testing.T, s *Sampler, logits []float32) map[int]float64 {
	t.Helper()
	if err := s.prepare(logits); err != nil {
		t.Fatal(err)
	}
	s.candidates()
	z := s.softmax()
	if s.topP > 0 {
		z = s.nucleus(z)
	}
	if !slices.IsSorted(s.cand) {
		t.Fatalf("candidates %v not in id order, which the draw relies on", s.cand)
	}
	out := map[int]float64{}
	for i, id := range s.cand {
		out[int(id)] = s.prob[i] / z
	}
	return out
}

func mustNew(t *testing.T, cfg engine.Sampling, vocab int, history ...int) *Sampler {
	t.Helper()
	s, err := New(cfg, vocab)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Observe(history...); err != nil {
		t.Fatal(err)
	}
	return s
}

func sameDist(got, want map[int]float64, tol float64) bool {
	if len(got) != len(want) {
		return false
	}
	for id, p := range want {
		g, ok := got[id]
		if !ok || math.Abs(g-p) > tol {
			return false
		}
	}
	return true
}

// TestSteps checks each step, and their order, against distributions worked out by
// hand from transformers' definitions.
func TestSteps(t *testing.T) {
	tests := []struct {
		name    string
		cfg     engine.Sampling
		history []int
		logits  []float32
		want    map[int]float64
	}{
		{"plain softmax", engine.Sampling{Temperature: 1}, nil,
			ln(0.5, 0.3, 0.2), map[int]float64{0: 0.5, 1: 0.3, 2: 0.2}},
		{"temperature 0.5 squares the odds", engine.Sampling{Temperature: 0.5}, nil,
			ln(1, 2, 3), map[int]float64{0: 1.0 / 14, 1: 4.0 / 14, 2: 9.0 / 14}},
		{"temperature 2 takes square roots", engine.Sampling{Temperature: 2}, nil,
			ln(1, 4, 9), map[int]float64{0: 1.0 / 6, 1: 2.0 / 6, 2: 3.0 / 6}},
		// Penalty 2 on logits [ln 4, ln 2, ln 1]: id 0 becomes ln4/2 = ln 2; id 1 is
		// unseen; id 2's logit 0 stays 0.
		{"penalty divides positive logits of seen ids", engine.Sampling{Temperature: 1, RepetitionPenalty: 2}, []int{0, 0, 2, 0},
			ln(4, 2, 1), map[int]float64{0: 2.0 / 5, 1: 2.0 / 5, 2: 1.0 / 5}},
		// Logits [0, -ln 2]: penalty 2 on id 1 gives -2 ln 2, odds 1 : 1/4.
		{"penalty multiplies negative logits", engine.Sampling{Temperature: 1, RepetitionPenalty: 2}, []int{1},
			[]float32{0, float32(-math.Ln2)}, map[int]float64{0: 0.8, 1: 0.2}},
		{"top-k keeps the k best", engine.Sampling{Temperature: 1, TopK: 2}, nil,
			ln(0.1, 0.4, 0.2, 0.3), map[int]float64{1: 4.0 / 7, 3: 3.0 / 7}},
		{"top-k keeps ties at the k-th score", engine.Sampling{Temperature: 1, TopK: 2}, nil,
			ln(0.1, 0.4, 0.25, 0.25), map[int]float64{1: 4.0 / 9, 2: 2.5 / 9, 3: 2.5 / 9}},
		{"top-k above the vocabulary is off", engine.Sampling{Temperature: 1, TopK: 10}, nil,
			ln(0.5, 0.5), map[int]float64{0: 0.5, 1: 0.5}},
		// Ascending [.05 .15 .3 .5], cumulative [.05 .2 .5 1]: p=0.7 drops those <= 0.3.
		{"top-p 0.7", engine.Sampling{Temperature: 1, TopP: 0.7}, nil,
			ln(0.3, 0.05, 0.5, 0.15), map[int]float64{0: 0.3 / 0.8, 2: 0.5 / 0.8}},
		{"top-p 0.85 keeps the token that crosses it", engine.Sampling{Temperature: 1, TopP: 0.85}, nil,
			ln(0.3, 0.05, 0.5, 0.15), map[int]float64{0: 0.3 / 0.95, 2: 0.5 / 0.95, 3: 0.15 / 0.95}},
		{"top-p keeps at least one", engine.Sampling{Temperature: 1, TopP: 0.01}, nil,
			ln(0.3, 0.05, 0.5, 0.15), map[int]float64{2: 1}},
		{"top-p 1 is off", engine.Sampling{Temperature: 1, TopP: 1}, nil,
			ln(0.5, 0.5), map[int]float64{0: 0.5, 1: 0.5}},
		{"-Inf tokens are never candidates", engine.Sampling{Temperature: 1}, nil,
			[]float32{0, float32(math.Inf(-1)), 0}, map[int]float64{0: 0.5, 2: 0.5}},
		// Order: penalty before top-k. Raw top-1 is id 0 (3), penalized it is 2 < 2.9.
		{"penalty before top-k", engine.Sampling{Temperature: 1, TopK: 1, RepetitionPenalty: 1.5}, []int{0},
			[]float32{3, 2.9, 1}, map[int]float64{1: 1}},
		// Order: temperature before top-p. [.6 .3 .1] at T=1 and p=0.8 keeps two; at
		// T=0.25 the odds are 1296:81:1, the tail is .0594 <= 0.2, and one stays.
		{"temperature before top-p (T=1)", engine.Sampling{Temperature: 1, TopP: 0.8}, nil,
			ln(0.6, 0.3, 0.1), map[int]float64{0: 2.0 / 3, 1: 1.0 / 3}},
		{"temperature before top-p (T=0.25)", engine.Sampling{Temperature: 0.25, TopP: 0.8}, nil,
			ln(0.6, 0.3, 0.1), map[int]float64{0: 1}},
		// Order: top-k before top-p. k=2 renormalizes [.4 .3] to [4/7 3/7]; p=0.5 then
		// drops 3/7. The other order would keep both.
		{"top-k before top-p", engine.Sampling{Temperature: 1, TopK: 2, TopP: 0.5}, nil,
			ln(0.4, 0.3, 0.2, 0.1), map[int]float64{0: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustNew(t, tt.cfg, len(tt.logits), tt.history...)
			orig := slices.Clone(tt.logits)
			got := dist(t, s, tt.logits)
			if !sameDist(got, tt.want, 1e-6) {
				t.Errorf("distribution %v, want %v", got, tt.want)
			}
			if !slices.Equal(orig, tt.logits) {
				t.Errorf("logits modified: %v, were %v", tt.logits, orig)
			}
		})
	}
}

func TestGreedy(t *testing.T) {
	tests := []struct {
		name    string
		cfg     engine.Sampling
		history []int
		logits  []float32
		want    int
	}{
		{"argmax", engine.Sampling{}, nil, []float32{1, 5, 2}, 1},
		{"first of ties", engine.Sampling{}, nil, []float32{1, 5, 5}, 1},
		{"top-k and top-p ignored", engine.Sampling{TopK: 1, TopP: 0.1}, nil, []float32{1, 5, 2}, 1},
		{"penalty applies", engine.Sampling{RepetitionPenalty: 2}, []int{1}, []float32{1, 5, 3}, 2},
		{"penalty on negatives", engine.Sampling{RepetitionPenalty: 2}, []int{0}, []float32{-1, -1.5, -3}, 1},
		{"all -Inf but one", engine.Sampling{}, nil, []float32{float32(math.Inf(-1)), -100}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustNew(t, tt.cfg, len(tt.logits), tt.history...)
			for range 3 { // greedy never varies
				got, err := s.Sample(tt.logits)
				if err != nil {
					t.Fatal(err)
				}
				if got != tt.want {
					t.Fatalf("Sample = %d, want %d", got, tt.want)
				}
			}
		})
	}
}

// reference is transformers' sampling distribution written as directly as possible:
// full sorts and cumulative sums as in RepetitionPenaltyLogitsProcessor,
// TemperatureLogitsWarper, TopKLogitsWarper and TopPLogitsWarper. ok is false where
// top-p's cut lands within rounding of a cumulative sum, where the two may differ.
func reference(cfg engine.Sampling, history []int, logits []float32) (d map[int]float64, ok bool) {
	sc := slices.Clone(logits)
	if p := float32(cfg.RepetitionPenalty); p != 0 {
		for _, id := range history {
			x := logits[id]
			if x < 0 {
				sc[id] = x * p
			} else {
				sc[id] = x / p
			}
		}
	}
	for i := range sc {
		sc[i] /= float32(cfg.Temperature)
	}
	if k := cfg.TopK; k > 0 && k < len(sc) {
		sorted := slices.Clone(sc)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i] > sorted[j] })
		kth := sorted[k-1]
		for i := range sc {
			if sc[i] < kth {
				sc[i] = float32(math.Inf(-1))
			}
		}
	}
	probs := func() []float64 {
		m := math.Inf(-1)
		for _, x := range sc {
			m = max(m, float64(x))
		}
		ps := make([]float64, len(sc))
		z := 0.0
		for i, x := range sc {
			ps[i] = math.Exp(float64(x) - m)
			z += ps[i]
		}
		for i := range ps {
			ps[i] /= z
		}
		return ps
	}
	ok = true
	if p := cfg.TopP; p > 0 && p < 1 {
		ps := probs()
		idx := make([]int, len(ps))
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return ps[idx[a]] < ps[idx[b]] })
		cum := 0.0
		for n, i := range idx {
			cum += ps[i]
			if math.Abs(cum-(1-p)) < 1e-9 {
				ok = false
			}
			if cum <= 1-p && n < len(idx)-1 {
				sc[i] = float32(math.Inf(-1))
			} else if n > 0 && ps[idx[n-1]] == ps[i] && math.IsInf(float64(sc[idx[n-1]]), -1) {
				ok = false // tied tokens on both sides of the cut: either may stay
			}
		}
	}
	d = map[int]float64{}
	for i, q := range probs() {
		if q > 0 {
			d[i] = q
		}
	}
	return d, ok
}

// TestAgainstReference compares random settings on random logits with reference.
func TestAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const vocab = 200
	checked := 0
	for n := range 500 {
		cfg := engine.Sampling{
			Temperature:       []float64{0.3, 0.7, 1, 1.5}[r.IntN(4)],
			TopK:              []int{0, 1, 5, 50, 199}[r.IntN(5)],
			TopP:              []float64{0, 0.5, 0.9, 0.95}[r.IntN(4)],
			RepetitionPenalty: []float64{0, 1.15, 2}[r.IntN(3)],
		}
		logits := make([]float32, vocab)
		for i := range logits {
			// Coarse values make ties, which top-k must keep.
			logits[i] = float32(math.Round(r.NormFloat64()*30) / 10)
		}
		history := make([]int, r.IntN(40))
		for i := range history {
			history[i] = r.IntN(vocab)
		}
		want, ok := reference(cfg, history, logits)
		if !ok {
			continue
		}
		checked++
		got := dist(t, mustNew(t, cfg, vocab, history...), logits)
		if !sameDist(got, want, 1e-9) {
			t.Fatalf("case %d %+v: got %d candidates %v\nwant %d %v", n, cfg, len(got), got, len(want), want)
		}
	}
	if checked < 450 {
		t.Fatalf("only %d of 500 cases away from rounding", checked)
	}
}

// TestDraw checks that draws follow the distribution and that the seed decides them.
func TestDraw(t *testing.T) {
	cfg := engine.Sampling{Temperature: 1, Seed: 42}
	logits := ln(0.5, 0.3, 0.2)
	s := mustNew(t, cfg, 3)
	const n = 30000
	counts := make([]int, 3)
	seq := make([]int, 0, n)
	for range n {
		id, err := s.Sample(logits)
		if err != nil {
			t.Fatal(err)
		}
		counts[id]++
		seq = append(seq, id)
	}
	for i, p := range []float64{0.5, 0.3, 0.2} {
		sigma := math.Sqrt(n * p * (1 - p))
		if d := math.Abs(float64(counts[i]) - n*p); d > 4*sigma {
			t.Errorf("token %d drawn %d times of %d, want about %.0f", i, counts[i], n, n*p)
		}
	}
	again := mustNew(t, cfg, 3)
	for i, want := range seq[:100] {
		if id, _ := again.Sample(logits); id != want {
			t.Fatalf("same seed: draw %d is %d, first run had %d", i, id, want)
		}
	}
	cfg.Seed = 43
	other := mustNew(t, cfg, 3)
	differ := false
	for _, want := range seq[:100] {
		if id, _ := other.Sample(logits); id != want {
			differ = true
		}
	}
	if !differ {
		t.Error("seeds 42 and 43 drew the same 100 tokens")
	}
}

func TestErrors(t *testing.T) {
	bad := []engine.Sampling{
		{Temperature: -1},
		{Temperature: math.NaN()},
		{Temperature: math.Inf(1)},
		{TopK: -1},
		{TopP: -0.1},
		{TopP: 1.1},
		{TopP: math.NaN()},
		{RepetitionPenalty: -1},
		{RepetitionPenalty: math.NaN()},
	}
	for _, cfg := range bad {
		if _, err := New(cfg, 10); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
	if _, err := New(engine.Sampling{}, 0); err == nil {
		t.Error("New with vocabulary 0 accepted")
	}
	s := mustNew(t, engine.Sampling{Temperature: 1}, 3)
	if err := s.Observe(1, 3); err == nil {
		t.Error("Observe(3) in a vocabulary of 3 accepted")
	}
	if err := s.Observe(-1); err == nil {
		t.Error("Observe(-1) accepted")
	}
	if _, err := s.Sample([]float32{1, 2}); err == nil {
		t.Error("Sample with 2 logits for a vocabulary of 3 accepted")
	}
	inf := float32(math.Inf(1))
	for _, logits := range [][]float32{
		{0, float32(math.NaN()), 0},
		{0, inf, 0},
		{-inf, -inf, -inf},
	} {
		for _, temp := range []float64{0, 1} {
			s := mustNew(t, engine.Sampling{Temperature: temp}, 3)
			if _, err := s.Sample(logits); !errors.Is(err, ErrBadLogits) && !(temp == 0 && logits[1] == -inf) {
				t.Errorf("Sample(%v) at temperature %v: error %v, want ErrBadLogits", logits, temp, err)
			}
		}
	}
}

// TestVerifyIsExact: speculative verification of a draft gives every token
// exactly the probability Sample gives it. The two uniforms are swept over a fine
// grid instead of drawn, so the check is a quadrature with an error bound, not a
// statistical test: the draft is kept for the fraction p(draft) of u1, and the
// residual draw gives each other token p(y)/(1-p(draft)) of u2.
func TestVerifyIsExact(t *testing.T) {
	logits := ln(0.30, 0.25, 0.20, 0.12, 0.08, 0.05)
	tests := []struct {
		name    string
		cfg     engine.Sampling
		history []int
		draft   int
	}{
		{"temperature, likely draft", engine.Sampling{Temperature: 0.7}, nil, 0},
		{"temperature, unlikely draft", engine.Sampling{Temperature: 1.3}, nil, 5},
		{"top-k leaves the draft out", engine.Sampling{Temperature: 1, TopK: 3}, nil, 4},
		{"top-k keeps the draft", engine.Sampling{Temperature: 1, TopK: 3}, nil, 2},
		{"top-p", engine.Sampling{Temperature: 1, TopP: 0.6}, nil, 1},
		{"top-p keeps only the draft", engine.Sampling{Temperature: 0.2, TopP: 0.1}, nil, 0},
		{"penalty on the draft", engine.Sampling{Temperature: 1, RepetitionPenalty: 3}, []int{0, 3}, 0},
		{"everything", engine.Sampling{Temperature: 0.9, TopK: 5, TopP: 0.9, RepetitionPenalty: 1.5}, []int{1}, 1},
	}
	const n = 100000
	grid := func(i int) float64 { return (float64(i) + 0.5) / n }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustNew(t, tt.cfg, len(logits), tt.history...)
			want := dist(t, s, logits) // leaves s prepared for these logits
			z := 0.0
			for _, p := range s.prob {
				z += p
			}
			kept := 0
			rest := map[int]float64{}
			for i := range n {
				u := grid(i)
				if s.verify(z, tt.draft, func() float64 { return u }, func() float64 { return 0.999 }) == tt.draft {
					kept++
				}
				// u1 just below 1 rejects any draft with p < 1.
				id := s.verify(z, tt.draft, func() float64 { return math.Nextafter(1, 0) }, func() float64 { return u })
				rest[id] += 1.0 / n
			}
			pd := want[tt.draft]
			if a := float64(kept) / n; math.Abs(a-pd) > 2.0/n {
				t.Errorf("draft kept for %.5f of u1, want p(draft) = %.5f", a, pd)
			}
			got := map[int]float64{}
			for id, r := range rest {
				if pd < 1 && id == tt.draft {
					t.Fatalf("a rejected draft came back from the residual draw")
				}
				got[id] += (1 - pd) * r
			}
			if pd == 1 {
				got = map[int]float64{tt.draft: 0}
			}
			if pd > 0 {
				got[tt.draft] += pd
			}
			if !sameDist(got, want, 3.0/n*float64(len(want))) {
				t.Errorf("verified distribution %v, want %v", got, want)
			}
		})
	}
}

// TestVerifyGreedy: at temperature 0 the verified token is the argmax, kept or not.
func TestVerifyGreedy(t *testing.T) {
	s := mustNew(t, engine.Sampling{RepetitionPenalty: 2}, 4, 1)
	logits := []float32{1, 3, 2, 0}
	for draft := range 5 {
		if id, err := s.Verify(logits, draft); err != nil || id != 2 {
			t.Errorf("Verify(draft %d) = %d, %v; want the penalized argmax 2", draft, id, err)
		}
	}
	if _, err := s.Verify(logits[:3], 0); err == nil {
		t.Error("short logits accepted")
	}
	if _, err := s.Verify([]float32{1, float32(math.NaN()), 0, 0}, 0); !errors.Is(err, ErrBadLogits) {
		t.Errorf("NaN logits: %v, want ErrBadLogits", err)
	}
}

// TestVerifyDraws: seeded, Verify's empirical distribution over many draws
// matches p, with a bound (chi-square, 5 degrees of freedom, p < 1e-9) the fixed
// seed makes deterministic; a verifier that kept every draft would fail it.
func TestVerifyDraws(t *testing.T) {
	logits := ln(0.30, 0.25, 0.20, 0.12, 0.08, 0.05)
	s := mustNew(t, engine.Sampling{Temperature: 1, Seed: 3}, len(logits))
	const draws = 60000
	counts := make([]float64, len(logits))
	for i := range draws {
		id, err := s.Verify(logits, i%len(logits))
		if err != nil {
			t.Fatal(err)
		}
		counts[id]++
	}
	chi := 0.0
	for id, p := range []float64{0.30, 0.25, 0.20, 0.12, 0.08, 0.05} {
		e := p * draws
		chi += (counts[id] - e) * (counts[id] - e) / e
	}
	if chi > 50 {
		t.Errorf("chi-square %.1f over counts %v, want < 50", chi, counts)
	}
}
