package planner

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

// Conversation is a series of questions where later ones build on earlier
// ones: each question's prompt recalls the earlier questions and answers, and
// its plan may cite the evidence they gathered by name (their steps never run
// again: their evidence is reused). The numbering of evidence continues from
// question to question. A Conversation answers one question at a time.
type Conversation struct {
	memo memo

	mu    sync.Mutex
	turns []turn
	done  []*StepTrace // the evidence of every question, by first definition
}

type turn struct{ question, answer string }

// maxTurns bounds the earlier questions a prompt recalls, maxCarried the
// earlier evidence a plan is offered (the newest, with what it depends on).
const (
	maxTurns   = 8
	maxCarried = 24
)

// Ask answers question with p, given the conversation so far, and adds the
// question, its answer and its evidence to the conversation.
func (c *Conversation) Ask(ctx context.Context, p *Planner, question string, on func(Event)) (*Trace, error) {
	tr, err := p.ask(ctx, question, on, false, c)
	if tr == nil {
		return tr, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	answer := ""
	if tr.Answer != nil {
		answer = tr.Answer.Text
	}
	c.turns = append(c.turns, turn{strings.TrimSpace(question), answer})
	have := map[string]bool{}
	for _, t := range c.done {
		have[t.Name] = true
	}
	for _, t := range tr.Steps {
		if t.State == StateDone && !have[t.Name] {
			c.done = append(c.done, t)
			have[t.Name] = true
		}
	}
	return tr, err
}

// evidence is the evidence gathered so far: the newest maxCarried steps and
// the steps they depend on, in the order gathered.
func (c *Conversation) evidence() []*StepTrace {
	c.mu.Lock()
	defer c.mu.Unlock()
	byName := map[string]*StepTrace{}
	for _, t := range c.done {
		byName[t.Name] = t
	}
	keep := map[string]bool{}
	var mark func(t *StepTrace)
	mark = func(t *StepTrace) {
		if t == nil || keep[t.Name] {
			return
		}
		keep[t.Name] = true
		for _, d := range t.Deps {
			mark(byName[d])
		}
	}
	for _, t := range c.done[max(0, len(c.done)-maxCarried):] {
		mark(t)
	}
	var out []*StepTrace
	for _, t := range c.done {
		if keep[t.Name] {
			out = append(out, t)
		}
	}
	return out
}

// history recalls the earlier questions and their answers for the prompt.
func (c *Conversation) history() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.turns) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n\nEarlier in this conversation:\n")
	for _, t := range c.turns[max(0, len(c.turns)-maxTurns):] {
		a := t.answer
		if a == "" {
			a = "(no answer)"
		}
		fmt.Fprintf(&b, "Question: %s\nAnswer: %s\n", shorten(t.question, maxShown), shorten(a, maxShown))
	}
	b.WriteString("The question may refer to these.")
	return b.String()
}
