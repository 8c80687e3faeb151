package planner

import (
	"errors"
	"fmt"
	"strings"
	"text/template"

	"github.com/rewoo-agent/agent/engine/chat"
	"github.com/rewoo-agent/agent/tools"
)

// DefaultPlanTemplate is the reWOO instruction: the tools as Name[input]: description,
// the plan format, one evidence per step. It is a text/template over PromptData.
const DefaultPlanTemplate = `Make a step-by-step plan to answer the question below with the tools listed. Every step of the plan produces exactly one evidence value: the output of one tool called with an input string, which may be the question, earlier evidence values, or both.

The tools you can call:
{{range .Tools}}{{.Name}}[input]: {{.Description}}
{{end}}
Write the plan in exactly this format:
Plan: [the first action to take, based on the question]
:evidence0: = [the tool to call, with its input]
Plan: [the next action, based on the result of :evidence0:]
:evidence1: = [the next tool and its input, which may refer to earlier evidence, e.g. "Given context :evidence0:"]
...
Answer: [the :evidenceN: that holds the final answer]

Question: {{.Question}}`

// PromptData is what the plan template sees.
type PromptData struct {
	Question string
	Tools    []ToolInfo
}

// ToolInfo is a tool as the prompt lists it.
type ToolInfo struct{ Name, Description string }

// Prompts are the texts the planner sends the model. Every part can be replaced
// from the configuration.
type Prompts struct {
	// Chat wraps the instruction into the model's chat format.
	Chat chat.Template
	// Plan is the reWOO instruction, a text/template over PromptData.
	Plan string
}

// DefaultPrompts is the Airoboros chat template around DefaultPlanTemplate.
func DefaultPrompts() Prompts {
	return Prompts{Chat: chat.Airoboros, Plan: DefaultPlanTemplate}
}

// ErrEmptyQuestion is returned for a question that is only white space.
var ErrEmptyQuestion = errors.New("empty question")

// planTemplate parses text, naming it in errors.
func planTemplate(text string) (*template.Template, error) {
	t, err := template.New("plan prompt").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("plan prompt template: %w", err)
	}
	return t, nil
}

// Prompt returns the complete prompt that asks the model for a plan answering
// question with ts.
func (p Prompts) Prompt(question string, ts []tools.Tool) (string, error) {
	in, err := p.instruction(question, ts)
	if err != nil {
		return "", err
	}
	return p.Chat.Prompt(in), nil
}

// instruction is the reWOO instruction for question with ts, before the chat
// template wraps it (a repair or a new plan adds to it).
func (p Prompts) instruction(question string, ts []tools.Tool) (string, error) {
	question = strings.TrimSpace(question)
	if question == "" {
		return "", ErrEmptyQuestion
	}
	t, err := planTemplate(p.Plan)
	if err != nil {
		return "", err
	}
	data := PromptData{Question: question}
	for _, tool := range ts {
		data.Tools = append(data.Tools, ToolInfo{Name: tool.Name(), Description: oneLine(tool.Description())})
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("plan prompt template: %w", err)
	}
	return b.String(), nil
}

// oneLine joins a description's lines: the prompt lists one tool per line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
