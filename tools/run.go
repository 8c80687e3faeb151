package tools

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// Run calls the tool called name on text, given as both its Input and its Raw
// input, as agent tools call does. A failure carries the tool's name in front,
// unless the tool named itself already (custom tools do); an unknown name wraps
// ErrUnknownTool.
func (r *Registry) Run(ctx context.Context, name, text string) (Output, error) {
	t, err := r.Get(name)
	if err != nil {
		return Output{}, err
	}
	out, err := t.Call(ctx, Request{Input: text, Raw: text})
	if err != nil && !strings.HasPrefix(err.Error(), name+": ") {
		err = fmt.Errorf("%s: %w", name, err)
	}
	return out, err
}

// WriteText writes the output's text, with a newline, to w, and each source as a
// "source: " line to sources.
func (o Output) WriteText(w, sources io.Writer) error {
	if _, err := fmt.Fprintln(w, o.Text); err != nil {
		return err
	}
	for _, s := range o.Sources {
		fmt.Fprintln(sources, "source:", s)
	}
	return nil
}
