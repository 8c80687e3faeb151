package plannertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/rewoo-agent/agent/engine"
)

// completionRequest is the part of an OpenAI /v1/completions request the scripted
// server reads.
type completionRequest struct {
	Prompt      json.RawMessage `json:"prompt"`
	MaxTokens   int             `json:"max_tokens"`
	Temperature *float64        `json:"temperature"`
	Stop        json.RawMessage `json:"stop"`
	Stream      bool            `json:"stream"`
}

// stringOrList decodes a JSON string or array of strings; null gives nil.
func stringOrList(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("want a string or a list of strings: %w", err)
	}
	return list, nil
}

type choice struct {
	Text         string  `json:"text"`
	Index        int     `json:"index"`
	FinishReason *string `json:"finish_reason"`
	// StopReason is the stop string that ended the text, as vLLM reports it.
	StopReason string `json:"stop_reason,omitempty"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type completion struct {
	ID      string   `json:"id"`
	Object  string   `json:"object"`
	Model   string   `json:"model"`
	Choices []choice `json:"choices"`
	Usage   *usage   `json:"usage,omitempty"`
}

// Handler serves e as an OpenAI-compatible server: POST /v1/completions, streamed
// as server-sent events or not, and GET /v1/models. A streamed reply goes out one
// token per event as the engine writes it; a client that goes away cancels it.
func (e *Engine) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"object":"list","data":[{"id":"scripted","object":"model"}]}`)
	})
	mux.HandleFunc("POST /v1/completions", e.serveCompletion)
	return mux
}

// NewServer starts an httptest server for e.Handler; the caller closes it.
func (e *Engine) NewServer() *httptest.Server { return httptest.NewServer(e.Handler()) }

func (e *Engine) serveCompletion(w http.ResponseWriter, r *http.Request) {
	var req completionRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, `{"error":{"message":"bad request body"}}`, http.StatusBadRequest)
		return
	}
	prompts, err := stringOrList(req.Prompt)
	if err != nil || len(prompts) != 1 {
		http.Error(w, `{"error":{"message":"prompt must be one string"}}`, http.StatusBadRequest)
		return
	}
	stops, err := stringOrList(req.Stop)
	if err != nil {
		http.Error(w, `{"error":{"message":"bad stop"}}`, http.StatusBadRequest)
		return
	}
	ereq := engine.Request{Prompt: prompts[0], MaxTokens: req.MaxTokens, Stop: stops}
	if req.Temperature != nil {
		ereq.Sampling.Temperature = *req.Temperature
	}
	out := completion{ID: "cmpl-scripted", Object: "text_completion", Model: "scripted"}
	if !req.Stream {
		res, err := e.Generate(r.Context(), ereq, func(string) error { return nil })
		if err != nil {
			http.Error(w, fmt.Sprintf(`{"error":{"message":%q}}`, err.Error()), http.StatusInternalServerError)
			return
		}
		out.Choices = []choice{{Text: res.Text, FinishReason: finish(res.Stop), StopReason: e.matched(ereq, res)}}
		out.Usage = &usage{res.PromptTokens, res.Tokens, res.PromptTokens + res.Tokens}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
		return
	}
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	send := func(c completion) error {
		data, err := json.Marshal(c)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "data: %s\n\n", data); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	}
	res, err := e.Generate(r.Context(), ereq, func(piece string) error {
		out.Choices = []choice{{Text: piece}}
		return send(out)
	})
	if err != nil {
		return // the client went away; the stream just ends
	}
	out.Choices = []choice{{FinishReason: finish(res.Stop), StopReason: e.matched(ereq, res)}}
	out.Usage = &usage{res.PromptTokens, res.Tokens, res.PromptTokens + res.Tokens}
	if send(out) == nil {
		fmt.Fprint(w, "data: [DONE]\n\n")
	}
}

// matched returns the stop string that ended res, or "".
func (e *Engine) matched(req engine.Request, res engine.Result) string {
	if res.Stop != engine.StopString {
		return ""
	}
	rest := strings.TrimPrefix(e.reply(req.Prompt), res.Text)
	for _, s := range req.Stop {
		if s != "" && strings.HasPrefix(rest, s) {
			return s
		}
	}
	return ""
}

// finish maps a stop reason to OpenAI's finish_reason.
func finish(s engine.StopReason) *string {
	r := "stop"
	if s == engine.StopLength {
		r = "length"
	}
	return &r
}
