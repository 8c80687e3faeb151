// Package knowledge is the KnowledgeModel tool: it answers a question over the
// evidence the question cites, sending the model the closed-context format it was
// trained on (one BEGININPUT block per cited evidence, with its url and tool as
// context) and fitting the evidence into the model's context window, each source
// keeping its head.
package knowledge

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/chat"
	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/scrape"
)

// Description is what the planner shows the model, as in the seed model's training.
const Description = "Question answering language model, particularly useful in answering questions based on an input passage of text. The input must be a text question that references an :evidence[n]: variable, e.g. What color is the cat, given :evidence1:?"

// DefaultInstruction follows every question; the model card says it helps.
const DefaultInstruction = "Don't make up answers if you don't know."

// Model is the KnowledgeModel tool.
type Model struct {
	LLM           engine.LLM      // nil: every call fails with chat.ErrNoLLM
	Template      chat.Template   // zero: chat.Airoboros
	MaxTokens     int             // answer tokens at most (512)
	ContextLength int             // used when LLM is no engine.TokenCounter (2048)
	Sampling      engine.Sampling // zero: greedy
	Instruction   string          // appended to the question; "" means DefaultInstruction
}

var _ tools.Tool = (*Model)(nil)

func (*Model) Name() string        { return "KnowledgeModel" }
func (*Model) Description() string { return Description }

// Call answers the question in req.Raw over req.Cited.
func (m *Model) Call(ctx context.Context, req tools.Request) (tools.Output, error) {
	if m.LLM == nil {
		return tools.Output{}, chat.ErrNoLLM
	}
	prompt, err := m.Prompt(req)
	if err != nil {
		return tools.Output{}, err
	}
	res, err := m.LLM.Generate(ctx, engine.Request{
		Prompt:    prompt,
		MaxTokens: m.maxTokens(),
		Sampling:  m.Sampling,
		Stop:      m.template().Stops(),
	}, func(string) error { return nil })
	if err != nil {
		return tools.Output{}, fmt.Errorf("KnowledgeModel: %w", err)
	}
	answer := strings.TrimSpace(res.Text)
	if answer == "" {
		return tools.Output{}, errors.New("KnowledgeModel: the model gave an empty answer")
	}
	return tools.Output{Text: answer, Sources: req.CitedSources()}, nil
}

func (m *Model) template() chat.Template {
	if m.Template == (chat.Template{}) {
		return chat.Airoboros
	}
	return m.Template
}

func (m *Model) maxTokens() int {
	if m.MaxTokens <= 0 {
		return 512
	}
	return m.MaxTokens
}

// Prompt is the text Call sends the model for req: the cited evidence as
// closed-context input, trimmed to fit the context window, and the question with
// its references replaced by words that point at the input blocks.
func (m *Model) Prompt(req tools.Request) (string, error) {
	question := Question(req)
	if question == "" {
		return "", errors.New("KnowledgeModel: empty question")
	}
	instruction := m.Instruction
	if instruction == "" {
		instruction = DefaultInstruction
	}
	question += " " + instruction
	tmpl := m.template()
	if len(req.Cited) == 0 {
		return tmpl.Prompt(question), nil
	}

	inputs := make([]chat.Input, len(req.Cited))
	for i, c := range req.Cited {
		inputs[i] = chat.Input{Context: metadata(c)}
	}
	count, contextLength := m.counter()
	overhead, err := count(tmpl.Prompt(chat.ClosedContext(inputs, question)))
	if err != nil {
		return "", err
	}
	// A few tokens per block of slack for the cut marker and for tokens that merge
	// across the seams between text and markup.
	budget := contextLength - m.maxTokens() - overhead - 8*len(inputs)
	if budget <= 0 {
		return "", fmt.Errorf("KnowledgeModel: the question alone (%d tokens) leaves no room in a %d-token context for a %d-token answer", overhead, contextLength, m.maxTokens())
	}
	texts := make([]string, len(req.Cited))
	for i, c := range req.Cited {
		texts[i] = c.Text
	}
	if texts, err = fit(texts, budget, count); err != nil {
		return "", err
	}
	for i := range inputs {
		inputs[i].Text = texts[i]
	}
	return tmpl.Prompt(chat.ClosedContext(inputs, question)), nil
}

// counter returns the token counter and context length to plan with: the model's
// own when it can count, else an estimate of four bytes a token.
func (m *Model) counter() (func(string) (int, error), int) {
	if tc, ok := m.LLM.(engine.TokenCounter); ok && tc.ContextLength() > 0 {
		return tc.CountTokens, tc.ContextLength()
	}
	n := m.ContextLength
	if n <= 0 {
		n = 2048
	}
	return func(s string) (int, error) { return (len(s) + 3) / 4, nil }, n
}

// fit shortens texts so their token counts sum to at most budget: texts under an
// equal share keep everything, the rest share what is left equally and keep their
// heads.
func fit(texts []string, budget int, count func(string) (int, error)) ([]string, error) {
	sizes := make([]int, len(texts))
	total := 0
	for i, t := range texts {
		n, err := count(t)
		if err != nil {
			return nil, err
		}
		sizes[i], total = n, total+n
	}
	if total <= budget {
		return texts, nil
	}
	order := make([]int, len(texts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return sizes[order[a]] < sizes[order[b]] })
	out := make([]string, len(texts))
	left := budget
	for k, i := range order {
		share := left / (len(order) - k)
		if sizes[i] <= share {
			out[i] = texts[i]
			left -= sizes[i]
			continue
		}
		cut, n, err := head(texts[i], share, count)
		if err != nil {
			return nil, err
		}
		out[i] = cut
		left -= n
	}
	return out, nil
}

// head returns the longest head of text (cut at a word, marked) of at most limit
// tokens, and its count.
func head(text string, limit int, count func(string) (int, error)) (string, int, error) {
	lo, hi := 0, len(text) // bytes of text kept: lo fits, hi does not
	best, bestN := "", 0
	for lo < hi {
		mid := (lo + hi + 1) / 2
		cut := scrape.Cut(text, mid)
		n, err := count(cut)
		if err != nil {
			return "", 0, err
		}
		if n <= limit {
			lo, best, bestN = mid, cut, n
		} else {
			hi = mid - 1
		}
	}
	return best, bestN, nil
}

// metadata is the context of one cited evidence: where its text came from.
func metadata(c tools.Cited) []chat.Field {
	var fs []chat.Field
	if len(c.Sources) > 0 {
		fs = append(fs, chat.Field{Key: "url", Value: strings.Join(c.Sources, ", ")})
	}
	if c.Tool != "" {
		fs = append(fs, chat.Field{Key: "tool", Value: c.Tool})
	}
	return fs
}

var ordinals = []string{"first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"}

// Question is req's question with each evidence reference replaced by words naming
// its input block: "the input above" when there is one, else "the first input",
// "the second input" and so on.
func Question(req tools.Request) string {
	q := req.Raw
	if strings.TrimSpace(q) == "" {
		q = req.Input
	}
	type ref struct{ name, words string }
	refs := make([]ref, 0, len(req.Cited))
	for i, c := range req.Cited {
		if c.Name == "" {
			continue
		}
		words := "the input above"
		if len(req.Cited) > 1 {
			if i < len(ordinals) {
				words = "the " + ordinals[i] + " input"
			} else {
				words = fmt.Sprintf("input %d", i+1)
			}
		}
		refs = append(refs, ref{c.Name, words})
	}
	// Longest names first, so #E10 is not read as #E1 followed by 0.
	sort.SliceStable(refs, func(a, b int) bool { return len(refs[a].name) > len(refs[b].name) })
	pairs := make([]string, 0, 2*len(refs))
	for _, r := range refs {
		pairs = append(pairs, r.name, r.words)
	}
	return strings.Join(strings.Fields(strings.NewReplacer(pairs...).Replace(q)), " ")
}
