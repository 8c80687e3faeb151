package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/rewoo-agent/agent/research"
)

func init() { addCommand(newBatchCmd) }

// batchArgs are batch's own flags.
type batchArgs struct {
	parallel          int
	deadline          time.Duration
	retryFailed, full bool
	quiet             bool
}

func newBatchCmd() *cobra.Command {
	var a batchArgs
	cmd := &cobra.Command{
		Use:   "batch [flags] QUESTIONS OUT.jsonl",
		Short: "answer a file of questions unattended, one JSON record per question, resumable",
		Long: "QUESTIONS (- for stdin) holds one question per line (its id is the line number),\n" +
			"or JSONL objects {\"id\": ..., \"question\": ...}. Each finished question is appended\n" +
			"to OUT.jsonl as one JSON line; ids already there are skipped, so running the same\n" +
			"command again after a stop finishes the job. OUT - writes the records to stdout\n" +
			"instead, with nothing to resume from (name a file ./- for a file called -).\n" +
			"The per-question time limit is --timeout.",
		Args: exactArgs(2, "QUESTIONS and OUT.jsonl"),
	}
	conf := configFlagSet(cmd, engineGroup|samplingGroup|plannerGroup|toolsGroup)
	fs := cmd.Flags()
	fs.IntVar(&a.parallel, "parallel", 1, "questions answered at once (a local model's engine calls take turns; tool work overlaps)")
	fs.DurationVar(&a.deadline, "deadline", 0, "time limit of the whole job, e.g. 8h; unfinished questions stay unrecorded for the next run; 0 is none")
	fs.BoolVar(&a.retryFailed, "retry-failed", false, "run again the questions whose newest record is not ok")
	fs.BoolVar(&a.full, "full", false, "keep each step's output and resolved input, and the prompt, in the records")
	fs.BoolVar(&a.quiet, "quiet", false, "no progress line for answered questions; failures are still reported, whole, and the summary")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return runBatch(cmd.Context(), stdioOf(cmd), conf, a, args[0], args[1])
	}
	return cmd
}

func runBatch(ctx context.Context, std stdio, conf *configFlags, a batchArgs, inPath, outPath string) error {
	if a.parallel < 1 {
		return usageErr("batch: --parallel %d: want 1 or more", a.parallel)
	}
	questions, err := research.ReadQuestionsFile(ctx, std.in, inPath)
	if ctx.Err() != nil {
		return exitError{130, errors.New("batch: interrupted while reading the questions")}
	}
	if err != nil {
		return exitError{2, fmt.Errorf("batch: %w", err)}
	}
	cfg, err := conf.load()
	if err != nil {
		return err
	}
	var (
		store research.Store
		plan  *research.Plan
		where = "records on stdout"
	)
	if outPath == "-" {
		s := research.NewStream(std.out)
		if plan, err = s.Plan(questions, a.retryFailed); err != nil {
			return exitError{2, fmt.Errorf("batch: --retry-failed: %w: give an output file", err)}
		}
		store = s
	} else {
		j, err := research.OpenFor(inPath, outPath)
		if err != nil {
			return exitError{2, fmt.Errorf("batch: %w", err)}
		}
		defer j.Close()
		if t := j.Torn; t != nil {
			fmt.Fprintf(std.err, "batch: %s:%d: an incomplete record (%d bytes; a run stopped while writing it) is cut off; its question runs again\n",
				outPath, t.Line, t.Bytes)
		}
		if plan, err = j.Plan(questions, a.retryFailed); err != nil {
			return exitError{2, fmt.Errorf("batch: %w", err)}
		}
		store, where = j, fmt.Sprintf("%d recorded in %s before", plan.Skipped, outPath)
	}

	start := time.Now()
	fmt.Fprintf(std.err, "batch: %d questions, %d to run (%d at a time), %s\n",
		plan.Questions, len(plan.Todo), min(a.parallel, max(len(plan.Todo), 1)), where)
	r := &research.Runner{Parallel: a.parallel, Timeout: cfg.Planner.Timeout, TimeoutSetting: "--timeout, planner.timeout",
		Deadline: a.deadline, Full: a.full,
		OnRecord: func(rec *research.Record, t research.Tally) {
			research.WriteRecordLine(std.err, rec, t, time.Since(start), a.quiet)
		}}
	var ask *asker
	defer func() {
		if ask != nil {
			ask.close()
		}
	}()
	open := func(ctx context.Context) (research.Asker, error) {
		var err error
		ask, err = openAsker(ctx, cfg, std.err)
		return ask, err
	}
	s, runErr := r.Run(ctx, open, store, plan)
	s.WriteReport(std.err, time.Since(start), runErr == nil)

	switch err := s.Err(); {
	case runErr != nil:
		return fmt.Errorf("batch: %w", runErr)
	case errors.Is(err, research.ErrInterrupted):
		return exitError{130, errors.New("batch: interrupted")}
	case errors.Is(err, research.ErrDeadline):
		return fmt.Errorf("batch: the job's deadline (%s, --deadline) passed", a.deadline)
	case err != nil:
		return fmt.Errorf("batch: %w", err)
	}
	return nil
}
