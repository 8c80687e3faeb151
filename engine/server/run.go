package server

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/batch"
	"github.com/rewoo-agent/agent/engine/stop"
)

func (s *Server) completions(w http.ResponseWriter, r *http.Request) {
	s.run(w, r, func(body io.Reader) (*job, error) { return parseCompletion(body, s.opts.Model) })
}

func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request) {
	s.run(w, r, func(body io.Reader) (*job, error) { return parseChat(body, s.opts.Model, s.opts.Template) })
}

// errClientGone is the cause of a request's cancellation when its client left.
var errClientGone = errors.New("the client closed the request")

// run answers one completion request: parse, wait for a turn and the model,
// generate, and write the answer whole or as it streams.
func (s *Server) run(w http.ResponseWriter, r *http.Request, parse func(io.Reader) (*job, error)) {
	arrived := time.Now()
	j, err := parse(r.Body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// The engine call ends when the client leaves (r's context) or when Shutdown
	// gives up waiting.
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	go func() {
		select {
		case <-s.abort:
			cancel(ErrClosed)
		case <-ctx.Done():
		}
	}()

	done, err := s.turn(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer done()
	llm, leave, err := s.keeper.acquire(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer leave()

	stops, err := stop.New(j.stops)
	if err != nil { // parse checked them
		s.fail(w, r, err)
		return
	}
	o := &output{
		s: s, w: w, j: j, stops: stops, arrived: arrived,
		id: "cmpl-" + rand.Text(), created: arrived.Unix(),
	}
	if j.chat {
		o.id = "chatcmpl-" + rand.Text()
	}
	var res engine.Result
	if j.ids != nil {
		g, ok := llm.(IDGenerator)
		if !ok {
			s.fail(w, r, bad("prompt", "this model takes prompts as text only, not token ids"))
			return
		}
		res, _, err = g.GenerateIDs(ctx, j.ids, j.req, o.onText)
	} else {
		res, err = llm.Generate(ctx, j.req, o.onText)
	}
	// The engine's work is over: its turn and the model are given back before the
	// last bytes go out, so a client that has its answer (and asks agent ps) finds
	// the request no longer running.
	leave()
	done()
	o.finish(r, res, err)
}

// fail answers a request that produced no output with the error's status.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		br     *badRequest
		nf     *modelNotFound
		tooBig *http.MaxBytesError
		syn    *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case r.Context().Err() != nil:
		// Nobody reads this; the code is for the request metrics (nginx's).
		writeError(w, 499, "invalid_request_error", "client_closed_request", errClientGone.Error())
	case errors.As(err, &br):
		e := newAPIError("invalid_request_error", "", br.Error())
		if br.param != "" {
			e.Param = &br.param
		}
		writeAPIError(w, http.StatusBadRequest, e)
	case errors.As(err, &nf):
		writeError(w, http.StatusNotFound, "invalid_request_error", "model_not_found",
			fmt.Sprintf("%v: this server serves %q", err, s.opts.Model))
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large",
			fmt.Sprintf("the request body is larger than %d bytes", tooBig.Limit))
	case errors.As(err, &syn), errors.As(err, &typ), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", "malformed JSON body: "+err.Error())
	case errors.Is(err, ErrBusy), errors.Is(err, batch.ErrBusy): // the batching engine's own queue is full
		writeError(w, http.StatusServiceUnavailable, "server_error", "server_busy", err.Error())
	case errors.Is(err, ErrClosed):
		writeError(w, http.StatusServiceUnavailable, "server_error", "shutting_down", err.Error())
	case errors.Is(err, engine.ErrIDRange):
		prompt := "prompt"
		e := newAPIError("invalid_request_error", "", err.Error())
		e.Param = &prompt
		writeAPIError(w, http.StatusBadRequest, e)
	case errors.Is(err, engine.ErrContextLength):
		writeError(w, http.StatusBadRequest, "invalid_request_error", "context_length_exceeded", err.Error())
	default:
		s.opts.Logger.Error("request failed", "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "server_error", "", err.Error())
	}
}

// errStopped ends a generation at a stop string.
var errStopped = errors.New("stop string")

// output turns one generation's text into the response: collected whole, or
// streamed as server-sent events. Stop strings are matched here rather than in the
// engine, so that the one that matched can be reported as vLLM does.
type output struct {
	s       *Server
	w       http.ResponseWriter
	j       *job
	stops   *stop.Matcher
	id      string
	created int64

	raw     strings.Builder // everything the engine produced
	text    strings.Builder // what is answered (non-streamed)
	matched string          // the stop string that ended the generation
	started bool            // the event stream began
	arrived time.Time
	last    time.Time // the last piece from the engine
}

// onText takes one piece of text from the engine.
func (o *output) onText(piece string) error {
	now := time.Now()
	if o.last.IsZero() {
		o.s.metrics.ttft.Observe(now.Sub(o.arrived).Seconds())
	} else {
		o.s.metrics.itl.Observe(now.Sub(o.last).Seconds())
	}
	o.last = now
	o.raw.WriteString(piece)
	text, stopped := o.stops.Add(piece)
	if err := o.emit(text); err != nil {
		return err
	}
	if stopped {
		rest := o.raw.String()[len(o.stops.Text()):]
		for _, s := range o.j.stops {
			if strings.HasPrefix(rest, s) {
				o.matched = s
				break
			}
		}
		return errStopped
	}
	return nil
}

func (o *output) emit(text string) error {
	if text == "" {
		return nil
	}
	if !o.j.stream {
		o.text.WriteString(text)
		return nil
	}
	return o.send(o.response(text, nil))
}

// finish ends the response after the engine returned.
func (o *output) finish(r *http.Request, res engine.Result, err error) {
	if errors.Is(err, errStopped) {
		err, res.Stop = nil, engine.StopString
	} else if err == nil {
		err = o.emit(o.stops.Flush())
	}
	m := o.s.metrics
	m.promptTokens.Add(float64(res.PromptTokens))
	m.genTokens.Add(float64(res.Tokens))
	if err != nil {
		switch {
		case !o.started:
			o.s.fail(o.w, r, err)
		case r.Context().Err() == nil: // the client is still there to read it
			o.s.opts.Logger.Error("generation failed", "path", r.URL.Path, "err", err)
			o.send(map[string]apiError{"error": newAPIError("server_error", "", err.Error())})
		}
		return
	}
	finish := &choiceEnd{Reason: "stop"}
	switch res.Stop {
	case engine.StopLength:
		finish.Reason = "length"
	case engine.StopString:
		if o.matched != "" {
			finish.Stop = &o.matched
		}
	}
	use := &usage{PromptTokens: res.PromptTokens, CompletionTokens: res.Tokens, TotalTokens: res.PromptTokens + res.Tokens}
	if !o.j.stream {
		resp := o.response(o.text.String(), finish)
		resp.Usage = use
		http.NewResponseController(o.w).SetWriteDeadline(time.Now().Add(writeTimeout))
		writeJSON(o.w, http.StatusOK, resp)
		return
	}
	if o.send(o.response("", finish)) != nil {
		return
	}
	if o.j.usage {
		end := o.response("", nil)
		end.Choices, end.Usage = []choice{}, use
		if o.send(end) != nil {
			return
		}
	}
	o.write("data: [DONE]\n\n")
}

// send writes one event, starting the stream first.
func (o *output) send(v any) error {
	if !o.started {
		h := o.w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
		o.w.WriteHeader(http.StatusOK)
		o.started = true
		if o.j.chat { // OpenAI's first chat chunk carries the role alone
			role := o.response("", nil)
			role.Choices = []choice{{Delta: &message{Role: "assistant"}}}
			if err := o.send(role); err != nil {
				return err
			}
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return o.write("data: " + string(b) + "\n\n")
}

// writeTimeout bounds one write to a client, so that a client that stops reading
// cannot hold its turn at the engine for ever.
const writeTimeout = 2 * time.Minute

func (o *output) write(s string) error {
	rc := http.NewResponseController(o.w)
	rc.SetWriteDeadline(time.Now().Add(writeTimeout)) // fails only where unsupported (tests' recorders)
	if _, err := io.WriteString(o.w, s); err != nil {
		return err
	}
	return rc.Flush()
}

// The wire shapes of OpenAI's responses and chunks.
type (
	response struct {
		ID      string   `json:"id"`
		Object  string   `json:"object"`
		Created int64    `json:"created"`
		Model   string   `json:"model"`
		Choices []choice `json:"choices"`
		Usage   *usage   `json:"usage,omitempty"`
	}
	choice struct {
		Index        int      `json:"index"`
		Text         *string  `json:"text,omitempty"`    // completions
		Message      *message `json:"message,omitempty"` // chat
		Delta        *message `json:"delta,omitempty"`   // chat chunks
		Logprobs     any      `json:"logprobs"`
		FinishReason *string  `json:"finish_reason"`
		StopReason   *string  `json:"stop_reason"` // vLLM: the stop string that ended it
	}
	message struct {
		Role    string  `json:"role,omitempty"`
		Content *string `json:"content,omitempty"`
	}
	usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	}
	// choiceEnd is how a choice ended.
	choiceEnd struct {
		Reason string
		Stop   *string
	}
)

// response is a whole response, or one streamed chunk: a piece of text, or the
// end of the choice.
func (o *output) response(text string, end *choiceEnd) response {
	r := response{ID: o.id, Created: o.created, Model: o.s.opts.Model}
	c := choice{}
	if end != nil {
		c.FinishReason, c.StopReason = &end.Reason, end.Stop
	}
	switch {
	case !o.j.chat:
		r.Object = "text_completion"
		c.Text = &text
	case o.j.stream:
		r.Object = "chat.completion.chunk"
		c.Delta = &message{}
		if text != "" {
			c.Delta.Content = &text
		}
	default:
		r.Object = "chat.completion"
		c.Message = &message{Role: "assistant", Content: &text}
	}
	r.Choices = []choice{c}
	return r
}
