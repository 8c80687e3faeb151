package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/open"
	"github.com/rewoo-agent/agent/internal/askview"
	"github.com/rewoo-agent/agent/internal/input"
	"github.com/rewoo-agent/agent/planner"
	"github.com/rewoo-agent/agent/planner/fromconfig"
	"github.com/rewoo-agent/agent/research"
	"github.com/rewoo-agent/agent/world/offline"
)

func init() { addCommand(newAskCmd) }

func newAskCmd() *cobra.Command {
	var planOnly, asJSON, quiet, offlineWorld bool
	cmd := &cobra.Command{
		Use:   "ask [flags] QUESTION...",
		Short: "answer a question: plan with the model, run the tools, print the answer and its sources",
		Long: "Answers QUESTION (its words joined by spaces; none, or \"-\", reads it from stdin).\n" +
			"Progress goes to stderr, the answer and its sources to stdout.",
	}
	conf := configFlagSet(cmd, engineGroup|samplingGroup|plannerGroup|toolsGroup)
	fs := cmd.Flags()
	fs.BoolVar(&planOnly, "plan-only", false, "write and check the plan, print it, and stop")
	fs.BoolVar(&asJSON, "json", false, "print the whole trace as JSON: prompt, plan, DAG, steps, engine calls, timings, answer")
	fs.BoolVar(&quiet, "quiet", false, "no progress on stderr (a failed step's whole reason still is)")
	fs.BoolVar(&offlineWorld, "offline", false, "ask the shipped model (unless --model or --llm-url) about the offline world's documents, written once under the cache folder")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		std := stdioOf(cmd)
		if len(args) == 0 && input.IsTerminal(std.in) {
			fmt.Fprintln(std.err, "Type the question, then Ctrl-D on a line of its own (Ctrl-C stops):")
		}
		question, err := askQuestion(cmd.Context(), std.in, args)
		if err != nil {
			return err
		}
		cfg, err := conf.load()
		if err != nil {
			return err
		}
		if offlineWorld {
			if err := offline.Configure(cfg); err != nil {
				return err
			}
		}
		return runAsk(cmd.Context(), std, cfg, question, planOnly, asJSON, quiet)
	}
	return cmd
}

func runAsk(ctx context.Context, std stdio, cfg *configs.Config, question string, planOnly, asJSON, quiet bool) error {
	ctx, cancel, errTimeLimit := withTimeLimit(ctx, cfg)
	defer cancel()
	a, err := openAsker(ctx, cfg, std.err)
	if err != nil {
		return err
	}
	defer a.close()
	return a.answer(ctx, std, question, askOptions{planOnly, asJSON, quiet}, errTimeLimit)
}

// askOptions are how ask shows a question's run.
type askOptions struct{ planOnly, asJSON, quiet bool }

// answer answers question, showing progress on stderr and the answer with its
// sources (or the trace, as JSON) on stdout; limit is the cause of ctx's end
// when the question's time limit ends it (nil: none).
func (a *asker) answer(ctx context.Context, std stdio, question string, o askOptions, errTimeLimit error) error {
	planOnly, asJSON, quiet := o.planOnly, o.asJSON, o.quiet
	cfg := a.Config
	view := askview.New(std.err, quiet)
	// A tool marked confirm: true is asked about at the terminal, unless
	// planner.allow_confirm (--yes) lets them all run.
	a.Approve = nil
	if !cfg.Planner.AllowConfirm {
		a.Approve = askview.Approver(std.in, std.err, view)
	}
	// The answer streams to stdout as it is written, unless stdout is for JSON.
	ans := &askview.AnswerStream{W: std.out, Off: asJSON || planOnly, Before: view.Stop}
	tr, askErr := a.Run(ctx, question, planOnly, func(e planner.Event) {
		if e.Kind == planner.AnswerText && ans.Write(e.Text) {
			return
		}
		view.Event(e)
	})
	ans.StopView()

	if asJSON && tr != nil {
		if err := printJSON(std.out, tr); err != nil {
			return err
		}
	}
	// The reasons of failed steps, whole, where the view gave none or cut them
	// (WriteDone lists them after a run that did not finish).
	if _, live := view.(*askview.Live); tr != nil && askErr == nil && (quiet || live) {
		askview.WriteFailures(std.err, tr)
	}
	switch {
	case errors.Is(askErr, planner.ErrBadPlan):
		askview.WriteBadPlan(std.err, tr, askErr)
		return errSilent
	case askErr != nil:
		timedOut := research.TimedOut(ctx, errTimeLimit)
		what := "stopped"
		switch {
		case timedOut:
			what = "timed out"
		case ctx.Err() != nil:
			what = "interrupted"
		}
		if tr != nil {
			askview.WriteDone(std.err, tr, what)
		}
		if timedOut {
			return errTimeLimit
		}
		return askErr
	case asJSON:
		return nil
	case planOnly:
		_, err := io.WriteString(std.out, tr.DAG.String())
		return err
	}
	if err := ans.Finish(tr.Answer); err != nil {
		return err
	}
	return askview.WriteAnswer(std.out, tr, ans.Streamed())
}

// withTimeLimit bounds ctx by the configured time limit of one question
// (research.WithTimeLimit).
func withTimeLimit(ctx context.Context, cfg *configs.Config) (context.Context, context.CancelFunc, error) {
	return research.WithTimeLimit(ctx, cfg.Planner.Timeout, "--timeout, planner.timeout")
}

// asker is the configured engine and tools, as a session, and how to close them.
type asker struct {
	*fromconfig.Session
	close func() error
}

// newAsker is the session of cfg over base, recorded, before its tools.
func newAsker(cfg *configs.Config, base engine.LLM, closeLLM func() error) *asker {
	return &asker{&fromconfig.Session{Config: cfg, LLM: planner.Recorded(base), Sampling: open.Sampling(cfg.Sampling)}, closeLLM}
}

// openAsker loads the configured engine (progress goes to progress) and tools. The
// tools live as long as ctx.
func openAsker(ctx context.Context, cfg *configs.Config, progress io.Writer) (*asker, error) {
	spec, err := engineSpec(cfg, progress)
	if err != nil {
		return nil, err
	}
	base, closeLLM, err := open.LLM(ctx, spec)
	if err != nil {
		return nil, err
	}
	a := newAsker(cfg, base, closeLLM)
	if a.Tools, err = loadTools(ctx, cfg, a.LLM); err != nil {
		closeLLM()
		return nil, err
	}
	return a, nil
}

// maxStdin bounds what a command reads from stdin as one text (a question, a
// tool's input).
const maxStdin = 1 << 20

// askQuestion is the question from the arguments, or from in when there are none
// (or the one argument "-"). Reading stops when ctx ends (Ctrl-C at a terminal).
func askQuestion(ctx context.Context, in io.Reader, args []string) (string, error) {
	q, err := input.Text(ctx, in, args, maxStdin)
	if err != nil {
		return "", fmt.Errorf("reading the question: %w", err)
	}
	if strings.TrimSpace(q) == "" {
		return "", usageErr("ask: no question (give it as an argument or on stdin)")
	}
	return q, nil
}
