package planner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

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

	// NoConstrain turns off constrained decoding of plans. By default a plan
	// written by a local engine (one with engine.Constrained: engine/generate,
	// engine/batch; Recorded keeps it) is decoded under planner/constrain's
	// grammar over the tools, the evidence already defined and the bounds, so it
	// always parses and completes; a server that takes a grammar (engine/openai:
	// llama.cpp, vLLM) gets the same language as GBNF (constrain.Grammar.GBNF);
	// another server's plan is written freely. Either way a server's plan is
	// checked and repaired.
	NoConstrain bool
	// Indexes keeps the constrained plans' token indexes and their masks; share
	// one across questions (nil: each question builds its own, about 70 ms for
	// LLaMA's vocabulary on one core, and starts with no mask cached).
	Indexes *PlanIndexes
	// NoRepair turns off the repair of a plan that cannot be run: by default it
	// goes back to the model once, with its diagnostics.
	NoRepair bool
	// Replans bounds the new plans asked for when steps fail (0: none). A new
	// plan reuses the evidence of the steps that succeeded; they never run again.
	Replans int
	// Budget bounds what one question spends; see Budget.
	Budget Budget
	// Approve is asked before each call of a tool that needs approval
	// (tools.NeedsConfirm); an error refuses the call. Nil refuses them all,
	// as a run that nobody watches must.
	Approve func(ctx context.Context, a Approval) error
	// Tracer makes the OpenTelemetry spans of a question, its engine calls and
	// its tool calls; nil is the global provider's (a no-op unless one is set).
	Tracer trace.Tracer
	// TracePayloads puts prompts, generated text and tool inputs and outputs
	// into the spans; off, spans carry only sizes and counts.
	TracePayloads bool
	// Model names the model in the engine calls' spans (gen_ai.request.model).
	Model string
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
	p      *Planner
	start  time.Time
	rec    *recorder
	on     func(Event)
	spend  *spend
	memo   *memo
	tracer trace.Tracer
	llm    engine.LLM // p.LLM, its calls recorded
	// ownIndexes are the plan grammars' token indexes when the Planner has
	// no Indexes.
	ownIndexes PlanIndexes

	approvalMu sync.Mutex
	approved   map[string]bool

	mu     sync.Mutex // guards tr, byName, whole and calls of on
	tr     *Trace
	byName map[string]*StepTrace
	// whole is the step whose evidence is the whole answer, once the Answer
	// line says so ("Answer: :evidence2:"); its text streams as AnswerText.
	whole string
}

func (p *Planner) newSession(question string, on func(Event), m *memo) *session {
	if m == nil {
		m = &memo{}
	}
	s := &session{p: p, start: time.Now(), on: on, byName: map[string]*StepTrace{}, memo: m,
		spend: &spend{b: p.Budget}, approved: map[string]bool{}, tracer: p.Tracer,
		tr: &Trace{Question: question, Steps: []*StepTrace{}, EngineCalls: []EngineCall{}}}
	if s.tracer == nil {
		s.tracer = otel.Tracer(tracerName)
	}
	s.rec = newRecorder(s.start, s.spend, s.tracer, p.Model, p.TracePayloads)
	s.rec.onText = s.answerText
	s.llm = p.LLM
	if !isRecorded(s.llm) {
		s.llm = Recorded(s.llm)
	}
	return s
}

// tracerName names the planner's instrumentation.
const tracerName = "github.com/rewoo-agent/agent/planner"

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
	s.tr.Usage = s.spend.usage()
	if *err != nil {
		s.tr.Error = (*err).Error()
	}
	if s.tr.Stop == "" {
		switch {
		case *err == nil:
			s.tr.Stop = StopAnswered
		case errors.Is(*err, context.Canceled) || errors.Is(*err, context.DeadlineExceeded):
			s.tr.Stop = StopCanceled
		case errors.Is(*err, ErrBadPlan):
			s.tr.Stop = StopBadPlan
		default:
			s.tr.Stop = StopFailed
		}
		var be *BudgetError
		if errors.As(*err, &be) {
			s.tr.Stop = be.Stop()
		}
	}
	*tr = s.tr
}

// Ask answers question. The trace it returns records whatever was done, even when
// the error is not nil (a broken plan, a failed answer, ctx ending). on, when not
// nil, receives every event, one at a time. The trace lists the calls made
// through an LLM from Recorded (p.LLM and the tools' engine should be one).
func (p *Planner) Ask(ctx context.Context, question string, on func(Event)) (*Trace, error) {
	return p.ask(ctx, question, on, false, nil)
}

// Plan writes and checks the plan for question without running it.
func (p *Planner) Plan(ctx context.Context, question string, on func(Event)) (*Trace, error) {
	return p.ask(ctx, question, on, true, nil)
}

// Run resolves a plan given whole, such as one a person wrote, with p.Tools, as
// Ask resolves the model's: the same events and the same Trace, without a
// question or a prompt; its Plan is the plan as planparser prints it. When the
// plan's answer cites no evidence the trace has no Answer and the error is nil:
// the evidence is in the steps, and an answer over it would need a model.
func (p *Planner) Run(ctx context.Context, plan *planparser.Plan, on func(Event)) (tr *Trace, err error) {
	s := p.newSession("", on, nil)
	ctx = withRecorder(ctx, s.rec)
	ctx, end := s.questionSpan(ctx, "run")
	defer func() { end(tr, err) }()
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
		res, err := evidence.Run(ctx, toolbox{s, s.memo.begin()}, steps, opts)
		done <- outcome{res, err}
	}()
	return done
}

func (p *Planner) ask(ctx context.Context, question string, on func(Event), planOnly bool, conv *Conversation) (tr *Trace, err error) {
	var m *memo
	var done []*StepTrace // evidence from earlier in the conversation
	var history string
	if conv != nil {
		m, done, history = &conv.memo, conv.evidence(), conv.history()
	}
	s := p.newSession(strings.TrimSpace(question), on, m)
	ctx = withRecorder(ctx, s.rec)
	ctx, end := s.questionSpan(ctx, "ask")
	defer func() { end(tr, err) }()
	defer s.close(&tr, &err)

	instruction, err := p.prompts().instruction(question, p.Tools.All())
	if err != nil {
		return nil, err
	}
	instruction += history
	// work bounds the question by the time budget; the answer from what was
	// gathered is made under ctx when the budget ends the work.
	work := ctx
	if p.Budget.Time > 0 {
		var cancel context.CancelFunc
		work, cancel = context.WithTimeoutCause(ctx, p.Budget.Time, &BudgetError{What: "time", Limit: p.Budget.Time.String()})
		defer cancel()
	}
	chatT := p.prompts().Chat
	extra := gatheredSection(done)
	repairs, replans := 1, p.Replans
	if p.NoRepair {
		repairs = 0
	}
	var badPlans []string // the plans that could not be run, for the error
	purpose := "plan"
	for first := true; ; first = false {
		prompt := chatT.Prompt(instruction + extra)
		if first {
			s.tr.Prompt = prompt
		}
		keep := repairs > 0 // a bad plan's running steps go on: the repair may use them
		plan, o, genErr := s.round(withPurpose(work, purpose), prompt, done, planOnly, keep)
		if errors.Is(genErr, ErrBadPlan) {
			s.mu.Lock()
			written, diags := s.tr.Plan, s.tr.Diagnostics // the whole plan: the diagnostics count its lines
			s.mu.Unlock()
			badPlans = append(badPlans, fmt.Sprintf("%s\nproblems:\n  %s", numbered(written), strings.Join(diags, "\n  ")))
			if repairs > 0 && work.Err() == nil && s.spend.spent() == nil {
				repairs--
				s.archive(AttemptBadPlan)
				fitted, ok := s.fit(func(e string) string { return chatT.Prompt(instruction + e) }, func(shown int) string {
					return gatheredShown(shown, done) + repairSection(written, diags, genErr)
				})
				if !ok {
					return nil, fmt.Errorf("%w (its repair would not fit the model's context)", genErr)
				}
				extra = fitted
				purpose = "repair"
				s.newPlan(purpose)
				continue
			}
			if len(badPlans) > 1 {
				// The first line stays the last plan's: it says why in a word.
				return nil, fmt.Errorf("%w\nthe repaired plan:\n%s\nthe plan before its repair (the model was shown its problems):\n%s",
					genErr, badPlans[len(badPlans)-1], badPlans[len(badPlans)-2])
			}
			return nil, genErr
		}
		if planOnly {
			return nil, genErr
		}
		if genErr == nil {
			genErr = o.err
		}
		if genErr != nil {
			if ctx.Err() == nil && work.Err() != nil {
				return nil, s.partial(ctx, plan, o.res, context.Cause(work))
			}
			return nil, genErr
		}
		text, aerr := o.res.Answer(plan.Answer)
		failed := s.failedSteps()
		switch {
		case aerr == nil:
			s.answerLine(text, plan.Answer)
			return nil, nil
		case errors.Is(aerr, evidence.ErrNoCitation) && len(failed) == 0:
			return nil, s.answer(ctx, o.res)
		case !errors.Is(aerr, evidence.ErrBadCitation) && !errors.Is(aerr, evidence.ErrNoCitation):
			return nil, fmt.Errorf("%w: %w", ErrAnswer, aerr) // too large: a new plan would not help
		}
		// Steps the answer needs failed: a new plan, while allowed.
		if replans > 0 && work.Err() == nil && s.spend.spent() == nil {
			s.mu.Lock()
			written := s.tr.Plan
			s.mu.Unlock()
			taken, gathered := s.allSteps(), s.doneSteps()
			fitted, ok := s.fit(func(e string) string { return chatT.Prompt(instruction + e) }, func(shown int) string {
				return gatheredShown(shown, gathered, taken...) + replanSection(written, failed, shown)
			})
			if !ok { // no room for a new plan: answer from what there is
				return nil, s.partial(ctx, plan, o.res, nil)
			}
			replans--
			s.mu.Lock()
			s.tr.Replans++
			s.mu.Unlock()
			done = gathered
			s.archive(AttemptStepsFailed)
			extra = fitted
			purpose = "replan"
			s.newPlan(purpose)
			continue
		}
		why := error(nil)
		if be := s.spend.spent(); be != nil {
			why = be
		} else if p.Replans > 0 {
			s.mu.Lock()
			s.tr.Stop = StopReplanLimit
			s.mu.Unlock()
		}
		return nil, s.partial(ctx, plan, o.res, why)
	}
}

// round writes a plan with prompt, its steps after those of done (the
// evidence gathered, which it may cite), and runs it as it is written unless
// planOnly. The error is the plan's (ErrBadPlan and others from generate);
// the resolver's is in the outcome.
//
// A plan that cannot be run cancels its running steps, unless keep.
func (s *session) round(ctx context.Context, prompt string, done []*StepTrace, planOnly, keep bool) (*planparser.Plan, outcome, error) {
	// The resolver runs beside the generation and takes each step the moment the
	// model has written it.
	maxSteps := orDefault(s.p.MaxSteps, DefaultMaxSteps)
	steps := make(chan *planparser.Step, maxSteps+len(done))
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	var resolved <-chan outcome
	if !planOnly {
		resolved = s.resolve(runCtx, steps)
	}
	// finish closes the step channel and waits for the resolver.
	finish := func() outcome {
		close(steps)
		if resolved == nil {
			return outcome{}
		}
		o := <-resolved
		s.settle(o.res)
		return o
	}
	plan, genErr := s.generate(ctx, prompt, prefixText(done), steps, maxSteps)
	if genErr != nil && !(keep && errors.Is(genErr, ErrBadPlan)) {
		cancelRun()
	}
	o := finish()
	return plan, o, genErr
}

// archive moves the current plan and its steps into the trace's attempts, for
// the next plan.
func (s *session) archive(why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tr.Attempts = append(s.tr.Attempts, Attempt{Why: why, Plan: s.tr.Plan, Diagnostics: s.tr.Diagnostics, Steps: s.tr.Steps})
	s.tr.Plan, s.tr.DAG, s.tr.Diagnostics, s.tr.Steps = "", nil, nil, []*StepTrace{}
	s.byName = map[string]*StepTrace{}
	s.whole = ""
}

// answerText streams the text of the engine calls that write the answer: the
// answer over all evidence, and the knowledge step the Answer line cites whole
// (when the Answer line is written before the step's call begins).
func (s *session) answerText(c EngineCall) func(string) {
	name := s.p.KnowledgeTool
	if name == "" {
		name = DefaultKnowledgeTool
	}
	s.mu.Lock()
	stream := c.Purpose == "answer" || (c.Purpose == "tool "+name && c.Step != "" && c.Step == s.whole)
	s.mu.Unlock()
	if !stream {
		return nil
	}
	return func(text string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.emit(Event{Kind: AnswerText, Text: text, Attempt: c.Attempt})
	}
}

// newPlan reports that the model writes another plan, and why.
func (s *session) newPlan(why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.emit(Event{Kind: NewPlan, Text: why})
}

// doneSteps are the steps of the current plan that gave evidence.
func (s *session) doneSteps() []*StepTrace {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*StepTrace
	for _, t := range s.tr.Steps {
		if t.State == StateDone {
			out = append(out, t)
		}
	}
	return out
}

// allSteps are the steps of the current plan.
func (s *session) allSteps() []*StepTrace {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.tr.Steps)
}

// failedSteps are the steps of the current plan that failed or were skipped.
func (s *session) failedSteps() []*StepTrace {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*StepTrace
	for _, t := range s.tr.Steps {
		if t.State == StateFailed || t.State == StateSkipped {
			out = append(out, t)
		}
	}
	return out
}

// numbered is a plan with its lines numbered, for an error.
func numbered(plan string) string {
	var b strings.Builder
	for i, l := range strings.Split(strings.TrimRight(plan, "\n"), "\n") {
		fmt.Fprintf(&b, "%4d | %s\n", i+1, l)
	}
	return strings.TrimRight(b.String(), "\n")
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
//
// prefix, when not empty, is plan lines that stand before what the model writes:
// the steps of evidence already gathered, which the plan may cite; they count
// towards no bound.
func (s *session) generate(ctx context.Context, prompt, prefix string, steps chan<- *planparser.Step, maxSteps int) (*planparser.Plan, error) {
	p := s.p
	stream := planparser.NewStream(planparser.Options{Tools: p.Tools.Names()})
	var raw strings.Builder
	sent := map[string]bool{}
	var extra *planparser.Step // the first step past maxSteps
	free := 0                  // the steps of the prefix
	send := func(st *planparser.Step) error {
		if len(sent)-free == maxSteps {
			extra = st
			return ErrTooManySteps
		}
		sent[st.Name] = true
		s.parsed(st)
		steps <- st // never blocks: the channel holds maxSteps
		return nil
	}
	given := map[string]bool{} // the prefix's lines, spaces normalized
	pending := ""              // the model's text after its last complete line
	for _, l := range strings.Split(prefix, "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			given[l] = true
		}
	}
	if prefix != "" {
		raw.WriteString(prefix)
		s.mu.Lock()
		s.tr.Plan = prefix
		s.emit(Event{Kind: PlanText, Text: prefix})
		s.mu.Unlock()
		for _, st := range stream.Write(prefix) {
			free++
			_ = send(st) // the prefix is within every bound
		}
	}
	req, llm, err := s.planRequest(prompt, prefix, free, maxSteps)
	if err != nil {
		return nil, fmt.Errorf("writing the plan: %w", err)
	}
	s.mu.Lock()
	if s.tr.Timings.PlanStart == 0 {
		s.tr.Timings.PlanStart = s.since().Seconds()
	}
	s.mu.Unlock()
	res, err := llm.Generate(ctx, req, func(text string) error {
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
			pending += line
			if !strings.HasSuffix(line, "\n") {
				continue
			}
			line, pending = pending, ""
			if given[strings.Join(strings.Fields(line), " ")] {
				continue // the model wrote a gathered step again: it is there
			}
			for _, st := range stream.Write(line) {
				if err := send(st); err != nil {
					return err
				}
			}
			if a := stream.Answer(); a != nil {
				if len(a.Refs) == 1 && a.Text == a.Refs[0].Name {
					s.mu.Lock()
					s.whole = a.Text
					s.mu.Unlock()
				}
				return errPlanComplete
			}
		}
		return nil
	})
	if pending != "" && !errors.Is(err, errPlanComplete) {
		for _, st := range stream.Write(pending) {
			_ = send(st) // a step past the bound sets extra
		}
	}
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

// planRequest is the engine request that writes a plan for prompt after
// prefix (its given steps), and the engine that runs it. It is the one place a
// plan's decoding is set up: on a local engine (engine.Constrained) and unless
// NoConstrain, under the plan grammar (constrainedRequest); on a server that
// takes a grammar, under it as GBNF (serverGrammar); otherwise freely. Plans
// a server writes end at the chat template's stop strings, and a broken plan
// is repaired.
func (s *session) planRequest(prompt, prefix string, given, maxSteps int) (engine.Request, engine.LLM, error) {
	req, llm, err := s.constrainedRequest(prompt, prefix, given, maxSteps)
	if err != nil || llm != nil {
		return req, llm, err
	}
	p := s.p
	req = engine.Request{Prompt: prompt, MaxTokens: orDefault(p.MaxPlanTokens, DefaultMaxPlanTokens),
		Sampling: p.Sampling, Stop: slices.Concat(p.prompts().Chat.Stops(), p.Stop)}
	if llm := s.serverGrammar(prompt, prefix, given, maxSteps); llm != nil {
		return req, llm, nil
	}
	return req, s.llm, nil
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
			t.Blocked = errors.Is(v.Err, tools.ErrBlocked)
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

// answer resolves the answer with one KnowledgeModel call over all evidence,
// when the plan's Answer line cites none.
func (s *session) answer(ctx context.Context, res *evidence.Result) error {
	text, all, err := s.overAll(ctx, res)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tr.Answer = &Answer{Text: text, From: []string{}, Method: MethodKnowledge, Sources: s.tr.sources(all)}
	return nil
}

// overAll asks the knowledge tool the question over every evidence that
// succeeded, naming those.
func (s *session) overAll(ctx context.Context, res *evidence.Result) (string, []string, error) {
	name := s.p.KnowledgeTool
	if name == "" {
		name = DefaultKnowledgeTool
	}
	tool, err := s.p.Tools.Get(name)
	if err != nil {
		return "", nil, fmt.Errorf("%w: the plan has no Answer line citing evidence that holds, and %w", ErrAnswer, err)
	}
	req := tools.Request{Input: s.tr.Question, Raw: s.tr.Question}
	var all []string
	if res != nil {
		for _, v := range res.Values {
			if v.Ok() {
				req.Cited = append(req.Cited, tools.Cited{Name: v.Name, Tool: v.Tool, Input: v.Input, Text: v.Text, Sources: v.Sources})
				all = append(all, v.Name)
			}
		}
	}
	s.mu.Lock()
	s.emit(Event{Kind: Answering})
	s.mu.Unlock()
	out, err := tool.Call(withPurpose(ctx, "answer"), req)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %s over all evidence: %w", ErrAnswer, name, err)
	}
	return strings.TrimSpace(out.Text), all, nil
}

// fit returns the first of extra's sections, quoting the evidence at each of
// shownSteps, whose prompt leaves a new plan minPlanRoom positions of the
// model's context; false when none does. A model that cannot count tokens gets
// the longest.
func (s *session) fit(prompt func(extra string) string, extra func(shown int) string) (string, bool) {
	tc, ok := s.p.LLM.(engine.TokenCounter)
	if !ok {
		return extra(shownSteps[0]), true
	}
	for _, shown := range shownSteps {
		e := extra(shown)
		n, err := tc.CountTokens(prompt(e))
		if err != nil || tc.ContextLength()-n >= minPlanRoom {
			return e, true // a count that fails is the generation's to report
		}
	}
	return "", false
}

// partial makes the answer from the evidence there is when steps failed and no
// new plan can be had (why, when not nil, says what stopped the work: a
// budget). The answer and the trace are marked partial and list what failed.
// With no evidence at all there is no answer: the error says what failed.
func (s *session) partial(ctx context.Context, plan *planparser.Plan, res *evidence.Result, why error) error {
	var be *BudgetError
	if errors.As(why, &be) {
		s.spend.over(be)
	}
	s.mu.Lock()
	var fails []string
	ok := 0
	for _, t := range s.tr.Steps {
		switch t.State {
		case StateDone:
			ok++
		case StateFailed, StateSkipped, StatePending, StateRunning:
			fails = append(fails, failure(t))
		}
	}
	s.tr.Failures = fails
	if be != nil {
		s.tr.Stop = be.Stop()
	} else if s.tr.Stop == "" {
		s.tr.Stop = StopPartial
	}
	blocked := blockedErr(s.tr.Steps)
	s.mu.Unlock()
	if be != nil {
		blocked = errors.Join(be, blocked) // what stopped the work, and any block
	}
	if ok == 0 || res == nil {
		detail := strings.Join(fails, "; ")
		if why != nil {
			detail = why.Error() + ": " + detail
		}
		if blocked != nil {
			return fmt.Errorf("%w: %w: %s", ErrAnswer, blocked, detail)
		}
		return fmt.Errorf("%w: no step gave evidence: %s", ErrAnswer, detail)
	}
	mark := func(a *Answer) {
		a.Partial = true
		s.tr.Answer, s.tr.Partial = a, true
	}
	text, all, err := s.overAll(ctx, res)
	if err == nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		mark(&Answer{Text: text, From: []string{}, Method: MethodKnowledge, Sources: s.tr.sources(all)})
		return nil
	}
	// No knowledge model to ask: the Answer line, with notes in place of the
	// evidence that failed, when it cites some that holds.
	if plan == nil || plan.Answer == nil {
		if blocked != nil {
			return fmt.Errorf("%w (%w: %s)", err, blocked, strings.Join(fails, "; "))
		}
		return err
	}
	noted, aerr := res.Answer(plan.Answer)
	if aerr != nil && !errors.Is(aerr, evidence.ErrBadCitation) {
		return fmt.Errorf("%w: %w", ErrAnswer, aerr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var from []string
	for _, n := range plan.Answer.Cites() {
		if t := s.byName[n]; t != nil && t.State == StateDone {
			from = append(from, n)
		}
	}
	if len(from) == 0 {
		if blocked != nil {
			return fmt.Errorf("%w: %w: the answer cites only evidence that failed: %s", ErrAnswer, blocked, strings.Join(fails, "; "))
		}
		return fmt.Errorf("%w: the answer cites only evidence that failed: %s", ErrAnswer, strings.Join(fails, "; "))
	}
	mark(&Answer{Text: strings.TrimSpace(noted), From: from, Method: MethodAnswerLine, Sources: s.tr.sources(from)})
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
