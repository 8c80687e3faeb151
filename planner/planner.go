package planner

import (
	"context"
	"errors"
	"fmt"
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
// resolves the answer. The zero values of the optional fields pick defaults. A
// Planner may answer several questions at once; wrap LLM, and the engine of the
// tools, with Recorded to have each question's trace list its engine calls.
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

// session is the state of one Ask or Run.
type session struct {
	p     *Planner
	start time.Time
	rec   *recorder
	on    func(Event)

	mu     sync.Mutex // guards tr, steps and calls of on
	tr     *Trace
	byName map[string]*StepTrace
}

func (p *Planner) newSession(question string, on func(Event)) *session {
	s := &session{p: p, start: time.Now(), on: on, byName: map[string]*StepTrace{},
		tr: &Trace{Question: question, Steps: []*StepTrace{}, EngineCalls: []EngineCall{}}}
	s.rec = newRecorder(s.start)
	return s
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

// close completes the trace of the session, whatever ended it, and returns it
// in *tr.
func (s *session) close(tr **Trace, err *error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tr.EngineCalls = s.rec.Calls()
	s.tr.Timings.Total = s.since().Seconds()
	if *err != nil {
		s.tr.Error = (*err).Error()
	}
	*tr = s.tr
}

// Ask answers question. The trace it returns records whatever was done, even when
// the error is not nil (a broken plan, a failed answer, ctx ending). on, when not
// nil, receives every event, one at a time. The trace lists the calls made
// through an LLM from Recorded (p.LLM and the tools' engine should be one).
func (p *Planner) Ask(ctx context.Context, question string, on func(Event)) (*Trace, error) {
	return p.ask(ctx, question, on, false)
}

// Plan writes and checks the plan for question without running it.
func (p *Planner) Plan(ctx context.Context, question string, on func(Event)) (*Trace, error) {
	return p.ask(ctx, question, on, true)
}

// Run resolves a plan given whole, such as one a person wrote, with p.Tools, as
// Ask resolves the model's: the same events and the same Trace, without a
// question or a prompt; its Plan is the plan as planparser prints it. When the
// plan's answer cites no evidence the trace has no Answer and the error is nil:
// the evidence is in the steps, and an answer over it would need a model.
func (p *Planner) Run(ctx context.Context, plan *planparser.Plan, on func(Event)) (tr *Trace, err error) {
	s := p.newSession("", on)
	ctx = withRecorder(ctx, s.rec)
	defer s.close(&tr, &err)
	s.mu.Lock()
	s.tr.Plan, s.tr.DAG = plan.String(), plan
	s.mu.Unlock()
	steps := make(chan *planparser.Step, len(plan.Steps))
	for _, st := range plan.Steps {
		s.parsed(st)
		steps <- st
	}
	close(steps)
	o := <-s.resolve(ctx, steps)
	s.settle(o.res)
	if o.err != nil {
		return nil, o.err
	}
	text, err := o.res.Answer(plan.Answer)
	switch {
	case errors.Is(err, evidence.ErrNoCitation):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrAnswer, err)
	}
	s.answerLine(text, plan.Answer)
	return nil, nil
}

// outcome is what the resolver ended with.
type outcome struct {
	res *evidence.Result
	err error
}

// resolve runs the resolver over steps beside the caller; the channel gets its
// outcome.
func (s *session) resolve(ctx context.Context, steps <-chan *planparser.Step) <-chan outcome {
	opts := s.p.Resolve
	opts.OnEvent = s.onResolverEvent
	done := make(chan outcome, 1)
	go func() {
		res, err := evidence.Run(ctx, s.p.Tools, steps, opts)
		done <- outcome{res, err}
	}()
	return done
}

func (p *Planner) ask(ctx context.Context, question string, on func(Event), planOnly bool) (tr *Trace, err error) {
	s := p.newSession(strings.TrimSpace(question), on)
	ctx = withRecorder(ctx, s.rec)
	defer s.close(&tr, &err)

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
	var done <-chan outcome
	if !planOnly {
		done = s.resolve(runCtx, steps)
	}
	// finish closes the step channel and waits for the resolver.
	finish := func() outcome {
		close(steps)
		if done == nil {
			return outcome{}
		}
		o := <-done
		s.settle(o.res)
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

// parsed records a step handed to the resolver and reports it.
func (s *session) parsed(st *planparser.Step) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &StepTrace{Name: st.Name, Tool: st.Tool, Input: st.Input, Deps: nonNil(st.Deps),
		Line: st.Pos.Line, State: StatePending, Sources: []string{}, Parsed: s.since().Seconds()}
	s.tr.Steps = append(s.tr.Steps, t)
	s.byName[t.Name] = t
	s.emit(Event{Kind: StepParsed, Step: *t})
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
		s.parsed(st)
		steps <- st // never blocks: the channel holds maxSteps
		return nil
	}
	stops := slices.Concat(p.prompts().Chat.Stops(), p.Stop)
	req := engine.Request{Prompt: prompt, MaxTokens: orDefault(p.MaxPlanTokens, DefaultMaxPlanTokens),
		Sampling: p.Sampling, Stop: stops}
	s.mu.Lock()
	s.tr.Timings.PlanStart = s.since().Seconds()
	s.mu.Unlock()
	res, err := p.LLM.Generate(withPurpose(ctx, "plan"), req, func(text string) error {
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
	t := s.byName[e.Step]
	if t == nil {
		return
	}
	begun := e.Begun.Sub(s.start) // the resolver's clock starts there
	out := Event{At: begun + e.At, Err: e.Err}
	switch e.Kind {
	case evidence.EventStarted:
		out.Kind, out.Attempt = StepStarted, 1
		t.State = StateRunning
		t.Start = (begun + e.At).Seconds()
		t.ResolvedInput = e.Input
	case evidence.EventRetrying:
		out.Kind, out.Attempt, out.Delay = StepRetrying, e.Attempt+1, e.Delay
	case evidence.EventFinished, evidence.EventFailed, evidence.EventSkipped:
		out.Kind = map[evidence.EventKind]EventKind{evidence.EventFinished: StepFinished,
			evidence.EventFailed: StepFailed, evidence.EventSkipped: StepSkipped}[e.Kind]
		out.Text = e.Reason
		record(t, e.Value, begun)
	default:
		return
	}
	out.Step = *t
	s.emit(out)
}

// record copies a settled value into its step's trace; begun is when the
// resolver's clock started, since the session's.
func record(t *StepTrace, v *evidence.Value, begun time.Duration) {
	if v == nil {
		return
	}
	t.ResolvedInput = v.Input
	t.Output = v.Text
	t.Bytes = v.Bytes
	t.Sources = nonNil(v.Sources)
	t.Attempts = v.Attempts
	t.Start = (begun + v.Start).Seconds()
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

// settle takes the resolver's final word on every step.
func (s *session) settle(res *evidence.Result) {
	if res == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	begun := res.Begun.Sub(s.start)
	for _, v := range res.Values {
		if t := s.byName[v.Name]; t != nil {
			record(t, v, begun)
		}
	}
	first := 0.0
	for _, t := range s.tr.Steps {
		if t.State != StateSkipped && t.State != StatePending && (first == 0 || t.Start < first) {
			first = t.Start
		}
	}
	s.tr.Timings.FirstStep = first
	s.tr.Timings.StepsDone = (begun + res.Wall).Seconds()
	s.tr.Timings.CriticalPath = res.CriticalPath
}

// answer resolves the answer from the plan's Answer line, or with one
// KnowledgeModel call over all evidence when that line cites none.
func (s *session) answer(ctx context.Context, plan *planparser.Plan, res *evidence.Result) error {
	text, err := res.Answer(plan.Answer)
	if err == nil {
		s.answerLine(text, plan.Answer)
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
	out, err := tool.Call(withPurpose(ctx, "answer"), req)
	if err != nil {
		return fmt.Errorf("%w: %s over all evidence: %w", ErrAnswer, name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tr.Answer = &Answer{Text: strings.TrimSpace(out.Text), From: []string{}, Method: MethodKnowledge, Sources: s.tr.sources(all)}
	return nil
}

// answerLine records the answer resolved from the plan's Answer line a.
func (s *session) answerLine(text string, a *planparser.Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	from := a.Cites()
	s.tr.Answer = &Answer{Text: strings.TrimSpace(text), From: from, Method: MethodAnswerLine, Sources: s.tr.sources(from)}
}

// StopAnswerLine is the stop reason of a plan generation the planner ended at the
// Answer line.
const StopAnswerLine = "answer-line"

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
