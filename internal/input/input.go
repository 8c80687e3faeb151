// Package input reads what a command is given to work on, stdin or a file, whole
// and bounded: more than the limit is an error (ErrTooLarge), never a silent
// cut, and a read of stdin gives way when the context ends (Ctrl-C while stdin
// is a terminal).
package input

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// ErrTooLarge is wrapped when the input holds more than the limit.
var ErrTooLarge = errors.New("input larger than the limit")

// Read reads r to the end, at most limit bytes. It returns when ctx ends, with
// ctx's cause; the reading goroutine then ends with the read (or the process).
func Read(ctx context.Context, r io.Reader, limit int64) ([]byte, error) {
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(io.LimitReader(r, limit+1))
		done <- result{b, err}
	}()
	select {
	case res := <-done:
		switch {
		case res.err != nil:
			return nil, fmt.Errorf("reading: %w", res.err)
		case int64(len(res.b)) > limit:
			return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
		}
		return res.b, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// File reads the file at path, or stdin for "-", like Read.
func File(ctx context.Context, stdin io.Reader, path string, limit int64) ([]byte, error) {
	if path == "-" {
		return Read(ctx, stdin, limit)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(ctx, f, limit)
}

// Text is the words of args joined by spaces or, when there are none or the
// one word "-", what r holds, read as Read reads it.
func Text(ctx context.Context, r io.Reader, args []string, limit int64) (string, error) {
	text := strings.Join(args, " ")
	if len(args) == 0 || text == "-" {
		data, err := Read(ctx, r, limit)
		if err != nil {
			return "", err
		}
		text = string(data)
	}
	return text, nil
}
