package planner

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/chat"
	"github.com/rewoo-agent/agent/evidence"
	"github.com/rewoo-agent/agent/planparser"
	"github.com/rewoo-agent/agent/tools"
)

// Defaults for the zero Planner.
const (
	DefaultMaxSteps      = 16
	DefaultMaxPlanTokens = 1024
	DefaultKnowledgeTool = "KnowledgeModel"
)

// Errors Ask reports.
var (
	// ErrBadPlan is wrapped by the error for a plan that cannot be run; the error
	// also wraps the planparser.Diagnostics.
	ErrBadPlan = errors.New("the model's plan cannot be run")
	// ErrTooManySteps is wrapped, with ErrBadPlan, when the plan grows past MaxSteps.
	ErrTooManySteps = errors.New("the plan has too many steps")
	// ErrAnswer is wrapped when the answer cannot be resolved: its evidence failed
	// or was skipped, or the KnowledgeModel call failed.
	ErrAnswer = errors.New("no answer")
)

// Planner answers questions: it asks LLM for a reWOO plan over Tools, runs each
// step as soon as the model has written it and its references are resolved, and
// resolves the answer. The zero values of the optional fields pick defaults.
type Planner struct {
	LLM   engine.LLM
	Tools *tools.Registry

	Prompts  Prompts         // zero: DefaultPrompts
	Sampling engine.Sampling // for the plan
	// MaxPlanTokens bounds the plan's length in tokens.
	MaxPlanTokens int
	// MaxSteps bounds the plan's steps; a longer plan is refused.
	MaxSteps int
	// Stop holds stop strings besides the chat template's own.
	Stop []string
	// KnowledgeTool names the tool that answers over all evidence when the plan has
	// no Answer line citing evidence.
	KnowledgeTool string
	// Resolve tunes the resolver; its OnEvent is replaced.
	Resolve evidence.Options
	// Recorder, when set, is the recorder LLM (and the tools' engine) were wrapped
	// with; the trace then lists every engine call of the run. One Ask at a time
	// may use a Recorder.
	Recorder *Recorder
}

// prompts fills in the default for each part of p.Prompts left empty.
func (p *Planner) prompts() Prompts {
	out, d := p.Prompts, DefaultPrompts()
	if out.Plan == "" {
		out.Plan = d.Plan
	}
	if out.Chat == (chat.Template{}) {
		out.Chat = d.Chat
	}
	return out
}

func orDefault(v, d int) int {
	if v > 0 {
		return v
	}
	return d
}

// errPlanComplete stops generation once the Answer line is written.
var errPlanComplete = errors.New("plan complete")

// session is the state of one Ask.
type session struct {
	p     *Planner
	start time.Time
	// runStart is when the resolver's clock started, since start: the least gap
	// between an event's arrival and its own time (events are sent synchronously).
	runStart time.Duration
	on       func(Event)

	mu     sync.Mutex // guards tr, values and calls of on
	tr     *Trace
	values map[string]*evidence.Value
}

func (s *session) since() time.Duration { return time.Since(s.start) }

// emit hands e to the observer; it holds s.mu.
func (s *session) emit(e Event) {
	if e.At == 0 {
		e.At = s.since()
	}
	if s.on != nil {
		s.on(e)
	}
}

// Ask answers question. The trace it returns records whatever was done, even when
// the error is not nil (a broken plan, a failed answer, ctx ending). on, when not
// nil, receives every event, one at a time.
func (p *Planner) Ask(ctx context.Context, question string, on func(Event)) (*Trace, error) {
	return p.ask(ctx, question, on, false)
}

// Plan writes and checks the plan for question without running it.
func (p *Planner) Plan(ctx context.Context, question string, on func(Event)) (*Trace, error) {
	return p.ask(ctx, question, on, true)
}

func (p *Planner) ask(ctx context.Context, question string, on func(Event), planOnly bool) (tr *Trace, err error) {
	s := &session{p: p, start: time.Now(), on: on, values: map[string]*evidence.Value{},
		tr: &Trace{Question: strings.TrimSpace(question), Steps: []*StepTrace{}, EngineCalls: []EngineCall{}}}
	firstCall := 0
	if p.Recorder != nil {
		firstCall = len(p.Recorder.Calls())
	}
	defer func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if p.Recorder != nil {
			s.tr.EngineCalls = append(s.tr.EngineCalls, p.Recorder.Calls()[firstCall:]...)
			s.linkCalls()
		}
		s.tr.Timings.Total = s.since().Seconds()
		if err != nil {
			s.tr.Error = err.Error()
		}
		tr = s.tr
	}()

	prompt, err := p.prompts().Prompt(question, p.Tools.All())
	if err != nil {
		return nil, err
	}
	s.tr.Prompt = prompt

	// The resolver runs beside the generation and takes each step the moment the
	// model has written it.
	maxSteps := orDefault(p.MaxSteps, DefaultMaxSteps)
	steps := make(chan *planparser.Step, maxSteps)
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	type outcome struct {
		res *evidence.Result
		err error
	}
	done := make(chan outcome, 1)
	if !planOnly {
		opts := p.Resolve
		opts.OnEvent = s.onResolverEvent
		tb := labelledTools{p.Tools}
		s.runStart = time.Duration(math.MaxInt64)
		go func() {
			res, err := evidence.Run(runCtx, tb, steps, opts)
			done <- outcome{res, err}
		}()
	}
	// finish closes the step channel and waits for the resolver.
	finish := func() outcome {
		close(steps)
		if planOnly {
			return outcome{}
		}
		o := <-done
		s.mu.Lock()
		s.settle(o.res)
		s.mu.Unlock()
		return o
	}

	plan, genErr := s.generate(ctx, prompt, steps, maxSteps)
	if genErr != nil {
		cancelRun()
		finish()
		return nil, genErr
	}
	o := finish()
	if planOnly {
		return nil, nil
	}
	if o.err != nil {
		return nil, o.err
	}
	return nil, s.answer(ctx, plan, o.res)
}

// generate streams the plan into the parser and the parsed steps into steps. It
// returns the parsed plan, or why there is none to run.
func (s *session) generate(ctx context.Context, prompt string, steps chan<- *planparser.Step, maxSteps int) (*planparser.Plan, error) {
	p := s.p
	stream := planparser.NewStream(planparser.Options{Tools: p.Tools.Names()})
	var raw strings.Builder
	sent := map[string]bool{}
	var extra *planparser.Step // the first step past maxSteps
	send := func(st *planparser.Step) error {
		if len(sent) == maxSteps {
			extra = st
			return ErrTooManySteps
		}
		sent[st.Name] = true
		s.mu.Lock()
		t := &StepTrace{Name: st.Name, Tool: st.Tool, Input: st.Input, Deps: nonNil(st.Deps),
			Line: st.Pos.Line, State: StatePending, Sources: []string{}, Parsed: s.since().Seconds()}
		s.tr.Steps = append(s.tr.Steps, t)
		s.emit(Event{Kind: StepParsed, Step: *t})
		s.mu.Unlock()
		steps <- st // never blocks: the channel holds maxSteps
		return nil
	}
	stops := slices.Concat(p.prompts().Chat.Stops(), p.Stop)
	req := engine.Request{Prompt: prompt, MaxTokens: orDefault(p.MaxPlanTokens, DefaultMaxPlanTokens),
		Sampling: p.Sampling, Stop: stops}
	s.mu.Lock()
	s.tr.Timings.PlanStart = s.since().Seconds()
	s.mu.Unlock()
	res, err := p.LLM.Generate(WithPurpose(ctx, "plan", ""), req, func(text string) error {
		// A line at a time: the plan ends at its Answer line even when the text
		// after it comes in the same piece.
		for text != "" {
			n := strings.IndexByte(text, '\n') + 1
			if n == 0 {
				n = len(text)
			}
			line := text[:n]
			text = text[n:]
			raw.WriteString(line)
			s.mu.Lock()
			s.tr.Plan = raw.String()
			s.emit(Event{Kind: PlanText, Text: line})
			s.mu.Unlock()
			for _, st := range stream.Write(line) {
				if err := send(st); err != nil {
					return err
				}
			}
			if stream.Answer() != nil {
				return errPlanComplete
			}
		}
		return nil
	})
	plan, perr := stream.Close()
	s.mu.Lock()
	s.tr.Plan = raw.String()
	s.tr.DAG = plan
	s.tr.Timings.PlanDone = s.since().Seconds()
	done := Event{Kind: PlanDone, Text: raw.String()}
	if err != nil && !errors.Is(err, errPlanComplete) && extra == nil {
		done.Err = err // the writing broke off: the plan is not complete
	}
	s.emit(done)
	s.mu.Unlock()
	switch {
	case errors.Is(err, errPlanComplete):
	case extra != nil:
		return nil, s.tooManySteps(extra, maxSteps)
	case err != nil:
		return nil, fmt.Errorf("writing the plan: %w", err)
	}
	var diags planparser.Diagnostics
	if errors.As(perr, &diags) {
		s.mu.Lock()
		for _, d := range diags {
			s.tr.Diagnostics = append(s.tr.Diagnostics, d.Error())
		}
		s.mu.Unlock()
		if res.Stop == engine.StopLength {
			return nil, fmt.Errorf("%w (the model stopped at the %d-token limit):\n%w", ErrBadPlan, req.MaxTokens, perr)
		}
		return nil, fmt.Errorf("%w:\n%w", ErrBadPlan, perr)
	}
	if perr != nil {
		return nil, perr
	}
	// A last step with no line end after it completes only at Close.
	for _, st := range plan.Steps {
		if !sent[st.Name] {
			if err := send(st); err != nil {
				return nil, s.tooManySteps(extra, maxSteps)
			}
		}
	}
	return plan, nil
}

// tooManySteps refuses a plan at its first step past max, as a diagnostic of the
// plan: the model that writes it is looping.
func (s *session) tooManySteps(extra *planparser.Step, max int) error {
	d := planparser.Diagnostics{{Pos: extra.Pos, Msg: fmt.Sprintf("%s is one step too many (at most %d)", extra.Name, max)}}
	s.mu.Lock()
	s.tr.Diagnostics = append(s.tr.Diagnostics, d.Error())
	s.mu.Unlock()
	return fmt.Errorf("%w: %w:\n%w", ErrBadPlan, ErrTooManySteps, d)
}

// onResolverEvent records a resolver event in the trace and passes it on.
func (s *session) onResolverEvent(e evidence.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runStart = min(s.runStart, s.since()-e.At)
	t := s.tr.Step(e.Step)
	if t == nil {
		return
	}
	out := Event{At: s.runStart + e.At, Err: e.Err}
	switch e.Kind {
	case evidence.EventStarted:
		out.Kind, out.Attempt = StepStarted, 1
		t.State = StateRunning
		t.Start = (s.runStart + e.At).Seconds()
		t.ResolvedInput, _ = evidence.Substitute(t.Input, func(name string) *evidence.Value { return s.values[name] })
	case evidence.EventRetrying:
		out.Kind, out.Attempt = StepRetrying, e.Attempt+1
	case evidence.EventFinished, evidence.EventFailed, evidence.EventSkipped:
		out.Kind = map[evidence.EventKind]EventKind{evidence.EventFinished: StepFinished,
			evidence.EventFailed: StepFailed, evidence.EventSkipped: StepSkipped}[e.Kind]
		out.Text = e.Reason
		s.values[e.Step] = e.Value
		s.record(t, e.Value)
	default:
		return
	}
	out.Step = *t
	s.emit(out)
}

// record copies a settled value into its step's trace.
func (s *session) record(t *StepTrace, v *evidence.Value) {
	if v == nil {
		return
	}
	t.ResolvedInput = v.Input
	t.Output = v.Text
	t.Sources = nonNil(v.Sources)
	t.Attempts = v.Attempts
	t.Start = (s.runStart + v.Start).Seconds()
	t.Duration = v.Duration.Seconds()
	t.Error = ""
	switch v.Status {
	case evidence.OK:
		t.State = StateDone
	case evidence.Failed:
		t.State = StateFailed
		if v.Err != nil {
			t.Error = v.Err.Error()
		}
	case evidence.Skipped:
		t.State, t.Error, t.Duration = StateSkipped, v.Reason, 0
	}
}

// settle takes the resolver's final word on every step; it holds s.mu.
func (s *session) settle(res *evidence.Result) {
	if res == nil {
		return
	}
	for _, v := range res.Values {
		if t := s.tr.Step(v.Name); t != nil {
			s.values[v.Name] = v
			s.record(t, v)
		}
	}
	first := 0.0
	for _, t := range s.tr.Steps {
		if t.State != StateSkipped && t.State != StatePending && (first == 0 || t.Start < first) {
			first = t.Start
		}
	}
	s.tr.Timings.FirstStep = first
	s.tr.Timings.StepsDone = (s.runStart + res.Wall).Seconds()
	s.tr.Timings.CriticalPath = res.CriticalPath
}

// answer resolves the answer from the plan's Answer line, or with one
// KnowledgeModel call over all evidence when that line cites none.
func (s *session) answer(ctx context.Context, plan *planparser.Plan, res *evidence.Result) error {
	text, err := res.Answer(plan.Answer)
	if err == nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		from := plan.Answer.Cites()
		s.tr.Answer = &Answer{Text: strings.TrimSpace(text), From: from, Method: MethodAnswerLine, Sources: s.tr.sources(from)}
		return nil
	}
	if !errors.Is(err, evidence.ErrNoCitation) {
		return fmt.Errorf("%w: %w", ErrAnswer, err)
	}
	name := s.p.KnowledgeTool
	if name == "" {
		name = DefaultKnowledgeTool
	}
	tool, err := s.p.Tools.Get(name)
	if err != nil {
		return fmt.Errorf("%w: the plan has no Answer line citing evidence, and %w", ErrAnswer, err)
	}
	req := tools.Request{Input: s.tr.Question, Raw: s.tr.Question}
	var all []string
	for _, v := range res.Values {
		if v.Ok() {
			req.Cited = append(req.Cited, tools.Cited{Name: v.Name, Tool: v.Tool, Input: v.Input, Text: v.Text, Sources: v.Sources})
			all = append(all, v.Name)
		}
	}
	s.mu.Lock()
	s.emit(Event{Kind: Answering})
	s.mu.Unlock()
	out, err := tool.Call(WithPurpose(ctx, "answer", ""), req)
	if err != nil {
		return fmt.Errorf("%w: %s over all evidence: %w", ErrAnswer, name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tr.Answer = &Answer{Text: strings.TrimSpace(out.Text), From: []string{}, Method: MethodKnowledge, Sources: s.tr.sources(all)}
	return nil
}

// StopAnswerLine is the stop reason of a plan generation the planner ended at the
// Answer line.
const StopAnswerLine = "answer-line"

// linkCalls names the step of each engine call a tool made; it holds s.mu.
func (s *session) linkCalls() {
	for i, c := range s.tr.EngineCalls {
		name, ok := strings.CutPrefix(c.Purpose, "tool ")
		if !ok {
			continue
		}
		for _, t := range s.tr.Steps {
			if t.Tool == name && t.Input == c.Input {
				s.tr.EngineCalls[i].Step = t.Name
				break
			}
		}
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// labelledTools hands the resolver tools whose engine calls are labelled with the
// tool and the step's raw input, so the recorder can tell them apart.
type labelledTools struct{ r *tools.Registry }

func (l labelledTools) Get(name string) (tools.Tool, error) {
	t, err := l.r.Get(name)
	if err != nil {
		return nil, err
	}
	return labelledTool{t}, nil
}

type labelledTool struct{ tools.Tool }

func (t labelledTool) Call(ctx context.Context, req tools.Request) (tools.Output, error) {
	return t.Tool.Call(WithPurpose(ctx, "tool "+t.Name(), req.Raw), req)
}
