package planner

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/planner/constrain"
)

// constrainedOf returns the engine under llm that can write under a token
// constraint (engine.Constrained with a vocabulary), looking through the
// recorder of Recorded; nil when there is none (a remote server, a model
// without its tokenizer, a wrapper that hides the capability).
func constrainedOf(llm engine.LLM) engine.Constrained {
	switch r := llm.(type) {
	case recorded:
		llm = r.llm
	case countingRecorded:
		llm = r.llm
	}
	if c, ok := llm.(engine.Constrained); ok && c.Vocab() != nil {
		return c
	}
	return nil
}

// PlanIndexes keeps the token indexes of the plan grammars (planner/constrain)
// a Planner writes under, one for each tool list, bound on steps (a new plan
// after gathered steps allows as many more) and vocabulary, so that plans
// share their cached masks. Share one across the questions of a process
// (Planner.Indexes); its zero value is ready, and it is safe for concurrent use.
type PlanIndexes struct {
	mu sync.Mutex
	by map[indexKey]*constrain.Index
}

type indexKey struct {
	tools    string // the names, each ended by a NUL
	maxSteps int
	vocab    engine.Vocab
}

// get returns the index of the plan grammar over tools with at most maxSteps
// steps, for vocab.
func (x *PlanIndexes) get(tools []string, maxSteps int, vocab engine.Vocab) (*constrain.Index, error) {
	key := indexKey{maxSteps: maxSteps, vocab: vocab}
	for _, t := range tools {
		key.tools += t + "\x00"
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if ix := x.by[key]; ix != nil {
		return ix, nil
	}
	lim := constrain.DefaultLimits
	lim.MaxSteps = maxSteps
	g, err := constrain.New(constrain.Options{Tools: tools, RequireAnswer: true, Limits: lim})
	if err != nil {
		return nil, err
	}
	ix, err := constrain.NewIndex(g, vocab)
	if err != nil {
		return nil, err
	}
	if x.by == nil {
		x.by = map[indexKey]*constrain.Index{}
	}
	x.by[key] = ix
	return ix, nil
}

// maxGrammarSteps is the most steps planner/constrain's grammar allows.
const maxGrammarSteps = 100

// constrainedPlan is an engine.LLM that writes a plan on c under the plan
// grammar, after prefix. It makes the decoder when the call starts, for the
// request's MaxTokens as the recorder leaves it (the question's budget may
// lower it), so the plan completes within the tokens the engine may write.
type constrainedPlan struct {
	c      engine.Constrained
	ix     *constrain.Index
	prefix string
}

func (p constrainedPlan) Generate(ctx context.Context, req engine.Request, onText func(string) error) (engine.Result, error) {
	d, err := p.ix.NewDecoderAfter(p.prefix, req.MaxTokens)
	if err != nil {
		return engine.Result{}, fmt.Errorf("constraining the plan: %w", err)
	}
	return p.c.GenerateUnder(ctx, req, d, onText)
}

// constrainedRequest returns the request and the engine that write the plan
// for prompt under the plan grammar, or a nil engine when the plan is written
// freely: NoConstrain, an engine without the capability, no tool a plan can
// call by name, or a prefix outside the grammar (a step from a plan written
// freely), whose plan repair covers.
//
// given is the number of steps in prefix; the grammar allows maxSteps more.
func (s *session) constrainedRequest(prompt, prefix string, given, maxSteps int) (engine.Request, engine.LLM, error) {
	p := s.p
	c := constrainedOf(p.LLM)
	if p.NoConstrain || c == nil {
		return engine.Request{}, nil, nil
	}
	var names []string // a tool no plan can call by its name stays out
	for _, t := range p.Tools.Names() {
		if constrain.ToolName(t) {
			names = append(names, t)
		}
	}
	if len(names) == 0 {
		return engine.Request{}, nil, nil
	}
	ix, err := s.indexes().get(names, min(maxSteps+given, maxGrammarSteps), c.Vocab())
	if err != nil {
		return engine.Request{}, nil, fmt.Errorf("constraining the plan: %w", err)
	}
	if _, err := ix.Grammar().Advance(ix.Grammar().Start(), prefix); err != nil {
		return engine.Request{}, nil, nil
	}
	maxTokens := orDefault(p.MaxPlanTokens, DefaultMaxPlanTokens)
	if tc, ok := p.LLM.(engine.TokenCounter); ok {
		n, err := tc.CountTokens(prompt)
		if err != nil {
			return engine.Request{}, nil, err
		}
		if room := tc.ContextLength() - n; room < maxTokens {
			if room < 1 {
				return engine.Request{}, nil, fmt.Errorf("the plan's prompt of %d tokens: %w (%d)", n, engine.ErrContextLength, tc.ContextLength())
			}
			maxTokens = room
		}
	}
	// No stop strings: the grammar ends the plan, and a stop string could cut
	// it short of its Answer line.
	req := engine.Request{Prompt: prompt, MaxTokens: maxTokens, Sampling: p.Sampling}
	return req, Recorded(constrainedPlan{c: c, ix: ix, prefix: prefix}), nil
}

// indexes is the planner's PlanIndexes, or the session's own.
func (s *session) indexes() *PlanIndexes {
	if s.p.Indexes != nil {
		return s.p.Indexes
	}
	return &s.ownIndexes
}

// grammarLLM is an optional capability of an LLM: a server that constrains
// its own decoding to a GBNF grammar (engine/openai's Client), or writes
// freely where it cannot.
type grammarLLM interface {
	GenerateGrammar(ctx context.Context, req engine.Request, grammar string, onText func(string) error) (engine.Result, error)
}

// grammarOf returns the engine under llm that takes a grammar, looking
// through the recorder of Recorded; nil when there is none.
func grammarOf(llm engine.LLM) grammarLLM {
	switch r := llm.(type) {
	case recorded:
		llm = r.llm
	case countingRecorded:
		llm = r.llm
	}
	g, _ := llm.(grammarLLM)
	return g
}

// grammarPlan is an engine.LLM that has the server write the plan under
// grammar.
type grammarPlan struct {
	llm     grammarLLM
	grammar string
}

func (p grammarPlan) Generate(ctx context.Context, req engine.Request, onText func(string) error) (engine.Result, error) {
	return p.llm.GenerateGrammar(ctx, req, p.grammar, onText)
}

// firstNewRE finds in a prompt the name gatheredSection tells the new plan's
// first step to take.
var firstNewRE = regexp.MustCompile(strings.Replace(regexp.QuoteMeta(firstNewFormat), "%s", `(:evidence\d+:|#E\d+)`, 1))

// serverGrammar returns the engine that has a server write the plan for
// prompt after prefix under the plan grammar as GBNF (planner/constrain's
// GBNF), or nil where it is written freely: NoConstrain, an engine that
// takes no grammar, no tool a plan can call by name, or a prefix outside the
// grammar. The new steps are numbered from the name the prompt gives them
// (after a prefix), or from any of the four usual starts. The server may still
// write freely (engine/openai: one of unknown kind); repair covers that.
//
// given is the number of steps in prefix; the grammar allows maxSteps more.
func (s *session) serverGrammar(prompt, prefix string, given, maxSteps int) engine.LLM {
	p := s.p
	gl := grammarOf(p.LLM)
	if p.NoConstrain || gl == nil {
		return nil
	}
	var names []string
	for _, t := range p.Tools.Names() {
		if constrain.ToolName(t) {
			names = append(names, t)
		}
	}
	if len(names) == 0 {
		return nil
	}
	lim := constrain.DefaultLimits
	lim.MaxSteps = min(maxSteps+given, maxGrammarSteps)
	g, err := constrain.New(constrain.Options{Tools: names, RequireAnswer: true, Limits: lim})
	if err != nil {
		return nil
	}
	st, err := g.Advance(g.Start(), prefix)
	if err != nil {
		return nil
	}
	next := ""
	if prefix != "" {
		m := firstNewRE.FindAllStringSubmatch(prompt, -1)
		if len(m) == 0 {
			return nil
		}
		next = m[len(m)-1][1]
	}
	text, err := g.GBNF(st, next)
	if err != nil {
		return nil
	}
	return Recorded(grammarPlan{llm: gl, grammar: text})
}
