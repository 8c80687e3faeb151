// Package queue runs research jobs as durable, distributed work: a job's
// questions in a job queue, answered by workers that join and leave at any
// time on any machine, each question ending with exactly one result however
// many workers die on the way.
//
// # Jobs
//
// A job file (ReadJobFile, YAML) holds the questions (a list, a question file
// as research.ReadQuestions reads it, or a text/template over each row of a
// CSV or JSONL table), the tools (a custom tools file; per tool a ttl for the
// cache and side_effects), the engine (OpenAI-compatible endpoints, made one
// engine by EngineSpec.Pool, or the in-process model) and the limits. Every
// problem of a job file is a *yamlpos.Error (configs.Error) at file:line:col.
//
// # The queue
//
// The queue is River (github.com/riverqueue/river) on SQLite (a file, pure
// Go, the default) or PostgreSQL (postgres://..., for many machines), and four
// tables of its own: agent_research_job (each job's spec and questions),
// agent_research_result (one row per question, primary key job and question),
// agent_research_cache and agent_research_call. Open creates them.
//
// Submit inserts a River job per question, unique by job id and question id:
// submitting the same job again adds nothing, and a different job under an id
// already used is ErrJobChanged.
//
// # Workers and the one result
//
// A Worker takes questions of any job, opens each job's asker once
// (OpenAsker), and answers with research.Runner.Answer under the job's time
// limit. A question's lease is its River job's timeout (Limits.Lease): when a
// worker dies, River's rescuer (on the elected leader) gives the question
// back to the queue once the lease and Worker.RescueAfter have passed, and
// another worker answers it. A worker that stops on an interrupt gives its
// questions back at once. A worker that cannot open a job's asker (its engine
// or tools) stops with an *OpenError, and the question waits for a worker that
// can: a misconfigured machine never fails a job's questions.
//
// The result is inserted in the same transaction as River's completion of
// the question (river.JobCompleteTx), with ON CONFLICT DO NOTHING on the
// result's primary key: a worker killed before the commit leaves neither the
// result nor the completion, so the question runs again; one killed after it
// leaves both; and a worker that outlived its lease while another answered
// the question finds the result there and adds none. An attempt past
// Limits.MaxAttempts records the question failed with ErrGaveUp instead of
// asking it, so every question ends with a result.
//
// # Tools
//
// Queue.Tools wraps a job's tools. A tool with a ttl is served from
// agent_research_cache, keyed by the tool and its resolved input, shared by
// every worker and every job; calls for one key in one process wait for one
// another. A tool with side effects gets an idempotency key per question and
// step (the tool, its input as written and resolved, and how many such calls
// the question made before), passed in the context (tools.IdempotencyKey;
// http tools send it as Idempotency-Key). The call is noted as started,
// durably, before it is made, and done with its output after: a later attempt
// at the question gets the noted output without a call, and a step whose call
// was started by a worker that died fails with ErrUnknownOutcome rather than
// repeat it blindly.
//
// # Reports
//
// Progress and Bar say where a job stands, with an ETA at the pace so far;
// Summarize counts ok, partial, failed, tokens, time and cache hits; Export
// writes per question Markdown and JSON and the summary, ExportJSONL the
// results as agent batch's records.
package queue
