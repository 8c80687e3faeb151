// Package openai is an engine.LLM that talks to any server speaking OpenAI's API
// with streaming (server-sent events): vLLM, llama.cpp's llama-server, Ollama, or
// our own. It calls the legacy completions endpoint (POST /v1/completions), which
// takes the prompt as it is, or the chat endpoint (POST /v1/chat/completions) of
// servers that only have that one, with a prompt written with the chat template
// (Options.Template) taken back apart into its system and user messages, so that
// the server applies its own template once; Options.API picks the endpoint, by
// default the first that answers. Sampling settings travel as the
// standard fields plus the extra ones vLLM and llama.cpp read (top_k,
// repetition_penalty / repeat_penalty, seed, min_p), so a server samples as the local
// engine does; servers ignore the extras they do not know.
//
// GenerateGrammar has the server constrain its decoding to a GBNF grammar
// (the planner's plan grammar, planner/constrain's GBNF): llama.cpp's
// "grammar" field, vLLM's "structured_outputs" (or "guided_grammar" before
// 0.10.2). Options.Grammar names the kind, or auto asks the server once
// (GET /props, GET /version); an unknown server, or one that refuses the
// field, writes freely and the caller repairs.
//
// Stop strings are sent to the server and also applied here, so they are never
// emitted even by a server that ignores them. A server that stops answering is cut
// off after Options.HeaderTimeout (before the response starts) or
// Options.IdleTimeout (between events). What a server sends is bounded in size as
// well: an SSE line (1 MiB), an event (2 MiB, however many data: lines make it),
// the completion (8 MiB); past a limit the generation fails with
// ErrStreamTooLarge or a message naming the limit.
package openai

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/chat"
	"github.com/rewoo-agent/agent/engine/sample"
	"github.com/rewoo-agent/agent/engine/stop"
	"github.com/rewoo-agent/agent/internal/redact"
	"github.com/rewoo-agent/agent/internal/retryafter"
)

// APIKeyEnv names the environment variable the agent's commands read the API key
// from (configs/config.yaml says the same): a key of its own rather than
// OPENAI_API_KEY, so a key meant for OpenAI is never sent to another server.
const APIKeyEnv = "AGENT_LLM_API_KEY"

// Limits on what a server may send.
const (
	maxLine      = 1 << 20 // one SSE line
	maxEvent     = 2 << 20 // the data of one SSE event, its lines joined
	maxText      = 8 << 20 // the whole completion
	maxErrorBody = 4 << 10 // the part of an error response kept for the message
)

// Options configure a Client. Zero values take the defaults noted.
type Options struct {
	// Model is the served model's name; "" asks GET /v1/models and takes the first.
	Model string
	// APIKey, when set, is sent as a bearer token.
	APIKey string
	// HeaderTimeout bounds the wait for the response to start: queueing and prompt
	// processing on the server. Default 5 minutes.
	HeaderTimeout time.Duration
	// IdleTimeout bounds the silence between two events of the stream. Default 2 minutes.
	IdleTimeout time.Duration
	// HTTPClient sends the requests; default http.DefaultClient. Its own Timeout, if
	// any, bounds whole generations.
	HTTPClient *http.Client
	// API is the endpoint to call; "" means APIAuto.
	API API
	// Template is the chat template the prompts were written with (the planner's),
	// which the chat endpoint takes apart into messages; zero means chat.Airoboros.
	Template chat.Template
	// Grammar is how GenerateGrammar hands the server its grammar; "" means
	// GrammarAuto.
	Grammar Grammar
}

// Client is an engine.LLM over a remote server. It is safe for concurrent use.
type Client struct {
	base string
	opts Options

	mu         sync.Mutex
	model      string       // resolved model name
	api        API          // the endpoint in use: Options.API, or what auto found
	field      grammarField // the field grammars go in, once fieldKnown
	fieldKnown bool
}

var _ engine.LLM = (*Client)(nil)

// HTTPError is a response with a status other than 200 OK.
type HTTPError struct {
	URL        string
	StatusCode int
	Message    string // the server's error message, or the start of its body
	// RetryAfterHeader is the response's Retry-After header, if it sent one.
	RetryAfterHeader string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("%s: %s: %s", e.URL, http.StatusText(e.StatusCode), e.Message)
}

// Temporary reports whether retrying later may succeed: rate limits and server errors.
func (e *HTTPError) Temporary() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

// RetryAfter is the wait the server asked for in its Retry-After header
// (seconds or an HTTP date, at most retryafter.Max).
func (e *HTTPError) RetryAfter() (time.Duration, bool) {
	return retryafter.Parse(e.RetryAfterHeader, time.Now())
}

// ErrTimeout is returned when the server stays silent past a timeout.
var ErrTimeout = errors.New("server timed out")

// New returns a client for the server at base, such as "http://localhost:8000"
// (a trailing "/v1" is accepted too).
func New(base string, opts Options) (*Client, error) {
	base = strings.TrimSuffix(strings.TrimRight(base, "/"), "/v1")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return nil, fmt.Errorf("server URL %q: want http:// or https://", base)
	}
	if opts.HeaderTimeout <= 0 {
		opts.HeaderTimeout = 5 * time.Minute
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 2 * time.Minute
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	api, err := ParseAPI(string(opts.API))
	if err != nil {
		return nil, err
	}
	if opts.Template == (chat.Template{}) {
		opts.Template = chat.Airoboros
	}
	if opts.Grammar, err = ParseGrammar(string(opts.Grammar)); err != nil {
		return nil, err
	}
	return &Client{base: base, opts: opts, model: opts.Model, api: api}, nil
}

// completionRequest is the body of POST /v1/completions.
type completionRequest struct {
	Model  string `json:"model,omitempty"`
	Prompt string `json:"prompt"`
	settings
}

// settings are the fields both endpoints take. The chat endpoint gets max_tokens
// too: vLLM, llama.cpp, Ollama and engine/server read it there (OpenAI's newer
// max_completion_tokens is for its reasoning models).
type settings struct {
	MaxTokens     int            `json:"max_tokens,omitempty"`
	Temperature   float64        `json:"temperature"`
	TopP          float64        `json:"top_p"`
	TopK          int            `json:"top_k"`              // vLLM, llama.cpp: -1 is off
	MinP          float64        `json:"min_p"`              // llama.cpp defaults to 0.05; HF has none
	RepPenalty    float64        `json:"repetition_penalty"` // vLLM: over prompt and output, as HF
	RepeatPenalty float64        `json:"repeat_penalty"`     // llama.cpp's name
	RepeatLastN   int            `json:"repeat_last_n"`      // llama.cpp: -1 is the whole context
	Seed          uint64         `json:"seed"`
	Stop          []string       `json:"stop,omitempty"`
	Stream        bool           `json:"stream"`
	StreamOptions map[string]any `json:"stream_options,omitempty"`
	grammarFields
}

func newCompletionRequest(model string, req engine.Request, con constraint) completionRequest {
	return completionRequest{Model: model, Prompt: req.Prompt, settings: newSettings(req, con)}
}

func newSettings(req engine.Request, con constraint) settings {
	s := req.Sampling
	c := settings{
		MaxTokens:     req.MaxTokens,
		Temperature:   s.Temperature,
		TopP:          s.TopP,
		TopK:          s.TopK,
		RepPenalty:    s.RepetitionPenalty,
		RepeatLastN:   -1,
		Seed:          s.Seed,
		Stop:          req.Stop,
		Stream:        true,
		StreamOptions: map[string]any{"include_usage": true},
		grammarFields: con.fields(),
	}
	if c.TopP == 0 {
		c.TopP = 1
	}
	if c.TopK == 0 {
		c.TopK = -1
	}
	if c.RepPenalty == 0 {
		c.RepPenalty = 1
	}
	c.RepeatPenalty = c.RepPenalty
	return c
}

// chunk is one streamed event, or a whole non-streamed response.
type chunk struct {
	Choices []struct {
		Text         string      `json:"text"`    // completions
		Delta        chatMessage `json:"delta"`   // a chat stream's piece
		Message      chatMessage `json:"message"` // a whole chat answer
		FinishReason string      `json:"finish_reason"`
		StopReason   any         `json:"stop_reason"` // vLLM: the stop string matched, or a token id
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
	Error   json.RawMessage `json:"error"`
	Object  string          `json:"object"`
	Message string          `json:"message"`
}

// errorMessage returns the error a chunk carries: {"error": {...}} or {"error": "..."}
// as OpenAI and llama.cpp send it, or vLLM's {"object": "error", "message": ...}.
func (c *chunk) errorMessage() string {
	if c.Object == "error" {
		return orElse(c.Message, "error")
	}
	if len(c.Error) == 0 || string(c.Error) == "null" {
		return ""
	}
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(c.Error, &e) == nil && e.Message != "" {
		return e.Message
	}
	var s string
	if json.Unmarshal(c.Error, &s) == nil && s != "" {
		return s
	}
	return string(c.Error)
}

func orElse(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// Generate sends req to the server and streams the completion through onText.
// Result.PromptTime is the time to the first event, Result.GenTime the rest; token
// counts come from the server's usage report, or count the streamed chunks (one per
// token on vLLM and llama.cpp) where it sends none.
func (c *Client) Generate(ctx context.Context, req engine.Request, onText func(string) error) (engine.Result, error) {
	return c.generate(ctx, req, "", onText)
}

// generate is Generate under grammar, when not "".
func (c *Client) generate(ctx context.Context, req engine.Request, grammar string, onText func(string) error) (engine.Result, error) {
	var res engine.Result
	if err := sample.Validate(req.Sampling); err != nil {
		return res, err
	}
	if req.MaxTokens < 0 {
		return res, fmt.Errorf("max tokens %d: must be >= 0", req.MaxTokens)
	}
	stops, err := stop.New(req.Stop)
	if err != nil {
		return res, err
	}
	if onText == nil {
		onText = func(string) error { return nil }
	}
	model, err := c.resolveModel(ctx)
	if err != nil {
		return res, err
	}
	con := constraint{grammar: grammar}
	if grammar != "" {
		if con.field, err = c.grammarField(ctx); err != nil {
			return res, err
		}
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timeout := time.AfterFunc(c.opts.HeaderTimeout, func() {
		cancel(fmt.Errorf("%w: no response from %s in %v", ErrTimeout, c.base, c.opts.HeaderTimeout))
	})
	defer timeout.Stop()
	begin := time.Now()
	resp, url, err := c.send(ctx, model, req, con)
	if con.field != fieldNone && refusesGrammar(err) {
		c.dropGrammar()
		resp, url, err = c.send(ctx, model, req, constraint{})
	}
	if err != nil {
		return res, cause(ctx, err)
	}
	defer resp.Body.Close()
	timeout.Reset(c.opts.IdleTimeout)

	g := &generation{stops: stops, onText: onText, maxTokens: req.MaxTokens, begin: begin}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "application/json" { // a server that does not stream answers in one piece
		err = g.whole(resp.Body)
	} else {
		err = g.stream(resp.Body, func() {
			timeout.Reset(c.opts.IdleTimeout)
		})
	}
	if err == nil && !g.cut {
		// The server ended the text, so what was held back for stop strings is text:
		// vLLM and llama.cpp hold back partial stop strings themselves.
		if rest := stops.Flush(); rest != "" {
			err = onText(rest)
		}
	}
	res = g.finish()
	if err != nil {
		return res, fmt.Errorf("%s: %w", url, cause(ctx, err))
	}
	return res, nil
}

// cause prefers the reason ctx was cancelled (a timeout) over the error it caused.
func cause(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil {
		return c
	}
	return err
}

// do sends one request and turns a status other than 200 into an *HTTPError.
func (c *Client) do(ctx context.Context, method, url string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hreq, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		hreq.Header.Set("Content-Type", "application/json")
		hreq.Header.Set("Accept", "text/event-stream")
	}
	if c.opts.APIKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+c.opts.APIKey)
	}
	resp, err := c.opts.HTTPClient.Do(hreq)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		msg := strings.TrimSpace(string(raw))
		var ch chunk
		if json.Unmarshal(raw, &ch) == nil {
			msg = orElse(ch.errorMessage(), msg)
		}
		msg = redact.New(c.opts.APIKey).String(msg) // servers quote a wrong key back
		return nil, &HTTPError{URL: url, StatusCode: resp.StatusCode, Message: orElse(msg, "(empty body)"),
			RetryAfterHeader: resp.Header.Get("Retry-After")}
	}
	return resp, nil
}

// resolveModel returns the model name to send, asking the server once if none was given.
func (c *Client) resolveModel(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.model != "" {
		return c.model, nil
	}
	ctx, cancel := context.WithTimeoutCause(ctx, c.opts.HeaderTimeout,
		fmt.Errorf("%w: listing models took over %v", ErrTimeout, c.opts.HeaderTimeout))
	defer cancel()
	url := c.base + "/v1/models"
	resp, err := c.do(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("finding the served model (or name one): %w", cause(ctx, err))
	}
	defer resp.Body.Close()
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxLine)).Decode(&list); err != nil {
		return "", fmt.Errorf("%s: %w", url, cause(ctx, err))
	}
	if len(list.Data) == 0 || list.Data[0].ID == "" {
		return "", fmt.Errorf("%s: the server lists no model", url)
	}
	c.model = list.Data[0].ID
	return c.model, nil
}

// generation collects one completion's text and accounting.
type generation struct {
	stops     *stop.Matcher
	onText    func(string) error
	maxTokens int
	begin     time.Time

	res      engine.Result
	first    time.Time // the first event
	chunks   int       // chunks that carried text
	bytes    int
	finished bool // a finish_reason arrived
	cut      bool // a stop string appeared here
	usage    bool
}

// ErrStreamTooLarge is returned (wrapped) when a server sends an SSE line or
// event over the limits (maxLine, maxEvent): a stream of data: lines that never
// ends its event would otherwise be held in memory without bound.
var ErrStreamTooLarge = errors.New("malformed stream: over the size limit")

// stream reads server-sent events until [DONE], calling alive after every line.
// An event's lines, counted as sent, may total maxEvent bytes.
func (g *generation) stream(body io.Reader, alive func()) error {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var data strings.Builder // the event's data lines, each ended by \n
	lines, size := 0, 0      // data lines, and bytes of the event's lines as sent
	event := ""
	for sc.Scan() {
		alive()
		line := sc.Text()
		if line != "" {
			if size += len(line) + 1; size > maxEvent {
				return fmt.Errorf("%w: an event of more than %d bytes (no blank line ends it)", ErrStreamTooLarge, maxEvent)
			}
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "data":
				data.WriteString(value)
				data.WriteByte('\n')
				lines++
			case "event":
				event = value
			}
			// Comments (":..." keep-alives), id and retry need nothing.
			continue
		}
		size = 0
		if lines == 0 {
			event = ""
			continue
		}
		payload, name := strings.TrimSuffix(data.String(), "\n"), event
		data.Reset()
		lines, event = 0, ""
		if payload == "[DONE]" {
			return nil
		}
		done, err := g.event(name, payload)
		if err != nil || done {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%w: a line longer than %d bytes", ErrStreamTooLarge, maxLine)
		}
		return err
	}
	if lines > 0 { // the last event lacked its blank line
		payload := strings.TrimSuffix(data.String(), "\n")
		if payload == "[DONE]" {
			return nil
		}
		if done, err := g.event(event, payload); err != nil || done {
			return err
		}
	}
	if !g.finished {
		return errors.New("stream ended before the completion finished")
	}
	return nil
}

// whole reads a non-streamed completion.
func (g *generation) whole(body io.Reader) error {
	raw, err := io.ReadAll(io.LimitReader(body, maxText+1))
	if err != nil {
		return err
	}
	if len(raw) > maxText {
		return fmt.Errorf("response larger than %d bytes", maxText)
	}
	_, err = g.event("", string(raw))
	return err
}

// event handles one JSON payload; done reports that the generation is over.
func (g *generation) event(name, payload string) (done bool, err error) {
	if g.first.IsZero() {
		g.first = time.Now()
	}
	var ch chunk
	if err := json.Unmarshal([]byte(payload), &ch); err != nil {
		return false, fmt.Errorf("malformed stream: event %.80q: %v", payload, err)
	}
	if msg := ch.errorMessage(); msg != "" || name == "error" {
		return false, fmt.Errorf("server error: %s", orElse(msg, payload))
	}
	if ch.Usage != nil {
		g.usage = true
		g.res.PromptTokens = ch.Usage.PromptTokens
		g.res.Tokens = ch.Usage.CompletionTokens
	}
	if len(ch.Choices) == 0 {
		if ch.Usage == nil {
			return false, fmt.Errorf("malformed stream: event %.80q has no choices", payload)
		}
		return false, nil
	}
	choice := ch.Choices[0]
	// One of the three is set, by the endpoint and whether it streams.
	if piece := choice.Text + choice.Delta.Content + choice.Message.Content; piece != "" {
		g.chunks++
		g.bytes += len(piece)
		switch {
		case g.maxTokens > 0 && g.chunks > g.maxTokens:
			return false, fmt.Errorf("server sent more than max_tokens=%d chunks", g.maxTokens)
		case g.bytes > maxText:
			return false, fmt.Errorf("server sent more than %d bytes", maxText)
		}
		text, stopped := g.stops.Add(piece)
		if text != "" {
			if err := g.onText(text); err != nil {
				return false, err
			}
		}
		if stopped {
			g.res.Stop = engine.StopString
			g.cut = true
			return true, nil
		}
	}
	switch choice.FinishReason {
	case "":
		return false, nil
	case "length":
		g.res.Stop = engine.StopLength
	case "stop":
		g.res.Stop = engine.StopEOS
		if s, ok := choice.StopReason.(string); ok && s != "" {
			g.res.Stop = engine.StopString
		}
	default:
		return false, fmt.Errorf("server ended with finish_reason %q", choice.FinishReason)
	}
	g.finished = true
	// Keep reading: the usage report and [DONE] follow.
	return false, nil
}

// finish fills in the result.
func (g *generation) finish() engine.Result {
	res := g.res
	res.Text = g.stops.Text()
	if res.Stop == "" {
		res.Stop = engine.StopEOS // [DONE] without a finish_reason
	}
	if !g.usage {
		res.Tokens = g.chunks
	}
	now := time.Now()
	if !g.first.IsZero() {
		res.PromptTime = g.first.Sub(g.begin)
		res.GenTime = now.Sub(g.first)
	} else {
		res.PromptTime = now.Sub(g.begin)
	}
	return res
}
