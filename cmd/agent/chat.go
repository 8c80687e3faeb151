package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/internal/askview"
	"github.com/rewoo-agent/agent/internal/input"
	"github.com/rewoo-agent/agent/internal/repl"
	"github.com/rewoo-agent/agent/planner"
)

func init() { addCommand(newChatCmd) }

func newChatCmd() *cobra.Command {
	var o askview.Options
	cmd := &cobra.Command{
		Use:   "chat [flags]",
		Short: "a conversation: each question may build on the earlier answers and evidence",
		Long: "Answers questions one after another, as ask does, in one conversation: each plan is\n" +
			"shown the earlier questions and answers and may cite their evidence by name (:evidence3:),\n" +
			"which is reused, not fetched again. At a terminal it is a prompt (an empty line does\n" +
			"nothing, exit or Ctrl-D ends it); otherwise each line of stdin is a question.\n" +
			"A question that fails is reported and the conversation goes on.",
		Args: noArgs,
	}
	conf := configFlagSet(cmd, engineGroup|samplingGroup|plannerGroup|toolsGroup)
	fs := cmd.Flags()
	fs.BoolVar(&o.JSON, "json", false, "print each question's trace as one JSON line instead of the answer")
	fs.BoolVar(&o.Quiet, "quiet", false, "no progress on stderr")
	cmd.RunE = conf.runE(func(ctx context.Context, std stdio, cfg *configs.Config, args []string) error {
		a, err := openAsker(ctx, cfg, std.err)
		if err != nil {
			return err
		}
		defer a.close()
		a.Conversation = &planner.Conversation{}
		return runChat(ctx, std, a, o)
	})
	return cmd
}

// maxChatLine bounds one question of a conversation.
const maxChatLine = 64 << 10

// runChat answers the questions read from std.in, one a line, in one
// conversation, until the input ends, a line reads exit or quit, or ctx ends.
func runChat(ctx context.Context, std stdio, a *asker, o askview.Options) error {
	var prompt io.Writer // the prompt goes to a terminal only
	if input.IsTerminal(std.in) {
		prompt = std.err
		fmt.Fprintln(std.err, "A conversation: ask a question, then follow it up (exit or Ctrl-D ends it).")
	}
	st, err := repl.Run(ctx, std.in, maxChatLine, prompt, func(ctx context.Context, q string) error {
		qctx, cancel, limit := withTimeLimit(ctx, a.Config)
		defer cancel()
		err := a.answer(qctx, std, q, o, limit)
		if ctx.Err() != nil {
			return err
		}
		if err != nil && !errors.Is(err, errSilent) {
			fmt.Fprintf(std.err, "agent: %v\n", err)
		}
		if !o.JSON {
			io.WriteString(std.out, "\n")
		}
		return err
	})
	switch {
	case ctx.Err() != nil:
		return exitError{130, errors.New("chat: interrupted")}
	case err != nil && !errors.Is(err, io.EOF):
		return fmt.Errorf("chat: reading the questions: %w", err)
	case err != nil && st.Failed > 0: // at the end of the input, not at exit
		return fmt.Errorf("chat: %d of %d questions had no answer", st.Failed, st.Asked)
	}
	return nil
}
