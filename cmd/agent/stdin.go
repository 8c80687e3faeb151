package main

import (
	"context"
	"fmt"
	"io"
)

// readStdin reads r to the end, at most limit bytes: more is an error, never a
// silent cut. It returns when ctx ends (Ctrl-C while stdin is a terminal); the
// reading goroutine then ends with the process.
func readStdin(ctx context.Context, r io.Reader, limit int64) ([]byte, error) {
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
			return nil, fmt.Errorf("reading stdin: %w", res.err)
		case int64(len(res.b)) > limit:
			return nil, fmt.Errorf("stdin holds more than %d bytes, the limit", limit)
		}
		return res.b, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}
