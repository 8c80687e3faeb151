// Package research runs research jobs: many questions answered unattended,
// each finished question kept as one record, so that a job stopped at any
// moment, however it stops, resumes where it was without losing or repeating
// an answer.
//
// A job is three parts. ReadQuestions reads the questions (one per line, or
// JSONL objects with an id). A Store keeps the records: Journal is a file that
// a job resumes from, Stream writes records to a writer and reads nothing back.
// A Runner answers the questions over an Asker, the one-method seam to the
// planner, a few at a time, each under its own time limit and all under the
// job's deadline.
//
// # The journal
//
// A journal is a JSONL file: one Record per line, in the order questions
// finished. Each record is appended with a single write of the whole line,
// line end last, then the file is synced (and, when Open created the file, its
// folder): a record is either wholly in the file or is its last line, torn.
// A line is at most MaxRecord bytes; a longer record is written without the
// parts only Runner.Full keeps (the prompt, the steps' outputs).
//
// Open takes an advisory lock (flock(2), where the system has it) for as long
// as the journal is open, so a second job on the same file is refused with
// ErrLocked rather than answering the same questions twice; the kernel drops
// the lock when the process dies, even by SIGKILL.
//
// Open reads the records back. The torn-record rule: a last line without its
// line end, beginning as every record does ({"id": or a part of that), is a
// record a stopped job did not finish writing; Open cuts it off (Journal.Torn
// says so) and its question runs again. Any other line that is
// not a record (not JSON, no id, too long) means the file is not a journal:
// Open refuses it with a *NotRecordError naming the line and changes nothing.
// Blank lines are skipped.
//
// # Resuming
//
// An id may have several records (a question retried); the newest counts.
// Journal.Plan gives the questions to run: those without a record, and with
// retryFailed those whose newest record is not ok. A question whose id has a
// record of another question stops the job (*ConflictError): the job's ids
// changed meaning, and answering would mix two jobs in one file.
//
// Run records a question when it ends: StatusOK, StatusPartial (steps failed
// and the answer rests on the rest, Record.Error saying what failed),
// StatusBlocked (no answer: a search engine blocked the requests), StatusBadPlan (the model's
// plan cannot be run), StatusTimeout (Runner.Timeout passed), StatusFailed
// (anything else, the reason whole in Record.Error). A question cut short by
// the job's end, an interrupt or the deadline, is not recorded (it did not
// fail; the next run answers it), and Summary.Stopped counts it. Summary.Err
// reads the outcome: nil when every question has an ok record, ErrInterrupted,
// ErrDeadline, or ErrFailed when some newest record, this job's or an earlier
// one's, is not ok.
//
// A queue-backed Store (many workers sharing one job) fits the same seams:
// Runner.Answer answers one question into its record, Store.Append keeps it.
package research
