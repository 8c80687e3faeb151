package speculate_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/backend/cpu"
	"github.com/rewoo-agent/agent/engine/generate"
	"github.com/rewoo-agent/agent/engine/llama"
	"github.com/rewoo-agent/agent/engine/speculate"
	"github.com/rewoo-agent/agent/engine/tokenizer"
	"github.com/rewoo-agent/agent/internal/fixtures"
	"github.com/rewoo-agent/agent/models"
)

// idTok stands in for a fixture checkpoint's tokenizer: ids in, one letter per
// id out, so stop strings apply.
type idTok struct{ bos, eos int }

func (idTok) Encode(string) []int       { return nil }
func (t idTok) BOS() int                { return t.bos }
func (t idTok) EOS() int                { return t.eos }
func (idTok) NewStream() letterStream   { return letterStream{} }
func (letterStream) Next(id int) string { return string(rune('a' + id%26)) }
func (letterStream) Flush() string      { return "" }

type letterStream struct{}

func load(t testing.TB, dir string) *llama.Model {
	t.Helper()
	m, err := llama.Open(context.Background(), dir, cpu.New(), llama.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// generation is one greedy generation to compare.
type generation struct {
	name   string
	prompt []int
	req    engine.Request
}

// same generates each of gens plainly and with each speculation, in turn on
// one generator each (so the caches carry rejected drafts from one generation
// into the next), and checks the ids, text and stop reason are the same. The
// speculations named in keep must keep some drafts.
func same(t *testing.T, plain *generate.Generator, specs map[string]*generate.Generator, keep []string, gens []generation) {
	t.Helper()
	ctx := context.Background()
	type outcome struct {
		res engine.Result
		ids []int
	}
	want := make([]outcome, len(gens))
	for i, g := range gens {
		res, ids, err := plain.GenerateIDs(ctx, g.prompt, g.req, nil)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = outcome{res, ids}
	}
	for name, sg := range specs {
		t.Run(name, func(t *testing.T) {
			drafted, kept, tokens, steps := 0, 0, 0, 0
			for i, g := range gens {
				res, ids, err := sg.GenerateIDs(ctx, g.prompt, g.req, nil)
				if err != nil {
					t.Fatal(err)
				}
				w := want[i]
				if !slices.Equal(ids, w.ids) || res.Text != w.res.Text || res.Stop != w.res.Stop {
					t.Fatalf("%s: speculative %v %q %s,\nplain %v %q %s", g.name, ids, res.Text, res.Stop, w.ids, w.res.Text, w.res.Stop)
				}
				drafted, kept, tokens, steps = drafted+res.Drafted, kept+res.Accepted, tokens+res.Tokens, steps+res.Steps
			}
			if kept == 0 && slices.Contains(keep, name) {
				t.Errorf("no draft kept in %d", drafted)
			}
			t.Logf("%d tokens in %d steps: %d of %d drafts kept (%.0f%%)", tokens, steps, kept, drafted, 100*float64(kept)/float64(max(drafted, 1)))
		})
	}
}

func speculating(t testing.TB, m engine.Model, tok idTok, d generate.Drafter, k int) *generate.Generator {
	g := generate.New(m, tok)
	if err := g.Speculate(generate.Speculation{Drafter: d, MaxDraft: k}); err != nil {
		t.Fatal(err)
	}
	return g
}

// TestFixtures: on the AutoGPTQ fixture checkpoints, greedy speculative
// decoding gives plain decoding's tokens with prompt lookup and with a draft
// model (the other fixture, and the checkpoint itself, whose every draft the
// CPU backend's row-independent arithmetic must keep), over copy-heavy
// prompts, a stop string and a token limit landing inside drafts, and one
// generator's successive calls.
func TestFixtures(t *testing.T) {
	names := []string{"tiny-4bit-128g-actorder", "tiny-4bit-nogroup-actorder"}
	for i, name := range names {
		t.Run(name, func(t *testing.T) {
			dir := fixtures.GPTQ(name)
			cfg := load(t, dir).Config()
			tok := idTok{bos: cfg.BOS, eos: cfg.EOS}
			var passage []int
			for i := range 40 {
				passage = append(passage, 3+(i*37)%900)
			}
			copyPrompt := append(append([]int{cfg.BOS}, passage...), passage[:12]...)
			gens := []generation{
				{"copy", copyPrompt, engine.Request{MaxTokens: 40}},
				{"continued", append(slices.Clone(copyPrompt), passage[12:20]...), engine.Request{MaxTokens: 30}},
				{"token limit", copyPrompt, engine.Request{MaxTokens: 7}},
				{"stop", copyPrompt, engine.Request{MaxTokens: 40, Stop: []string{string(rune('a' + passage[15]%26))}}},
				{"short prompt", []int{cfg.BOS, 5}, engine.Request{MaxTokens: 40}},
			}
			self := generate.New(load(t, dir), tok)
			self.Speculate(generate.Speculation{Drafter: speculate.NewModel(load(t, dir)), MaxDraft: 5})
			same(t, generate.New(load(t, dir), tok), map[string]*generate.Generator{
				"lookup":           speculating(t, load(t, dir), tok, speculate.Lookup{}, 8),
				"lookup k=2":       speculating(t, load(t, dir), tok, speculate.Lookup{MinN: 2, MaxN: 4}, 2),
				"other model":      speculating(t, load(t, dir), tok, speculate.NewModel(load(t, fixtures.GPTQ(names[1-i]))), 4),
				"the model itself": self,
			}, []string{"the model itself"}, gens)
			// The checkpoint drafting for itself: every verified draft kept.
			res, _, err := self.GenerateIDs(context.Background(), []int{cfg.BOS, 9, 8, 7}, engine.Request{MaxTokens: 33}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Accepted == 0 || res.Steps != (res.Tokens-1+5)/6 {
				t.Errorf("%d tokens in %d steps, %d of %d drafts kept: want every draft kept, 6 tokens a step", res.Tokens, res.Steps, res.Accepted, res.Drafted)
			}
		})
	}
}

// rewooDir is the shipped model's folder: $AGENT_REWOO_MODEL where a test
// binary runs away from its source tree (the GPU machine), as in models.
func rewooDir() string {
	if d := os.Getenv("AGENT_REWOO_MODEL"); d != "" {
		return d
	}
	return models.Dir(models.RewooTiny)
}

// heldout reads the shipped model's held-out examples: plan prompts and
// KnowledgeModel prompts (evidence, then a question about it), as ids.
func heldout(t testing.TB) (plans, knowledge [][]int) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(rewooDir(), "heldout.json"))
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Examples []struct {
			IDs       []int `json:"ids"`
			PromptLen int   `json:"prompt_len"`
		} `json:"examples"`
	}
	if err := json.Unmarshal(data, &h); err != nil {
		t.Fatal(err)
	}
	for _, e := range h.Examples {
		p := e.IDs[:e.PromptLen]
		// A plan's completion is many lines; an answer a few tokens.
		if len(e.IDs)-e.PromptLen > 40 {
			plans = append(plans, p)
		} else {
			knowledge = append(knowledge, p)
		}
	}
	if len(plans) == 0 || len(knowledge) == 0 {
		t.Fatalf("heldout.json: %d plan and %d KnowledgeModel prompts", len(plans), len(knowledge))
	}
	return plans, knowledge
}

// quotePrompt is a KnowledgeModel prompt whose answer is a copy of the
// evidence, as a large model's answers quote theirs.
func quotePrompt(tok *tokenizer.Tokenizer) []int {
	return tok.EncodeWithBOS("BEGININPUT\nThe Salt Shore is a novel by Rasmus Harlwell, who was born in Merecrest in 1931 and died in Havelwold.\nENDINPUT\nBEGININSTRUCTION\nRepeat the input word for word.\nENDINSTRUCTION ASSISTANT: The Salt Shore is a novel by")
}

// tinyTokenizer loads the shipped model's tokenizer.
func tinyTokenizer(t testing.TB) *tokenizer.Tokenizer {
	t.Helper()
	tok, err := tokenizer.Load(filepath.Join(rewooDir(), "tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestRewooTiny: on the shipped model, greedy speculative decoding gives plain
// decoding's plans and answers on the held-out prompts, with the stop strings
// the planner uses landing inside drafts.
func TestRewooTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("loads the shipped model")
	}
	plans, knowledge := heldout(t)
	tok := tinyTokenizer(t)
	dir := rewooDir()
	gens := []generation{
		{"plan", plans[0], engine.Request{MaxTokens: 80}},
		{"plan to a stop", plans[1], engine.Request{MaxTokens: 200, Stop: []string{":evidence2:"}}},
		{"knowledge", knowledge[0], engine.Request{MaxTokens: 40}},
	}
	gens = append(gens, generation{"quote", quotePrompt(tok), engine.Request{MaxTokens: 40}})

	newGen := func(d generate.Drafter, adaptive bool) *generate.Generator {
		g := generate.New(load(t, dir), tok)
		if d != nil {
			if err := g.Speculate(generate.Speculation{Drafter: d, MaxDraft: 8, Adaptive: adaptive}); err != nil {
				t.Fatal(err)
			}
		}
		return g
	}
	same(t, newGen(nil, false), map[string]*generate.Generator{
		"lookup":          newGen(speculate.Lookup{}, false),
		"lookup adaptive": newGen(speculate.Lookup{MinN: 2}, true),
	}, []string{"lookup", "lookup adaptive"}, gens)
}
