package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/chat"
)

// API names the endpoint a Client calls.
type API string

const (
	// APIAuto calls /v1/completions and, when the server answers 404 Not Found or
	// 405 Method Not Allowed before anything is generated (a chat-only server, or
	// OpenAI's "this is a chat model"), /v1/chat/completions; the first endpoint
	// that answers is kept for the client's later calls. A model list carries no
	// standard field saying which endpoint a model takes, so the answer decides.
	APIAuto API = "auto"
	// APICompletions calls POST /v1/completions with the prompt as it is.
	APICompletions API = "completions"
	// APIChat calls POST /v1/chat/completions with the prompt as messages.
	APIChat API = "chat"
)

// ErrAPI is returned for an API name other than auto, completions and chat.
var ErrAPI = errors.New("unknown API (want auto, completions or chat)")

// ParseAPI checks an API name; "" is APIAuto.
func ParseAPI(s string) (API, error) {
	switch a := API(s); a {
	case "":
		return APIAuto, nil
	case APIAuto, APICompletions, APIChat:
		return a, nil
	}
	return "", fmt.Errorf("%w: %q", ErrAPI, s)
}

// chatRequest is the body of POST /v1/chat/completions.
type chatRequest struct {
	Model    string        `json:"model,omitempty"`
	Messages []chatMessage `json:"messages"`
	settings
}

type chatMessage struct {
	Role    string `json:"role,omitempty"`
	Content string `json:"content"`
}

// messages takes a prompt written with t back apart, so that a chat server
// applies its own template once rather than around ours: t.Prompt(message) (the
// preamble, if any, then the user's turn, ending with the assistant marker)
// becomes a system and a user message. Any other text, a raw prompt, goes as
// one user message. The preamble is t.System when the prompt starts with it, or
// else what comes before the first user marker, so a message that quotes the
// marker stays whole.
func messages(t chat.Template, prompt string) []chatMessage {
	raw := []chatMessage{{Role: "user", Content: prompt}}
	body, ok := strings.CutSuffix(prompt, " "+t.Assistant)
	if !ok || t.User == "" || t.Assistant == "" {
		return raw
	}
	user := t.User + " "
	system, message := "", ""
	switch {
	case t.System != "" && strings.HasPrefix(body, t.System+" "+user):
		system, message = t.System, body[len(t.System)+1+len(user):]
	case strings.HasPrefix(body, user):
		message = body[len(user):]
	default:
		before, after, found := strings.Cut(body, " "+user)
		if !found || before == "" {
			return raw
		}
		system, message = before, after
	}
	if system == "" {
		return []chatMessage{{Role: "user", Content: message}}
	}
	return []chatMessage{{Role: "system", Content: system}, {Role: "user", Content: message}}
}

// send posts req to the endpoint in use and returns the response with the URL
// it came from. Under APIAuto, until an endpoint has answered, it tries
// completions first and chat where the server has no completions endpoint.
func (c *Client) send(ctx context.Context, model string, req engine.Request, con constraint) (*http.Response, string, error) {
	c.mu.Lock()
	api := c.api
	c.mu.Unlock()
	if api != APIAuto {
		return c.post(ctx, api, model, req, con)
	}
	resp, url, err := c.post(ctx, APICompletions, model, req, con)
	var he *HTTPError
	if err == nil {
		c.settle(APICompletions)
		return resp, url, nil
	}
	if !errors.As(err, &he) || (he.StatusCode != http.StatusNotFound && he.StatusCode != http.StatusMethodNotAllowed) {
		return nil, url, err
	}
	resp, chatURL, err := c.post(ctx, APIChat, model, req, con)
	if err != nil {
		return nil, chatURL, fmt.Errorf("%w (and %s answered %s: %s)", err, url, http.StatusText(he.StatusCode), he.Message)
	}
	c.settle(APIChat)
	return resp, chatURL, nil
}

// settle keeps the endpoint auto found.
func (c *Client) settle(api API) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.api = api
}

// post sends one generation request to the endpoint of api.
func (c *Client) post(ctx context.Context, api API, model string, req engine.Request, con constraint) (*http.Response, string, error) {
	url := c.base + "/v1/completions"
	var v any = newCompletionRequest(model, req, con)
	if api == APIChat {
		url = c.base + "/v1/chat/completions"
		v = chatRequest{Model: model, Messages: messages(c.opts.Template, req.Prompt), settings: newSettings(req, con)}
	}
	body, err := json.Marshal(v)
	if err != nil {
		return nil, url, err
	}
	resp, err := c.do(ctx, http.MethodPost, url, body)
	return resp, url, err
}
