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
	var o askview.Options
	var offlineWorld bool
	cmd := &cobra.Command{
		Use:   "ask [flags] QUESTION...",
		Short: "answer a question: plan with the model, run the tools, print the answer and its sources",
		Long: "Answers QUESTION (its words joined by spaces; none, or \"-\", reads it from stdin).\n" +
			"Progress goes to stderr, the answer and its sources to stdout.",
	}
	conf := configFlagSet(cmd, engineGroup|samplingGroup|plannerGroup|toolsGroup)
	fs := cmd.Flags()
	fs.BoolVar(&o.PlanOnly, "plan-only", false, "write and check the plan, print it, and stop")
	fs.BoolVar(&o.JSON, "json", false, "print the whole trace as JSON: prompt, plan, DAG, steps, engine calls, timings, answer")
	fs.BoolVar(&o.Quiet, "quiet", false, "no progress on stderr (a failed step's whole reason still is)")
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
		return runAsk(cmd.Context(), std, cfg, question, o)
	}
	return cmd
}

func runAsk(ctx context.Context, std stdio, cfg *configs.Config, question string, o askview.Options) error {
	ctx, cancel, errTimeLimit := withTimeLimit(ctx, cfg)
	defer cancel()
	a, err := openAsker(ctx, cfg, std.err)
	if err != nil {
		return err
	}
	defer a.close()
	return a.answer(ctx, std, question, o, errTimeLimit)
}

// answer answers question, showing progress on stderr and the answer with its
// sources (or the trace, as JSON) on stdout; limit is the cause of ctx's end
// when the question's time limit ends it (nil: none).
func (a *asker) answer(ctx context.Context, std stdio, question string, o askview.Options, errTimeLimit error) error {
	show := askview.NewShow(std.out, std.err, o)
	// A tool marked confirm: true is asked about at the terminal, unless
	// planner.allow_confirm (--yes) lets them all run.
	a.Approve = nil
	if !a.Config.Planner.AllowConfirm {
		a.Approve = show.Approver(std.in)
	}
	tr, err := a.Run(ctx, question, o.PlanOnly, show.Event)
	var limit error
	if research.TimedOut(ctx, errTimeLimit) {
		limit = errTimeLimit
	}
	if err = show.Finish(tr, err, limit, ctx.Err() != nil); errors.Is(err, askview.ErrShown) {
		return errSilent
	}
	return err
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
