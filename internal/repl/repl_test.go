package repl

import (
	"bufio"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	errBad := errors.New("no answer")
	for _, tt := range []struct {
		name    string
		in      string
		prompt  bool
		asked   []string // the questions answer got
		st      Stats
		err     error  // nil, or what errors.Is finds
		prompts string // what the prompt writer got
	}{
		{name: "empty", in: "", err: io.EOF},
		{name: "lines", in: "one\n  two  \n\n\t\nthree", asked: []string{"one", "two", "three"}, st: Stats{3, 0}, err: io.EOF},
		{name: "failures", in: "bad one\ngood\nbad two\n", asked: []string{"bad one", "good", "bad two"}, st: Stats{3, 2}, err: io.EOF},
		{name: "exit", in: "one\nexit\nnot asked\n", asked: []string{"one"}, st: Stats{1, 0}},
		{name: "quit in any case", in: "bad\n QUIT \nnot asked\n", asked: []string{"bad"}, st: Stats{1, 1}},
		{name: "prompt", in: "one\n\ntwo\n", prompt: true, asked: []string{"one", "two"}, st: Stats{2, 0}, err: io.EOF, prompts: "> > > > \n"},
		{name: "prompt at exit", in: "exit\n", prompt: true, prompts: "> "},
		{name: "line too long", in: "one\n" + strings.Repeat("x", 5000) + "\n", asked: []string{"one"}, st: Stats{1, 0}, err: bufio.ErrTooLong},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var asked []string
			var prompts strings.Builder
			var w io.Writer
			if tt.prompt {
				w = &prompts
			}
			st, err := Run(context.Background(), strings.NewReader(tt.in), 100, w, func(_ context.Context, q string) error {
				asked = append(asked, q)
				if strings.HasPrefix(q, "bad") {
					return errBad
				}
				return nil
			})
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Errorf("err %v, want %v", err, tt.err)
			}
			if st != tt.st || !slices.Equal(asked, tt.asked) {
				t.Errorf("stats %+v after %q, want %+v after %q", st, asked, tt.st, tt.asked)
			}
			if prompts.String() != tt.prompts {
				t.Errorf("prompts %q, want %q", prompts.String(), tt.prompts)
			}
		})
	}
}

// TestRunInterrupted: the context's end, while an answer runs or while a line
// is awaited, ends the loop with its error; the question it ended is not counted.
func TestRunInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	st, err := Run(ctx, strings.NewReader("one\ntwo\n"), 100, nil, func(context.Context, string) error {
		cancel()
		return context.Canceled
	})
	if !errors.Is(err, context.Canceled) || st != (Stats{}) {
		t.Errorf("stats %+v, err %v; want none, context.Canceled", st, err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	r, w := io.Pipe() // a terminal nobody types on
	defer w.Close()
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, r, 100, nil, func(context.Context, string) error { return nil })
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
}
