package research

import (
	"context"
	"fmt"
	"io"
	"sync"
)

// Stream is a Store that writes each record as one JSON line to a writer, such
// as stdout. It has nothing to read back, so a job on a stream cannot resume.
type Stream struct {
	mu     sync.Mutex
	w      io.Writer
	broken error
}

var _ Store = (*Stream)(nil)

// NewStream writes records to w.
func NewStream(w io.Writer) *Stream { return &Stream{w: w} }

// Plan is every question of qs; retryFailed is refused with ErrNoRecords.
func (s *Stream) Plan(qs []Question, retryFailed bool) (*Plan, error) {
	if retryFailed {
		return nil, ErrNoRecords
	}
	return &Plan{Questions: len(qs), Todo: qs}, nil
}

// Append writes rec as one line with a single write; after a failed write every
// later Append fails.
func (s *Stream) Append(_ context.Context, rec *Record) error {
	data, err := encode(rec)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken != nil {
		return s.broken
	}
	if _, err := s.w.Write(data); err != nil {
		s.broken = fmt.Errorf("writing the records: %w", err)
		return s.broken
	}
	return nil
}
