package generate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/speculate"
)

// scriptDrafter proposes what a fakeModel's script says comes next, except at
// the generated positions wrong names, where it proposes '#'.
type scriptDrafter struct {
	promptLen int
	script    []int
	wrong     func(pos int) bool
	calls     int
}

func (d *scriptDrafter) Draft(_ context.Context, ids []int, k int) ([]int, error) {
	d.calls++
	var out []int
	for pos := len(ids) - d.promptLen; pos < len(d.script) && len(out) < k; pos++ {
		if d.wrong != nil && d.wrong(pos) {
			out = append(out, '#')
		} else {
			out = append(out, d.script[pos])
		}
	}
	return out, nil
}

// fixedDrafter always proposes the first k of ids, or err.
type fixedDrafter struct {
	ids []int
	err error
}

func (d fixedDrafter) Draft(_ context.Context, _ []int, k int) ([]int, error) {
	return d.ids[:min(k, len(d.ids))], d.err
}

// run generates with g, recording the pieces.
func run(t *testing.T, g *Generator, prompt []int, req engine.Request) (engine.Result, []int, []string) {
	t.Helper()
	var pieces []string
	res, ids, err := g.GenerateIDs(context.Background(), prompt, req, func(s string) error {
		pieces = append(pieces, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return res, ids, pieces
}

func speculating(t *testing.T, m engine.Model, s Speculation) *Generator {
	t.Helper()
	g := New(m, tok)
	if err := g.Speculate(s); err != nil {
		t.Fatal(err)
	}
	return g
}

// TestSpeculationMatchesPlain: greedy speculative decoding gives the tokens,
// text, pieces and stop reason of plain decoding, whatever the drafts, with EOS,
// a stop string, the token limit or the context's end landing inside a draft.
func TestSpeculationMatchesPlain(t *testing.T) {
	cases := []struct {
		name   string
		prompt string
		script []int
		req    engine.Request
		ctxLen int
	}{
		{name: "until EOS", prompt: "Hi", script: tok.script("hello, hello world")},
		{name: "EOS inside a draft", prompt: "Hi", script: append(tok.script("abc"), tok.Encode("xyz")...)},
		{name: "stop string inside a draft", prompt: "Q", script: tok.script("Plan: a\nObservation: b"), req: engine.Request{Stop: []string{"\nObservation"}}},
		{name: "held back text released at EOS", prompt: "Q", script: tok.script("ab\nObs"), req: engine.Request{Stop: []string{"\nObservation"}}},
		{name: "token limit inside a draft", prompt: "Hi", script: tok.script("hello world"), req: engine.Request{MaxTokens: 5}},
		{name: "one token", prompt: "Hi", script: tok.script("hello"), req: engine.Request{MaxTokens: 1}},
		{name: "context end", prompt: "Hi", script: tok.script("hello world"), ctxLen: 9},
		{name: "multibyte characters", prompt: "Q", script: tok.script("né→ né→")},
	}
	drafters := []struct {
		name    string
		make    func(promptLen int, script []int) Drafter
		perfect bool // every draft verified is kept
		never   bool // no draft is kept
	}{
		{name: "oracle", perfect: true, make: func(n int, s []int) Drafter { return &scriptDrafter{promptLen: n, script: s} }},
		{name: "always wrong", never: true, make: func(n int, s []int) Drafter {
			return &scriptDrafter{promptLen: n, script: s, wrong: func(int) bool { return true }}
		}},
		{name: "every third wrong", make: func(n int, s []int) Drafter {
			return &scriptDrafter{promptLen: n, script: s, wrong: func(pos int) bool { return pos%3 == 2 }}
		}},
		{name: "prompt lookup", make: func(int, []int) Drafter { return speculate.Lookup{} }},
	}
	for _, tt := range cases {
		for _, dr := range drafters {
			t.Run(tt.name+"/"+dr.name, func(t *testing.T) {
				ctxLen := cmpOr(tt.ctxLen, 100)
				prompt := tok.ids(tt.prompt)
				plainM := &fakeModel{promptLen: len(prompt), script: tt.script, ctxLen: ctxLen}
				want, wantIDs, wantPieces := run(t, newGen(plainM), prompt, tt.req)

				for _, dev := range []bool{false, true} {
					// On the host (every row's logits), or on a model that picks the
					// rows' tokens on the device.
					m := &fakeModel{promptLen: len(prompt), script: tt.script, ctxLen: ctxLen}
					var model engine.Model = m
					rows := newRowsFake(m)
					if dev {
						model = rows
					}
					g := speculating(t, model, Speculation{Drafter: dr.make(len(prompt), tt.script), MaxDraft: 4})
					got, ids, pieces := run(t, g, prompt, tt.req)
					if !slices.Equal(ids, wantIDs) || got.Text != want.Text || got.Stop != want.Stop || got.Tokens != want.Tokens {
						t.Fatalf("device %v: speculative %v %q %s %d, plain %v %q %s %d", dev, ids, got.Text, got.Stop, got.Tokens, wantIDs, want.Text, want.Stop, want.Tokens)
					}
					if !slices.Equal(pieces, wantPieces) {
						t.Errorf("device %v: pieces %q, plain %q", dev, pieces, wantPieces)
					}
					if want.Steps != len(plainM.calls)-1 || got.Steps != len(m.calls)-1 {
						t.Errorf("device %v: steps %d and %d, want the forward passes after the prompt's, %d and %d", dev, want.Steps, got.Steps, len(plainM.calls)-1, len(m.calls)-1)
					}
					if dev && len(rows.rowCalls) != got.Steps {
						t.Errorf("%d steps, %d of them sampled on the device", got.Steps, len(rows.rowCalls))
					}
					if got.Accepted > got.Drafted || got.Steps+got.Accepted < got.Tokens-1 {
						t.Errorf("device %v: %d steps, %d drafted, %d kept for %d tokens", dev, got.Steps, got.Drafted, got.Accepted, got.Tokens)
					}
					switch {
					case dr.never && got.Accepted > 0:
						t.Errorf("device %v: %d wrong drafts kept", dev, got.Accepted)
					case dr.perfect && got.Tokens > 2 && got.Steps >= want.Steps:
						t.Errorf("device %v: perfect drafts took %d steps, plain decoding %d", dev, got.Steps, want.Steps)
					}
					for _, c := range m.calls[1:] {
						if c.last > 5 || c.last < 1 {
							t.Errorf("device %v: forward of %d ids asked for %d rows, want 1 to 1+MaxDraft", dev, len(c.ids), c.last)
						}
					}
				}
			})
		}
	}
}

func cmpOr(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

// TestSpeculativeSamplingIsExact: sampled speculative decoding draws sequences
// with the target's probabilities. The fake model's per-step logits are known,
// so the exact distribution of three tokens (repetition penalty over prompt and
// output, temperature, top-k) is worked out here independently of
// engine/sample, and 20,000 seeded runs must fit it: a chi-square bound far in
// the tail (p < 1e-9), never crossed by chance since the seeds are fixed, far
// below what a verifier that kept every draft, or never, scores.
func TestSpeculativeSamplingIsExact(t *testing.T) {
	inf := float32(math.Inf(-1))
	base := make([]float32, vocab)
	for i := range base {
		base[i] = inf
	}
	support := []int{'a', 'b', 'c', 'd'}
	base['a'], base['b'], base['c'], base['d'] = 0.5, 0.2, -0.3, -1
	script := []int{'a', 'c', 'b'}
	const margin, temp, topK, penalty = 1.0, 0.8, 3, 1.3
	prompt := tok.ids("xa")
	req := engine.Request{MaxTokens: 3, Sampling: engine.Sampling{Temperature: temp, TopK: topK, RepetitionPenalty: penalty}}

	// The exact distribution of the three tokens.
	prob := func(step int, seen map[int]bool) map[int]float64 {
		l := map[int]float64{}
		for _, id := range support {
			x := float64(base[id])
			if id == script[step] {
				x = margin
			}
			if seen[id] {
				if x < 0 {
					x *= penalty
				} else {
					x /= penalty
				}
			}
			l[id] = x / temp
		}
		vals := make([]float64, 0, len(l))
		for _, x := range l {
			vals = append(vals, x)
		}
		sort.Sort(sort.Reverse(sort.Float64Slice(vals)))
		z, p := 0.0, map[int]float64{}
		for id, x := range l {
			if x >= vals[topK-1] {
				p[id] = math.Exp(x)
				z += p[id]
			}
		}
		for id := range p {
			p[id] /= z
		}
		return p
	}
	want := map[string]float64{}
	var walk func(step int, seq string, pr float64)
	walk = func(step int, seq string, pr float64) {
		if step == len(script) {
			want[seq] = pr
			return
		}
		seen := map[int]bool{'a': true, 'x': true, bos: true}
		for i := range len(seq) {
			seen[int(seq[i])] = true
		}
		for id, p := range prob(step, seen) {
			walk(step+1, seq+string(rune(id)), pr*p)
		}
	}
	walk(0, "", 1)

	const runs = 20000
	for _, dr := range []struct {
		name string
		d    Drafter
	}{
		{"fixed drafts", fixedDrafter{ids: tok.Encode("bcd")}},
		{"prompt lookup", speculate.Lookup{}},
		{"likely drafts", &scriptDrafter{promptLen: len(prompt), script: script}},
	} {
		for _, dev := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/device=%v", dr.name, dev), func(t *testing.T) {
				m := &fakeModel{promptLen: len(prompt), script: script, ctxLen: 16, margin: margin, base: base}
				var model engine.Model = m
				if dev {
					model = newRowsFake(m)
				}
				g := speculating(t, model, Speculation{Drafter: dr.d, MaxDraft: 2})
				got := map[string]float64{}
				drafted, kept := 0, 0
				for seed := range runs {
					r := req
					r.Sampling.Seed = uint64(seed)
					res, ids, err := g.GenerateIDs(context.Background(), prompt, r, nil)
					if err != nil {
						t.Fatal(err)
					}
					var s strings.Builder
					for _, id := range ids {
						s.WriteRune(rune(id))
					}
					got[s.String()]++
					drafted, kept = drafted+res.Drafted, kept+res.Accepted
				}
				if drafted == 0 || kept == 0 || kept == drafted {
					t.Fatalf("%d drafted, %d kept: the test exercises neither keeping nor rejecting", drafted, kept)
				}
				chi, dof := 0.0, -1
				for seq, n := range got {
					if want[seq] == 0 {
						t.Fatalf("%q drawn %v times, but its probability is 0", seq, n)
					}
				}
				for seq, p := range want {
					e := p * runs
					chi += (got[seq] - e) * (got[seq] - e) / e
					dof++
				}
				if limit := float64(dof) + 10*math.Sqrt(2*float64(dof)) + 20; chi > limit {
					t.Errorf("chi-square %.1f with %d degrees of freedom, want below %.0f", chi, dof, limit)
				}
				t.Logf("%d sequences, chi-square %.1f, %d of %d drafts kept", len(want), chi, kept, drafted)
			})
		}
	}
}

// TestSpeculationUnderConstraint: drafts are verified under the constraint's
// mask, token by token as they are advanced, and forced tokens end a step's
// rows: the tokens, and what the constraint saw, are plain decoding's.
func TestSpeculationUnderConstraint(t *testing.T) {
	prompt := []int{bos, 'p'}
	for _, tt := range []struct {
		name     string
		forcedAt int
		d        Drafter
	}{
		{"drafts the mask refuses", 99, fixedDrafter{ids: tok.Encode("xxxx")}},
		{"drafts the mask allows", 99, fixedDrafter{ids: tok.Encode("bcdefg")}},
		{"forced tokens", 3, fixedDrafter{ids: tok.Encode("bcdefg")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			text := "abcdefg"
			plain := &spell{text: text, forcedAt: tt.forcedAt}
			_, wantIDs, err := newGen(&fakeModel{promptLen: 2, script: tok.script("xxxxxxxxxx"), ctxLen: 20}).
				GenerateConstrained(context.Background(), prompt, engine.Request{}, plain, nil)
			if err != nil {
				t.Fatal(err)
			}
			c := &spell{text: text, forcedAt: tt.forcedAt}
			m := &fakeModel{promptLen: 2, script: tok.script("xxxxxxxxxx"), ctxLen: 20}
			res, ids, err := speculating(t, m, Speculation{Drafter: tt.d, MaxDraft: 3}).
				GenerateConstrained(context.Background(), prompt, engine.Request{}, c, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids, wantIDs) || !slices.Equal(c.advanced, plain.advanced) {
				t.Fatalf("ids %v advanced %v, plain %v %v", ids, c.advanced, wantIDs, plain.advanced)
			}
			t.Logf("%d steps, %d of %d drafts kept", res.Steps, res.Accepted, res.Drafted)
		})
	}
}

// TestSpeculationWithPenalty: each row is verified with the history of the
// drafts kept before it, so the penalty turns a drafted repeat down as plain
// decoding does.
func TestSpeculationWithPenalty(t *testing.T) {
	base := make([]float32, vocab)
	base['x'] = 0.8
	prompt := []int{bos, 'b'}
	req := engine.Request{MaxTokens: 3, Sampling: engine.Sampling{RepetitionPenalty: 2}}
	newM := func() *fakeModel {
		return &fakeModel{promptLen: 2, script: []int{'a', 'a', 'a'}, ctxLen: 10, margin: 1, base: base}
	}
	_, want, _ := run(t, newGen(newM()), prompt, req)
	if !slices.Equal(want, []int{'a', 'x', 'a'}) {
		t.Fatalf("plain %v, want [a x a]", want)
	}
	rows := newRowsFake(newM())
	for name, m := range map[string]engine.Model{"host": newM(), "device": rows} {
		res, got, _ := run(t, speculating(t, m, Speculation{Drafter: fixedDrafter{ids: []int{'a', 'a'}}}), prompt, req)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: speculative %v, plain %v", name, got, want)
		}
		if res.Drafted == 0 || res.Accepted != 0 {
			t.Errorf("%s: %d drafted, %d kept; want the penalized repeats rejected", name, res.Drafted, res.Accepted)
		}
	}
	// Row i's history is the prompt's and output's ids, then drafts[:i].
	if len(rows.rowCalls) == 0 {
		t.Fatal("no step sampled on the device")
	}
	for i, r := range rows.rowCalls[0] {
		if want := append([]int32{bos, 'b', 'a'}, slices.Repeat([]int32{'a'}, i)...); !slices.Equal(r.History, want) {
			t.Errorf("row %d of the first step: history %v, want %v", i, r.History, want)
		}
	}
}

// TestSpeculationRowsOff: a model whose rows cannot be sampled on the device
// (SamplesRowsOnDevice false) is verified on the host, through Forward.
func TestSpeculationRowsOff(t *testing.T) {
	script := tok.script("ok ok ok")
	prompt := tok.ids("Q")
	rows := newRowsFake(&fakeModel{promptLen: len(prompt), script: script, ctxLen: 32})
	rows.off = true
	res, ids, _ := run(t, speculating(t, rows, Speculation{Drafter: speculate.Lookup{}}), prompt, engine.Request{})
	if !slices.Equal(ids, script) || len(rows.rowCalls) != 0 || res.Accepted == 0 {
		t.Fatalf("ids %v, %d steps sampled on the device, %d drafts kept; want %v verified on the host", ids, len(rows.rowCalls), res.Accepted, script)
	}
}

// TestSpeculationOnDeviceSamplingModel: speculation verifies on the host, so a
// model that samples on the device is driven through Forward alone, with the
// same greedy tokens.
func TestSpeculationOnDeviceSamplingModel(t *testing.T) {
	script := tok.script("ok ok ok")
	prompt := tok.ids("Q")
	dev := &deviceFake{fakeModel: &fakeModel{promptLen: len(prompt), script: script, ctxLen: 32}}
	res, ids, _ := run(t, speculating(t, dev, Speculation{Drafter: speculate.Lookup{}}), prompt, engine.Request{})
	if !slices.Equal(ids, script) || len(dev.us) != 0 {
		t.Fatalf("ids %v after %d device samples, want %v from Forward alone", ids, len(dev.us), script)
	}
	if res.Accepted == 0 {
		t.Errorf("prompt lookup kept nothing of the repeated \"ok \"")
	}
}

// TestSpeculationCancel: a cancel while a step's kept drafts are being
// emitted stops at once, with what was emitted, and feeds nothing more.
func TestSpeculationCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	prompt := tok.ids("q")
	script := tok.script("abcdefgh")
	m := &fakeModel{promptLen: len(prompt), script: script, ctxLen: 100}
	g := speculating(t, m, Speculation{Drafter: &scriptDrafter{promptLen: len(prompt), script: script}, MaxDraft: 6})
	res, ids, err := g.GenerateIDs(ctx, prompt, engine.Request{}, func(s string) error {
		if s == "c" {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || res.Text != "abc" || !slices.Equal(ids, tok.Encode("abc")) {
		t.Fatalf("err %v text %q ids %v, want canceled after \"abc\"", err, res.Text, ids)
	}
	if len(m.calls) != 2 {
		t.Errorf("%d forward passes, want the prompt's and one step drafting b to g", len(m.calls))
	}
}

// TestSpeculationBadDrafter: a drafter's error, ids outside the vocabulary or
// more ids than asked for end the generation with an error naming the draft.
func TestSpeculationBadDrafter(t *testing.T) {
	boom := errors.New("boom")
	for _, tt := range []struct {
		name string
		d    Drafter
		want error
		msg  string
	}{
		{"error", fixedDrafter{err: boom}, boom, "draft"},
		{"id outside the vocabulary", fixedDrafter{ids: []int{'a', vocab}}, engine.ErrIDRange, "draft"},
		{"too many", tooMany{}, nil, "asked for"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := &fakeModel{promptLen: 2, script: tok.script("abc"), ctxLen: 20}
			res, ids, err := speculating(t, m, Speculation{Drafter: tt.d, MaxDraft: 2}).
				GenerateIDs(context.Background(), []int{bos, 'q'}, engine.Request{}, nil)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %v, want %v %q", err, tt.want, tt.msg)
			}
			if !slices.Equal(ids, []int{'a'}) || res.Text != "a" {
				t.Errorf("ids %v text %q, want what came before the draft", ids, res.Text)
			}
		})
	}
	if err := New(&fakeModel{ctxLen: 10}, tok).Speculate(Speculation{Drafter: speculate.Lookup{}, MaxDraft: -1}); err == nil {
		t.Error("negative max draft accepted")
	}
}

type tooMany struct{}

func (tooMany) Draft(_ context.Context, _ []int, k int) ([]int, error) {
	return make([]int, k+1), nil
}
