package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/chat"
	"github.com/rewoo-agent/agent/engine/sample"
	"github.com/rewoo-agent/agent/engine/stop"
)

// Limits on what one request may ask for.
const (
	maxStops    = 16
	maxStopLen  = 256
	maxMessages = 4096
)

// job is one validated request, ready for the engine.
type job struct {
	chat   bool
	req    engine.Request // req.Stop is empty: stop strings are matched here, see run
	ids    []int          // the prompt as token ids, when given so
	stops  []string
	stream bool
	usage  bool // stream_options.include_usage
}

// badRequest is a request the server refuses with 400; param names the field.
type badRequest struct {
	param string
	msg   string
}

func (e *badRequest) Error() string {
	if e.param == "" {
		return e.msg
	}
	return e.param + ": " + e.msg
}

func bad(param, format string, args ...any) error {
	return &badRequest{param: param, msg: fmt.Sprintf(format, args...)}
}

// params are the fields both endpoints take. Pointers tell an omitted field from a
// zero one; the fields that are refused are decoded only to be refused.
type params struct {
	Model             string          `json:"model"`
	MaxTokens         *int            `json:"max_tokens"`
	Temperature       *float64        `json:"temperature"`
	TopP              *float64        `json:"top_p"`
	TopK              *int            `json:"top_k"`
	MinP              *float64        `json:"min_p"`
	RepetitionPenalty *float64        `json:"repetition_penalty"`
	RepeatPenalty     *float64        `json:"repeat_penalty"`
	RepeatLastN       *int            `json:"repeat_last_n"`
	Seed              *int64          `json:"seed"`
	Stop              json.RawMessage `json:"stop"`
	Stream            bool            `json:"stream"`
	StreamOptions     *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`

	N                *int               `json:"n"`
	Logprobs         json.RawMessage    `json:"logprobs"`
	PresencePenalty  *float64           `json:"presence_penalty"`
	FrequencyPenalty *float64           `json:"frequency_penalty"`
	LogitBias        map[string]float64 `json:"logit_bias"`
}

type completionRequest struct {
	params
	Prompt json.RawMessage `json:"prompt"`
	Echo   bool            `json:"echo"`
	BestOf *int            `json:"best_of"`
	Suffix *string         `json:"suffix"`
}

type chatRequest struct {
	params
	Messages            []chatMessage   `json:"messages"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	TopLogprobs         *int            `json:"top_logprobs"`
	Tools               json.RawMessage `json:"tools"`
	ResponseFormat      *struct {
		Type string `json:"type"`
	} `json:"response_format"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// decodeJSON reads one JSON object from body and nothing after it.
func decodeJSON(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return bad("", "the body holds more than one JSON value")
	}
	return nil
}

// parseCompletion validates a /v1/completions body.
func parseCompletion(body io.Reader, model string) (*job, error) {
	var r completionRequest
	if err := decodeJSON(body, &r); err != nil {
		return nil, err
	}
	j, err := r.params.job(model, r.MaxTokens)
	if err != nil {
		return nil, err
	}
	switch {
	case r.Echo:
		return nil, bad("echo", "not supported")
	case r.BestOf != nil && *r.BestOf != 1:
		return nil, bad("best_of", "only 1 is supported")
	case r.Suffix != nil && *r.Suffix != "":
		return nil, bad("suffix", "not supported")
	}
	j.req.Prompt, j.ids, err = parsePrompt(r.Prompt)
	return j, err
}

// parsePrompt takes a prompt as text, token ids, or an array of one of either.
func parsePrompt(raw json.RawMessage) (string, []int, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil, bad("prompt", "required")
	}
	var text string
	if json.Unmarshal(raw, &text) == nil {
		return text, nil, nil
	}
	var texts []string
	if json.Unmarshal(raw, &texts) == nil {
		if len(texts) != 1 {
			return "", nil, bad("prompt", "%d prompts: one per request is supported", len(texts))
		}
		return texts[0], nil, nil
	}
	var ids []int
	if json.Unmarshal(raw, &ids) != nil {
		var batch [][]int
		if json.Unmarshal(raw, &batch) != nil {
			return "", nil, bad("prompt", "want a string, an array of token ids, or an array of one of either")
		}
		if len(batch) != 1 {
			return "", nil, bad("prompt", "%d prompts: one per request is supported", len(batch))
		}
		ids = batch[0]
	}
	if len(ids) == 0 {
		return "", nil, bad("prompt", "no token ids")
	}
	for i, id := range ids {
		if id < 0 || id > math.MaxInt32 {
			return "", nil, bad("prompt", "token id %d at %d is not a valid id", id, i)
		}
	}
	return "", ids, nil
}

// parseChat validates a /v1/chat/completions body and writes its prompt with tmpl.
func parseChat(body io.Reader, model string, tmpl chat.Template) (*job, error) {
	var r chatRequest
	if err := decodeJSON(body, &r); err != nil {
		return nil, err
	}
	maxTokens := r.MaxTokens
	if r.MaxCompletionTokens != nil {
		maxTokens = r.MaxCompletionTokens
	}
	j, err := r.params.job(model, maxTokens)
	if err != nil {
		return nil, err
	}
	switch {
	case r.TopLogprobs != nil && *r.TopLogprobs != 0:
		return nil, bad("top_logprobs", "not supported")
	case len(bytes.TrimSpace(r.Tools)) > 0 && !isNullOrEmpty(r.Tools):
		return nil, bad("tools", "not supported")
	case r.ResponseFormat != nil && r.ResponseFormat.Type != "" && r.ResponseFormat.Type != "text":
		return nil, bad("response_format", "type %q is not supported (only text)", r.ResponseFormat.Type)
	case len(r.Messages) == 0:
		return nil, bad("messages", "required")
	case len(r.Messages) > maxMessages:
		return nil, bad("messages", "%d messages: at most %d", len(r.Messages), maxMessages)
	}
	msgs := make([]chat.Message, len(r.Messages))
	for i, m := range r.Messages {
		role := m.Role
		if role == "developer" { // OpenAI's newer name for the system message
			role = "system"
		}
		text, err := messageText(m.Content)
		if err != nil {
			return nil, bad(fmt.Sprintf("messages[%d].content", i), "%v", err)
		}
		msgs[i] = chat.Message{Role: role, Content: text}
	}
	if j.req.Prompt, err = tmpl.Conversation(msgs); err != nil {
		return nil, bad("messages", "%v", err)
	}
	j.chat = true
	j.stops = append(j.stops, tmpl.Stops()...)
	return j, nil
}

func isNullOrEmpty(raw json.RawMessage) bool {
	var v []json.RawMessage
	return string(bytes.TrimSpace(raw)) == "null" || (json.Unmarshal(raw, &v) == nil && len(v) == 0)
}

// messageText is a message's content: a string, or an array of text parts.
func messageText(raw json.RawMessage) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var parts []struct {
		Type string  `json:"type"`
		Text *string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("want a string or an array of text parts")
	}
	var b bytes.Buffer
	for i, p := range parts {
		if p.Type != "text" || p.Text == nil {
			return "", fmt.Errorf("part %d: type %q: only text parts are supported", i, p.Type)
		}
		b.WriteString(*p.Text)
	}
	return b.String(), nil
}

// job validates the shared fields into a job.
func (p *params) job(model string, maxTokens *int) (*job, error) {
	if p.Model != "" && p.Model != model {
		return nil, &modelNotFound{name: p.Model}
	}
	switch {
	case p.N != nil && *p.N != 1:
		return nil, bad("n", "only 1 is supported")
	case !isNullOrFalse(p.Logprobs):
		return nil, bad("logprobs", "not supported")
	case p.PresencePenalty != nil && *p.PresencePenalty != 0:
		return nil, bad("presence_penalty", "not supported (use repetition_penalty)")
	case p.FrequencyPenalty != nil && *p.FrequencyPenalty != 0:
		return nil, bad("frequency_penalty", "not supported (use repetition_penalty)")
	case len(p.LogitBias) > 0:
		return nil, bad("logit_bias", "not supported")
	case p.MinP != nil && *p.MinP != 0:
		return nil, bad("min_p", "not supported (only 0)")
	case p.RepeatLastN != nil && *p.RepeatLastN != -1:
		return nil, bad("repeat_last_n", "only -1 (the whole context) is supported")
	case p.Seed != nil && *p.Seed < 0:
		return nil, bad("seed", "%d: must be >= 0", *p.Seed)
	case maxTokens != nil && *maxTokens < 0:
		return nil, bad("max_tokens", "%d: must be >= 0 (0 or omitted: up to the context length)", *maxTokens)
	case p.TopK != nil && *p.TopK < -1:
		return nil, bad("top_k", "%d: must be >= -1 (0 or -1 is off)", *p.TopK)
	}
	j := &job{stream: p.Stream, usage: p.StreamOptions != nil && p.StreamOptions.IncludeUsage}
	s := engine.Sampling{Temperature: 1, TopP: 1, RepetitionPenalty: 1}
	if p.Temperature != nil {
		s.Temperature = *p.Temperature
	}
	if p.TopP != nil {
		s.TopP = *p.TopP
	}
	if p.TopK != nil && *p.TopK > 0 {
		s.TopK = *p.TopK
	}
	if p.RepeatPenalty != nil {
		s.RepetitionPenalty = *p.RepeatPenalty
	}
	if p.RepetitionPenalty != nil {
		s.RepetitionPenalty = *p.RepetitionPenalty
	}
	if p.Seed != nil {
		s.Seed = uint64(*p.Seed)
	}
	if err := sample.Validate(s); err != nil {
		return nil, bad("", "%v", err)
	}
	j.req.Sampling = s
	if maxTokens != nil {
		j.req.MaxTokens = *maxTokens
	}
	var err error
	if j.stops, err = parseStop(p.Stop); err != nil {
		return nil, err
	}
	return j, nil
}

func isNullOrFalse(raw json.RawMessage) bool {
	switch string(bytes.TrimSpace(raw)) {
	case "", "null", "false", "0":
		return true
	}
	return false
}

// parseStop takes stop as a string or an array of strings.
func parseStop(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var stops []string
	var one string
	if json.Unmarshal(raw, &one) == nil {
		stops = []string{one}
	} else if json.Unmarshal(raw, &stops) != nil {
		return nil, bad("stop", "want a string or an array of strings")
	}
	if len(stops) > maxStops {
		return nil, bad("stop", "%d stop strings: at most %d", len(stops), maxStops)
	}
	for _, s := range stops {
		if len(s) > maxStopLen {
			return nil, bad("stop", "a stop string of %d bytes: at most %d", len(s), maxStopLen)
		}
	}
	if _, err := stop.New(stops); err != nil {
		return nil, bad("stop", "%v", err)
	}
	return stops, nil
}

// modelNotFound is a request for a model this server does not serve.
type modelNotFound struct{ name string }

func (e *modelNotFound) Error() string {
	return fmt.Sprintf("the model %q does not exist here", e.name)
}
