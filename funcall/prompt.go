package funcall

import (
	"errors"
	"fmt"
	"strings"

	"github.com/rewoo-agent/agent/engine/chat"
)

// Format is the form the model is asked to answer in.
type Format string

const (
	JSON Format = "JSON"
	YAML Format = "YAML"
)

// Instruction opens the prompt, in the words of the Airoboros model card; %s is
// the format.
const Instruction = "As an AI assistant, please select the most suitable function and parameters from the list of available functions below, based on the user's input. Provide your response in %s format."

// ErrEmptyInput is returned for a question that is only white space.
var ErrEmptyInput = errors.New("empty input")

// Message is the user's message asking for a call that answers input, in
// format: the instruction, "Input: ...", then "Available functions:" in YAML.
// Descriptions are kept to one line each.
func (s *Set) Message(input string, format Format) (string, error) {
	input = strings.TrimSpace(input)
	if input == "" {
		return "", ErrEmptyInput
	}
	if format != JSON && format != YAML {
		return "", fmt.Errorf("format %q: want JSON or YAML", format)
	}
	var b strings.Builder
	fmt.Fprintf(&b, Instruction, format)
	fmt.Fprintf(&b, "\n\nInput: %s\n\nAvailable functions:\n", oneLine(input))
	for _, f := range s.funcs {
		fmt.Fprintf(&b, "%s:\n  description: %s\n", f.Name, oneLine(f.Description))
		if len(f.Params) == 0 {
			continue
		}
		b.WriteString("  params:\n")
		for _, p := range f.Params {
			kind := string(p.Type)
			if p.Required {
				kind += ", required"
			}
			line := fmt.Sprintf("    %s: (%s) %s", p.Name, kind, oneLine(p.Description))
			b.WriteString(strings.TrimRight(line, " ") + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n"), nil
}

// Prompt is Message inside the chat template t (the zero Template is
// chat.Airoboros).
func (s *Set) Prompt(t chat.Template, input string, format Format) (string, error) {
	m, err := s.Message(input, format)
	if err != nil {
		return "", err
	}
	if t == (chat.Template{}) {
		t = chat.Airoboros
	}
	return t.Prompt(m), nil
}

// Repair is the message that sends a failed answer back with what was wrong
// with it, asking for the call again.
func (s *Set) Repair(input string, format Format, answer string, err error) (string, error) {
	m, merr := s.Message(input, format)
	if merr != nil {
		return "", merr
	}
	return fmt.Sprintf("%s\n\nA previous answer was:\n%s\n\nIt was rejected: %v\nAnswer again with one of the available functions and only its params, in %s format.",
		m, strings.TrimSpace(answer), err, format), nil
}

// oneLine joins s's lines and runs of spaces: the listing is one line per entry.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
