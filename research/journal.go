package research

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// MaxRecord bounds one line of a journal, its line end included. A record
// longer than that is written without what only Runner.Full keeps.
const MaxRecord = 64 << 20

var (
	// ErrLocked is returned by Open while another job holds the journal.
	ErrLocked = errors.New("journal locked")
	// ErrTooLong is returned by Append for a record longer than MaxRecord even
	// without its full parts.
	ErrTooLong = errors.New("record longer than a journal line may be")
	// ErrNoRecords is returned by Stream.Plan for a job that would read back
	// records: a stream has none.
	ErrNoRecords = errors.New("a stream has no records to read back")
)

// NotRecordError reports a journal line, other than a torn last one, that is
// not a record: the file is not a journal, and Open leaves it as it is.
type NotRecordError struct {
	Path string
	Line int
	Why  string
}

func (e *NotRecordError) Error() string {
	return fmt.Sprintf("%s:%d: not a batch record (%s); the file is left as it is: give another output file or mend this one", e.Path, e.Line, e.Why)
}

// Torn is a last record a stopped job did not finish writing, which Open cut off.
type Torn struct {
	Line  int
	Bytes int
}

// Journal is a job's records in a JSONL file, open for appending and locked
// for as long as it is open. See the package documentation for its rules.
type Journal struct {
	path string
	// Torn is the incomplete last record Open cut off, or nil.
	Torn *Torn

	mu     sync.Mutex // one append at a time; guards size and broken
	f      *os.File
	size   int64 // the length of the complete records
	broken error // why an append failed; none follows it
	newest map[string]Head
}

var _ Store = (*Journal)(nil)

// Open opens the journal at path, creating it, takes its lock, reads its
// records back and cuts off a torn last record. It refuses a file that is not
// regular, a journal another job holds (ErrLocked), and a file with a line
// that is not a record (*NotRecordError), leaving the file as it is.
func Open(path string) (*Journal, error) {
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	j := &Journal{path: path, f: f}
	if err := j.open(errors.Is(statErr, os.ErrNotExist)); err != nil {
		f.Close()
		return nil, err
	}
	return j, nil
}

func (j *Journal) open(created bool) error {
	if fi, err := j.f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", j.path)
	}
	if err := lock(j.f); err != nil {
		return err
	}
	if created {
		// The new name must last as the records do.
		if err := syncDir(filepath.Dir(j.path)); err != nil {
			return fmt.Errorf("syncing the folder of %s: %w", j.path, err)
		}
	}
	sc, err := scan(j.f, MaxRecord)
	if err != nil {
		var nre *NotRecordError
		if errors.As(err, &nre) {
			nre.Path = j.path
			return nre
		}
		return fmt.Errorf("reading %s: %w", j.path, err)
	}
	j.newest, j.size, j.Torn = sc.newest, sc.size, sc.torn
	if j.Torn != nil {
		if err := j.f.Truncate(j.size); err != nil {
			return fmt.Errorf("cutting the incomplete record off %s: %w", j.path, err)
		}
		if err := j.f.Sync(); err != nil {
			return fmt.Errorf("cutting the incomplete record off %s: %w", j.path, err)
		}
	}
	return nil
}

// Path is the journal's file.
func (j *Journal) Path() string { return j.path }

// Newest is the newest record of id read back by Open.
func (j *Journal) Newest(id string) (Head, bool) {
	h, ok := j.newest[id]
	return h, ok
}

// Plan is the questions of qs to run: those without a record, and with
// retryFailed those whose newest record is not ok. An id whose record asks
// another question stops the job with a *ConflictError.
func (j *Journal) Plan(qs []Question, retryFailed bool) (*Plan, error) {
	p := &Plan{Questions: len(qs)}
	for _, q := range qs {
		prev, ok := j.newest[q.ID]
		switch {
		case !ok:
			p.Todo = append(p.Todo, q)
			continue
		case prev.Question != q.Text:
			return nil, &ConflictError{Question: q, Asked: prev.Question, Journal: j.path}
		case prev.Status != StatusOK && retryFailed:
			p.Todo = append(p.Todo, q)
			continue
		case prev.Status != StatusOK:
			p.SkippedFailed++
		}
		p.Skipped++
	}
	return p, nil
}

// Append writes rec as one line with a single write, then syncs the file, so a
// kill at any moment leaves either the whole record or a torn last line, which
// the next Open cuts off. After a failed write (a full disk) the part written
// is cut off again and every later Append fails.
func (j *Journal) Append(_ context.Context, rec *Record) error {
	data, err := encode(rec)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.broken != nil {
		return j.broken
	}
	_, err = j.f.Write(data)
	if err == nil {
		err = j.f.Sync()
	}
	if err != nil {
		j.broken = fmt.Errorf("writing %s: %w", j.path, err)
		if terr := j.f.Truncate(j.size); terr != nil {
			j.broken = fmt.Errorf("%w (and cutting the partial record off: %v)", j.broken, terr)
		}
		return j.broken
	}
	j.size += int64(len(data))
	return nil
}

// Close releases the journal and its lock.
func (j *Journal) Close() error { return j.f.Close() }

// encode is rec as a journal line, without its full parts if it is too long.
func encode(rec *Record) ([]byte, error) {
	data, err := json.Marshal(rec)
	if err == nil && len(data) >= MaxRecord {
		slim := *rec
		slim.Steps = append([]Step(nil), rec.Steps...)
		slim.slim()
		data, err = json.Marshal(&slim)
		if err == nil && len(data) >= MaxRecord {
			err = ErrTooLong
		}
	}
	if err != nil {
		return nil, fmt.Errorf("encoding the record of %q: %w", rec.ID, err)
	}
	return append(data, '\n'), nil
}

// ConflictError reports a question whose id has a record of another question.
type ConflictError struct {
	Question Question
	Asked    string // the question of the record
	Journal  string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s:%d: id %q was asked %q in %s; give the job a new output file, or new ids",
		e.Question.File, e.Question.Line, e.Question.ID, e.Asked, e.Journal)
}

// Plan is what a job runs.
type Plan struct {
	Questions int // in the job
	Todo      []Question
	// Skipped counts the questions with a record that do not run again;
	// SkippedFailed those of them whose newest record is not ok.
	Skipped, SkippedFailed int
}

// scanned is what a journal holds.
type scanned struct {
	newest map[string]Head
	size   int64 // the length of the complete records
	torn   *Torn
}

// scan reads a journal's records; limit bounds a line. A last line without its
// line end is torn: a record cut short, as the line end is the last byte each
// append puts down; it must begin as a record does (or be a part of that
// beginning), so that a file no job wrote is never cut. Blank lines are skipped. Any other line that is not a
// record, or is longer than limit, is a *NotRecordError.
func scan(r io.Reader, limit int) (*scanned, error) {
	br := bufio.NewReader(r)
	s := &scanned{newest: map[string]Head{}}
	for line := 1; ; line++ {
		data, err := readLine(br, limit)
		if errors.Is(err, errLineTooLong) {
			return nil, &NotRecordError{Line: line, Why: fmt.Sprintf("the line is longer than %d bytes", limit)}
		}
		if err == io.EOF {
			if len(data) == 0 {
				return s, nil
			}
			if !bytes.HasPrefix(data, recordStart) && !bytes.HasPrefix(recordStart, data) {
				return nil, &NotRecordError{Line: line, Why: "the last line has no line end, and is not the beginning of a record"}
			}
			s.torn = &Torn{Line: line, Bytes: len(data)}
			return s, nil
		}
		if err != nil {
			return nil, err
		}
		s.size += int64(len(data))
		if len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		var h struct {
			ID       *string `json:"id"`
			Question string  `json:"question"`
			Status   string  `json:"status"`
		}
		if err := json.Unmarshal(data, &h); err != nil {
			return nil, &NotRecordError{Line: line, Why: err.Error()}
		}
		if h.ID == nil {
			return nil, &NotRecordError{Line: line, Why: "it has no id"}
		}
		s.newest[*h.ID] = Head{ID: *h.ID, Question: h.Question, Status: h.Status}
	}
}

var errLineTooLong = errors.New("line too long")

// recordStart is how every record that encode writes begins; a torn last line
// begins so too, or is a part of it.
var recordStart = []byte(`{"id":`)

// readLine reads up to and including the next line end, at most limit bytes.
func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > limit {
			return nil, errLineTooLong
		}
		line = append(line, chunk...)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return line, err
		}
	}
}
