package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/rewoo-agent/agent/configs"
	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/open"
	"github.com/rewoo-agent/agent/engine/openai"
	"github.com/rewoo-agent/agent/research"
	"github.com/rewoo-agent/agent/research/queue"
)

func init() { addCommand(newResearchCmd) }

// queueEnv names the variable with the default --queue.
const queueEnv = "AGENT_QUEUE"

// defaultQueue is the queue without --queue or $AGENT_QUEUE: a SQLite file here.
const defaultQueue = "research.db"

func queueFlag(cmd *cobra.Command) *string {
	def := os.Getenv(queueEnv)
	if def == "" {
		def = defaultQueue
	}
	return cmd.Flags().String("queue", def, "the job queue: a SQLite file, or postgres://... shared by workers on many machines ($"+queueEnv+")")
}

func newResearchCmd() *cobra.Command {
	var parallel int
	cmd := &cobra.Command{
		Use:   "research [flags] JOB.yaml",
		Short: "run a research job from its job file: submit it and answer it here; or submit, worker, status, export",
		Long: "A job file names the questions (a list, a question file, or a template over a CSV or\n" +
			"JSONL table), the tools (a tools file; a ttl per tool for the shared cache of results,\n" +
			"side_effects: true for tools that change the world), the engine (endpoints: several\n" +
			"OpenAI-compatible servers, least loaded first; or the in-process model) and the limits.\n" +
			"The job lives in a queue (--queue): workers anywhere take its questions, and each\n" +
			"question ends with exactly one result, whoever dies on the way.\n\n" +
			"agent research JOB.yaml submits the job and answers it in this process until it is done;\n" +
			"submitting again adds nothing, so running it again after a stop finishes the job.",
		Args: exactArgs(1, "JOB.yaml"),
	}
	conf := configFlagSet(cmd, engineGroup|samplingGroup|plannerGroup|toolsGroup)
	dsn := queueFlag(cmd)
	cmd.Flags().IntVar(&parallel, "parallel", 0, "questions answered at once (0: the job's limits.parallel, or 1)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		std := stdioOf(cmd)
		ctx := cmd.Context()
		q, job, err := submitJob(ctx, std, *dsn, args[0])
		if err != nil {
			return err
		}
		defer q.Close()
		if parallel == 0 {
			parallel = job.Spec.Limits.Parallel
		}
		if err := runWorker(ctx, std, conf, q, parallel, job.ID); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return exitError{130, errors.New("research: interrupted; the questions not answered stay in the queue")}
		}
		return printJobSummary(ctx, std.err, q, job.ID)
	}
	cmd.AddCommand(newResearchSubmitCmd(), newResearchWorkerCmd(), newResearchStatusCmd(), newResearchExportCmd())
	return cmd
}

func newResearchSubmitCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "submit [flags] JOB.yaml",
		Short: "put a job's questions in the queue (again: nothing is added)",
		Args:  exactArgs(1, "JOB.yaml"),
	}
	dsn := queueFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		q, _, err := submitJob(cmd.Context(), stdioOf(cmd), *dsn, args[0])
		if err == nil {
			q.Close()
		}
		return err
	}
	return cmd
}

// submitJob reads the job file at path and submits it to the queue at dsn.
func submitJob(ctx context.Context, std stdio, dsn, path string) (*queue.Queue, *queue.Job, error) {
	job, err := queue.ReadJobFile(path)
	if err != nil {
		return nil, nil, exitError{2, fmt.Errorf("research: %w", err)}
	}
	q, err := queue.Open(ctx, dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("research: %w", err)
	}
	s, err := q.Submit(ctx, job)
	if err != nil {
		q.Close()
		return nil, nil, jobErr("research", err)
	}
	fmt.Fprintf(std.err, "research: job %s: %d questions, %d added to %s, %d there before\n",
		job.ID, len(job.Questions), s.Added, dsn, s.Already)
	return q, job, nil
}

func newResearchWorkerCmd() *cobra.Command {
	var (
		parallel int
		until    string
	)
	cmd := &cobra.Command{
		Use:   "worker [flags]",
		Short: "answer questions from the queue, any job's, until stopped (Ctrl-C gives its questions back)",
		Long: "Start one on each machine with --queue postgres://...; workers join and leave at any\n" +
			"time. A killed worker's questions go back to the queue once their lease (the job's\n" +
			"limits.timeout and a grace, or limits.lease) runs out.",
		Args: noArgs,
	}
	conf := configFlagSet(cmd, engineGroup|samplingGroup|plannerGroup|toolsGroup)
	dsn := queueFlag(cmd)
	cmd.Flags().IntVar(&parallel, "parallel", 1, "questions answered at once")
	cmd.Flags().StringVar(&until, "until-done", "", "stop once the job of this id has all its results")
	cmd.PreRunE = func(*cobra.Command, []string) error {
		if parallel < 1 {
			return usageErr("research worker: --parallel %d: want 1 or more", parallel)
		}
		return nil
	}
	cmd.RunE = withQueue(dsn, func(ctx context.Context, std stdio, q *queue.Queue, _ []string) error {
		if err := runWorker(ctx, std, conf, q, parallel, until); err != nil {
			return err
		}
		if ctx.Err() != nil && until != "" {
			return exitError{130, errors.New("research worker: interrupted")}
		}
		return nil
	})
	return cmd
}

// withQueue is a RunE that runs f with the queue at *dsn, open.
func withQueue(dsn *string, f func(ctx context.Context, std stdio, q *queue.Queue, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		q, err := queue.Open(cmd.Context(), *dsn)
		if err != nil {
			return fmt.Errorf("research: %w", err)
		}
		defer q.Close()
		return f(cmd.Context(), stdioOf(cmd), q, args)
	}
}

// jobErr is err, from the command what, with what in front; an unknown job,
// or a job submitted again changed, is a usage error.
func jobErr(what string, err error) error {
	if err == nil {
		return nil
	}
	err = fmt.Errorf("%s: %w", what, err)
	if errors.Is(err, queue.ErrUnknownJob) || errors.Is(err, queue.ErrJobChanged) {
		return exitError{2, err}
	}
	return err
}

// runWorker answers questions from q until ctx ends, or job (when not "") is done.
func runWorker(ctx context.Context, std stdio, conf *configFlags, q *queue.Queue, parallel int, job string) error {
	cfg, err := conf.load()
	if err != nil {
		return err
	}
	start := time.Now()
	w := &queue.Worker{Queue: q, Open: researchOpener(cfg, q, std.err), Parallel: max(parallel, 1), UntilDone: job,
		OnResult: func(r *queue.Result) { r.WriteLine(std.err, time.Since(start)) }}
	fmt.Fprintf(std.err, "research: worker on %s, %d at a time\n", q.Kind(), w.Parallel)
	if err := w.Run(ctx); err != nil {
		return fmt.Errorf("research: %w", err)
	}
	return nil
}

// researchOpener opens a job's asker: its endpoints as a pool, or the
// configured in-process engine (with the job's model); the configured tools,
// or the job's tools file, wrapped by the queue's cache and guard.
func researchOpener(cfg *configs.Config, q *queue.Queue, progress io.Writer) queue.OpenAsker {
	return func(ctx context.Context, job *queue.StoredJob) (research.Asker, func(), error) {
		jc := *cfg
		if job.Spec.Tools.File != "" {
			jc.ToolsFile = job.Spec.Tools.File
		}
		var (
			base     engine.LLM
			closeLLM = func() error { return nil }
		)
		if e := job.Spec.Engine; len(e.Endpoints) > 0 {
			p, err := e.Pool(os.Getenv(openai.APIKeyEnv))
			if err != nil {
				return nil, nil, err
			}
			base = p
		} else {
			if e.Model != "" {
				jc.Engine.Model, jc.Engine.LLMURL = e.Model, ""
			}
			spec, err := engineSpec(&jc, progress)
			if err != nil {
				return nil, nil, err
			}
			if base, closeLLM, err = open.LLM(ctx, spec); err != nil {
				return nil, nil, err
			}
		}
		ctx, cancel := context.WithCancel(ctx) // the tools' servers live until close
		a := newAsker(&jc, base, closeLLM)
		reg, err := loadTools(ctx, &jc, a.LLM)
		if err == nil {
			a.Tools, err = q.Tools(job.Spec, reg)
		}
		if err != nil {
			cancel()
			closeLLM()
			return nil, nil, fmt.Errorf("job %s: %w", job.ID, err)
		}
		return a, func() { cancel(); closeLLM() }, nil
	}
}

// printJobSummary prints the job's summary, and fails when a question did.
func printJobSummary(ctx context.Context, w io.Writer, q *queue.Queue, job string) error {
	s, _, err := q.Summarize(ctx, job)
	if err != nil {
		return fmt.Errorf("research: %w", err)
	}
	s.WriteLine(w)
	if s.Failed > 0 {
		return fmt.Errorf("research: job %s: %w", job, research.ErrFailed)
	}
	return nil
}

func newResearchStatusCmd() *cobra.Command {
	var watch bool
	cmd := &cobra.Command{
		Use:   "status [flags] JOB",
		Short: "where a job stands: a progress bar, the statuses so far and the time left",
		Args:  exactArgs(1, "the job's id"),
	}
	dsn := queueFlag(cmd)
	cmd.Flags().BoolVar(&watch, "watch", false, "keep the bar up to date until the job is done")
	cmd.RunE = withQueue(dsn, func(ctx context.Context, std stdio, q *queue.Queue, args []string) error {
		return jobErr("research status", q.ShowProgress(ctx, args[0], std.out, 72, watch, time.Second))
	})
	return cmd
}

func newResearchExportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export [flags] JOB DIR",
		Short: "write a job's results: per question Markdown and JSON, and the summary, into DIR (- for JSONL on stdout)",
		Args:  exactArgs(2, "the job's id and a folder"),
	}
	dsn := queueFlag(cmd)
	cmd.RunE = withQueue(dsn, func(ctx context.Context, std stdio, q *queue.Queue, args []string) error {
		var (
			s   *queue.Summary
			err error
		)
		if args[1] == "-" {
			s, err = q.ExportJSONL(ctx, args[0], std.out)
		} else {
			s, err = q.Export(ctx, args[0], args[1])
		}
		if err != nil {
			return jobErr("research export", err)
		}
		fmt.Fprintf(std.err, "research: job %s: %d results of %d questions exported (%d ok, %d failed)\n",
			s.Job, s.Results, s.Questions, s.OK, s.Failed)
		return nil
	})
	return cmd
}
