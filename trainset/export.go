package trainset

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/rewoo-agent/agent/planner"
	"github.com/rewoo-agent/agent/planparser"
	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/calc"
	"github.com/rewoo-agent/agent/tools/corpus"
	"github.com/rewoo-agent/agent/tools/knowledge"
	"github.com/rewoo-agent/agent/tools/links"
	"github.com/rewoo-agent/agent/tools/scrape"
	"github.com/rewoo-agent/agent/tools/search"
	"github.com/rewoo-agent/agent/world"
)

// Example is one training example: the model sees Prompt and learns Completion.
type Example struct {
	Split      world.Split `json:"split"`
	Kind       string      `json:"kind"` // "plan" or "knowledge"
	Question   string      `json:"question"`
	Prompt     string      `json:"prompt"`
	Completion string      `json:"completion"`
}

// Options tune Export.
type Options struct {
	// ContextLength is the KnowledgeModel context the prompts are fitted to
	// (tools/knowledge trims the evidence past it).
	ContextLength int
	// MaxTokens is the KnowledgeModel answer budget the prompts leave room for.
	MaxTokens int
}

// ErrGoldPlan marks a question whose gold plan does not run to its answer.
var ErrGoldPlan = errors.New("gold plan")

// Toolsets are the tool lists a plan prompt may show: the local tools alone (what
// `agent eval` gives the planner) and every built-in beside them (what `agent ask
// --corpus` gives it).
func Toolsets(c *corpus.Corpus) [][]tools.Tool {
	local := append(c.Tools(), calc.Tool{}, &knowledge.Model{})
	all := append([]tools.Tool{&search.Tool{}, &scrape.Scraper{}, links.Extractor{}}, local...)
	return [][]tools.Tool{sorted(local), sorted(all)}
}

func sorted(ts []tools.Tool) []tools.Tool {
	reg, err := tools.NewRegistry(ts...)
	if err != nil {
		panic(err) // the built-ins' names are distinct
	}
	return reg.All()
}

// Export writes, for each question of qs, one planning example per toolset and one
// KnowledgeModel example per KnowledgeModel step of its gold plan, run over c.
func Export(ctx context.Context, w *world.World, c *corpus.Corpus, qs []world.Question, opts Options, out io.Writer) (int, error) {
	return write(qs, out, func(q world.Question) ([]Example, error) { return Examples(ctx, w, c, q, opts) })
}

// write writes the examples of each question of qs to out, a JSON object a line,
// and returns how many.
func write(qs []world.Question, out io.Writer, examples func(world.Question) ([]Example, error)) (int, error) {
	bw := bufio.NewWriter(out)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	n := 0
	for _, q := range qs {
		exs, err := examples(q)
		if err != nil {
			return n, err
		}
		for _, e := range exs {
			if err := enc.Encode(e); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, bw.Flush()
}

// Examples are q's training examples.
func Examples(ctx context.Context, w *world.World, c *corpus.Corpus, q world.Question, opts Options) ([]Example, error) {
	steps, err := GoldPlan(w, q)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrGoldPlan, err)
	}
	plan := Text(steps)
	var out []Example
	for _, ts := range Toolsets(c) {
		prompt, err := planner.DefaultPrompts().Prompt(q.Question, ts)
		if err != nil {
			return nil, err
		}
		out = append(out, Example{Split: q.Split, Kind: "plan", Question: q.Question, Prompt: prompt, Completion: " " + plan})
	}
	km := &oracle{model: knowledge.Model{ContextLength: opts.ContextLength, MaxTokens: opts.MaxTokens},
		answers: map[string]string{}, prompts: map[string]string{}}
	for _, s := range steps {
		if s.Tool == KnowledgeTool {
			km.answers[s.Input] = s.Answer
		}
	}
	reg, err := tools.NewRegistry(append(c.Tools(), calc.Tool{}, km)...)
	if err != nil {
		return nil, err
	}
	parsed, err := planparser.Parse(plan, planparser.Options{Tools: reg.Names()})
	if err != nil {
		return nil, fmt.Errorf("%w: question %s: %w", ErrGoldPlan, q.ID, err)
	}
	tr, err := (&planner.Planner{Tools: reg}).Run(ctx, parsed, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: question %s: %w", ErrGoldPlan, q.ID, err)
	}
	if tr.Answer == nil || tr.Answer.Text != q.Answer {
		return nil, fmt.Errorf("%w: question %s: the plan answers %v, want %q", ErrGoldPlan, q.ID, tr.Answer, q.Answer)
	}
	// In the plan's order, not the order the steps ran in, so that a world's
	// examples are the same file every time.
	for _, s := range steps {
		if p, ok := km.prompts[s.Input]; ok && s.Tool == KnowledgeTool {
			out = append(out, Example{Split: q.Split, Kind: "knowledge", Question: q.Question, Prompt: p, Completion: " " + s.Answer})
		}
	}
	return out, nil
}

// oracle is a KnowledgeModel that answers with the gold answers and records the
// prompt the real tool would send.
type oracle struct {
	model   knowledge.Model
	answers map[string]string // by the step's raw input
	mu      sync.Mutex
	prompts map[string]string // the prompt of each call, by the step's raw input
}

func (o *oracle) Name() string        { return o.model.Name() }
func (o *oracle) Description() string { return o.model.Description() }

func (o *oracle) Call(_ context.Context, req tools.Request) (tools.Output, error) {
	a, ok := o.answers[req.Raw]
	if !ok {
		return tools.Output{}, fmt.Errorf("oracle: no gold answer for %q", req.Raw)
	}
	p, err := o.model.Prompt(req)
	if err != nil {
		return tools.Output{}, err
	}
	o.mu.Lock()
	o.prompts[req.Raw] = p
	o.mu.Unlock()
	return tools.Output{Text: a, Sources: req.CitedSources()}, nil
}
