package input

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Confirm asks question on w with " [y/N] " after it and reports whether the
// line read from r says y or yes (in any case); anything else, an empty line
// or the end of r, is no.
func Confirm(r io.Reader, w io.Writer, question string) bool {
	fmt.Fprintf(w, "%s [y/N] ", question)
	line, _ := bufio.NewReader(r).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes"
}
