package input

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// Confirm asks question on w with " [y/N] " after it and reports whether the
// line read from r says y or yes (in any case); anything else, an empty line
// or the end of r, is no. When ctx ends first it ends the line on w and
// returns ctx's cause; the read goes on until r gives a line or ends.
func Confirm(ctx context.Context, r io.Reader, w io.Writer, question string) (bool, error) {
	fmt.Fprintf(w, "%s [y/N] ", question)
	line := make(chan string, 1)
	go func() { // ends with the read: a line, the end of input, or the terminal closed
		s, _ := bufio.NewReader(r).ReadString('\n')
		line <- s
	}()
	select {
	case <-ctx.Done():
		fmt.Fprintln(w)
		return false, context.Cause(ctx)
	case s := <-line:
		a := strings.ToLower(strings.TrimSpace(s))
		return a == "y" || a == "yes", nil
	}
}

// IsTerminal reports whether r is a terminal, where a person may answer.
func IsTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
