// Package repl is the loop of a conversation at a terminal or over a pipe:
// each line of the input that is not blank is a question, answered before the
// next line is read (so that nothing reads the terminal while an answer may
// ask on it), until the input ends, a line says exit or quit, or the context
// ends.
package repl

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/rewoo-agent/agent/internal/input"
)

// Stats count a loop's questions: those answered, and those whose answer
// failed among them.
type Stats struct{ Asked, Failed int }

// Prompt is what the loop writes before each line it reads at a terminal.
const Prompt = "> "

// Run reads the lines of in, each up to maxLine bytes, trims them and hands
// each that is not blank to answer; an error from answer counts the question
// failed and the loop goes on. With prompt not nil, Prompt goes to it before
// each line and a line end after the input's last. Run returns nil at a line
// that says exit or quit (in any case), io.EOF at the end of the input, ctx's
// error when ctx ends (while reading or answering), or the reading's error.
func Run(ctx context.Context, in io.Reader, maxLine int, prompt io.Writer, answer func(ctx context.Context, question string) error) (Stats, error) {
	lines := input.NewLines(in, maxLine)
	defer lines.Close()
	var st Stats
	for {
		if prompt != nil {
			fmt.Fprint(prompt, Prompt)
		}
		q, err := lines.Next(ctx)
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
		if err != nil {
			if prompt != nil {
				fmt.Fprintln(prompt)
			}
			return st, err
		}
		q = strings.TrimSpace(q)
		switch strings.ToLower(q) {
		case "":
			continue
		case "exit", "quit":
			return st, nil
		}
		err = answer(ctx, q)
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
		st.Asked++
		if err != nil {
			st.Failed++
		}
	}
}
