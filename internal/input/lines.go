package input

import (
	"bufio"
	"context"
	"io"
)

// Lines reads lines of a reader one at a time, each only when Next asks for
// it, so that nothing reads the reader between asks (a terminal that a
// question is asked on meanwhile).
type Lines struct {
	want  chan struct{}
	lines chan string
	err   error // the reading's end, set before lines closes
}

// NewLines reads r's lines on request, each up to the larger of max and 4096
// bytes. Close ends the reading.
func NewLines(r io.Reader, max int) *Lines {
	l := &Lines{want: make(chan struct{}), lines: make(chan string, 1)}
	go func() { // ends when want closes or the input ends
		defer close(l.lines)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 4096), max)
		for range l.want {
			if !sc.Scan() {
				l.err = sc.Err()
				if l.err == nil {
					l.err = io.EOF
				}
				return
			}
			l.lines <- sc.Text()
		}
	}()
	return l
}

// Next reads the next line: ctx's error when ctx ends first, io.EOF at the
// end of the input, or the error that ended the reading.
func (l *Lines) Next(ctx context.Context) (string, error) {
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case l.want <- struct{}{}: // the reader reads a line
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case s, ok := <-l.lines:
			if !ok {
				return "", l.err
			}
			return s, nil
		}
	case s, ok := <-l.lines: // a line an ended Next asked for, or the end
		if !ok {
			return "", l.err
		}
		return s, nil
	}
}

// Close stops the reading; a read under way ends with the input.
func (l *Lines) Close() { close(l.want) }
