package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/rewoo-agent/agent/engine"
)

// Grammar names how a Client hands a server the GBNF grammar of
// GenerateGrammar, so that the server constrains its own decoding.
type Grammar string

const (
	// GrammarAuto asks the server what it is, once per client: llama.cpp's
	// llama-server answers GET /props, vLLM answers GET /version; any other
	// server gets no grammar.
	GrammarAuto Grammar = "auto"
	// GrammarLlamaCpp sends llama.cpp's "grammar" field.
	GrammarLlamaCpp Grammar = "llamacpp"
	// GrammarVLLM sends vLLM's "structured_outputs": {"grammar": ...}, or
	// "guided_grammar" to a vLLM before 0.10.2 (by GET /version), which has no
	// structured_outputs (and 0.12 no guided_grammar).
	GrammarVLLM Grammar = "vllm"
	// GrammarNone sends no grammar.
	GrammarNone Grammar = "none"
)

// ErrGrammar is returned for a grammar mode other than auto, llamacpp, vllm and none.
var ErrGrammar = errors.New("unknown grammar mode (want auto, llamacpp, vllm or none)")

// ParseGrammar checks a grammar mode; "" is GrammarAuto.
func ParseGrammar(s string) (Grammar, error) {
	switch g := Grammar(s); g {
	case "":
		return GrammarAuto, nil
	case GrammarAuto, GrammarLlamaCpp, GrammarVLLM, GrammarNone:
		return g, nil
	}
	return "", fmt.Errorf("%w: %q", ErrGrammar, s)
}

// grammarField is the request field a grammar travels in.
type grammarField int

const (
	fieldNone       grammarField = iota
	fieldGrammar                 // llama.cpp: "grammar"
	fieldStructured              // vLLM 0.10.2 on: "structured_outputs": {"grammar"}
	fieldGuided                  // vLLM before: "guided_grammar"
)

// grammarFields are the request fields of the three kinds; settings embeds
// them.
type grammarFields struct {
	Grammar           string             `json:"grammar,omitempty"`
	GuidedGrammar     string             `json:"guided_grammar,omitempty"`
	StructuredOutputs *structuredOutputs `json:"structured_outputs,omitempty"`
}

type structuredOutputs struct {
	Grammar string `json:"grammar"`
}

// constraint is a grammar and the field it goes in.
type constraint struct {
	field   grammarField
	grammar string
}

func (c constraint) fields() grammarFields {
	switch c.field {
	case fieldGrammar:
		return grammarFields{Grammar: c.grammar}
	case fieldStructured:
		return grammarFields{StructuredOutputs: &structuredOutputs{Grammar: c.grammar}}
	case fieldGuided:
		return grammarFields{GuidedGrammar: c.grammar}
	}
	return grammarFields{}
}

// GenerateGrammar is Generate with the server constraining its decoding to
// grammar (GBNF, as planner/constrain writes it) where it can
// (Options.Grammar). A server of unknown kind gets no grammar, and one that
// refuses the field (400 or 422 naming it) gets the request again without it,
// and no grammar from then on: the text is then free, for the caller to check.
func (c *Client) GenerateGrammar(ctx context.Context, req engine.Request, grammar string, onText func(string) error) (engine.Result, error) {
	return c.generate(ctx, req, grammar, onText)
}

// grammarField returns the field this client sends grammars in, asking the
// server the first time under GrammarAuto and GrammarVLLM. A server that does
// not answer is taken to have no grammar, but for ctx's own end.
func (c *Client) grammarField(ctx context.Context) (grammarField, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fieldKnown {
		return c.field, nil
	}
	parent := ctx
	ctx, cancel := context.WithTimeoutCause(ctx, c.opts.HeaderTimeout,
		fmt.Errorf("%w: asking the server's kind took over %v", ErrTimeout, c.opts.HeaderTimeout))
	defer cancel()
	f := fieldNone
	switch c.opts.Grammar {
	case GrammarLlamaCpp:
		f = fieldGrammar
	case GrammarVLLM:
		f = fieldStructured
		if v, ok := c.vllmVersion(ctx); ok && v.before(0, 10, 2) {
			f = fieldGuided
		}
	case GrammarAuto:
		if c.isLlamaCpp(ctx) {
			f = fieldGrammar
		} else if v, ok := c.vllmVersion(ctx); ok {
			f = fieldStructured
			if v.before(0, 10, 2) {
				f = fieldGuided
			}
		}
	}
	if err := parent.Err(); err != nil {
		return fieldNone, err // the caller gave up: ask again next time
	}
	c.field, c.fieldKnown = f, true
	return f, nil
}

// getJSON reads the JSON object GET path answers with, or false.
func (c *Client) getJSON(ctx context.Context, path string, v any) bool {
	resp, err := c.do(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return json.NewDecoder(io.LimitReader(resp.Body, maxLine)).Decode(v) == nil
}

// isLlamaCpp reports whether the server answers GET /props as llama-server
// does.
func (c *Client) isLlamaCpp(ctx context.Context) bool {
	var props struct {
		Settings json.RawMessage `json:"default_generation_settings"`
	}
	return c.getJSON(ctx, "/props", &props) && len(props.Settings) > 0
}

// version is a release number, major.minor.patch.
type version [3]int

func (v version) before(major, minor, patch int) bool {
	w := version{major, minor, patch}
	for i := range v {
		if v[i] != w[i] {
			return v[i] < w[i]
		}
	}
	return false
}

// vllmVersion reads vLLM's GET /version ({"version": "0.11.0"}).
func (c *Client) vllmVersion(ctx context.Context) (version, bool) {
	var body struct {
		Version string `json:"version"`
	}
	if !c.getJSON(ctx, "/version", &body) || body.Version == "" {
		return version{}, false
	}
	return parseVersion(body.Version)
}

// parseVersion reads the numbers a version starts with: "0.10.2rc1",
// "v0.8.5.post1" and "0.11" read as 0.10.2, 0.8.5 and 0.11.0.
func parseVersion(s string) (version, bool) {
	var v version
	parts := strings.SplitN(strings.TrimPrefix(s, "v"), ".", 4)
	for i := 0; i < len(parts) && i < 3; i++ {
		p := parts[i]
		n := 0
		for n < len(p) && p[n] >= '0' && p[n] <= '9' {
			n++
		}
		x, err := strconv.Atoi(p[:n])
		if err != nil {
			return version{}, i > 0
		}
		v[i] = x
		if n < len(p) {
			break
		}
	}
	return v, true
}

// dropGrammar stops sending grammars: the server refused one.
func (c *Client) dropGrammar() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.field, c.fieldKnown = fieldNone, true
}

// refusesGrammar reports whether err is a server's refusal of the grammar
// field: 400 or 422 with a message naming it.
func refusesGrammar(err error) bool {
	var he *HTTPError
	if !errors.As(err, &he) || he.StatusCode != http.StatusBadRequest && he.StatusCode != http.StatusUnprocessableEntity {
		return false
	}
	msg := strings.ToLower(he.Message)
	return strings.Contains(msg, "grammar") || strings.Contains(msg, "structured_outputs")
}
