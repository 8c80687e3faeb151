package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/chat"
)

// Defaults of Options.
const (
	DefaultKeepAlive    = 5 * time.Minute
	DefaultMaxRunning   = 1
	DefaultMaxWaiting   = 128
	DefaultMaxBodyBytes = 4 << 20
)

// Options configure a Server. Zero values take the defaults noted.
type Options struct {
	// Model is the served model's name, listed by /v1/models and echoed in
	// responses; requests naming another model get 404. Required.
	Model string
	// Load loads the model. Required.
	Load Loader
	// KeepAlive is how long the model stays loaded after the last request ends:
	// 0 means DefaultKeepAlive, a negative value means until Shutdown.
	KeepAlive time.Duration
	// MaxRunning is the number of requests handed to the engine at once: 1 for an
	// engine that takes calls in turn (engine/generate), the batch size for one
	// that batches. Default DefaultMaxRunning.
	MaxRunning int
	// MaxWaiting is the number of requests that may wait for a turn; past it a
	// request gets 503 at once. Default DefaultMaxWaiting; negative means none.
	MaxWaiting int
	// APIKeys, when any, are the bearer tokens /v1/ requests must carry. /health
	// and /metrics stay open, as in vLLM.
	APIKeys []string
	// MaxBodyBytes bounds a request body. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Template writes chat messages as the model's prompt. Zero: chat.Airoboros.
	Template chat.Template
	// Logger receives loads, unloads and server-side failures. Nil: discarded.
	Logger *slog.Logger
}

// IDGenerator is an optional capability of an engine.LLM, needed for prompts given
// as token ids: continuing a prompt of ids taken as they are (no BOS added).
// generate.Generator has it.
type IDGenerator interface {
	GenerateIDs(ctx context.Context, prompt []int, req engine.Request, onText func(string) error) (engine.Result, []int, error)
}

// Server answers OpenAI API requests with the model its Loader loads. It is an
// http.Handler; Serve runs it on a listener of its own.
type Server struct {
	opts    Options
	keeper  *keeper
	slots   chan struct{} // one token per request at the engine
	metrics *metrics
	sched   *schedStats // the loaded engine's scheduler, if it has one
	mux     *http.ServeMux
	created int64 // the Unix time /v1/models reports

	mu       sync.Mutex
	active   int           // API requests being handled
	draining bool          // Shutdown began: new API requests are refused
	waiting  int           // requests queued for a turn
	idle     chan struct{} // closed once draining and no API request is left
	abort    chan struct{} // closed when Shutdown's ctx ended: running requests are cancelled
	http     *http.Server  // Serve's, if it runs
}

// New returns a server for opts. It loads nothing until the first request.
func New(opts Options) (*Server, error) {
	switch {
	case opts.Model == "":
		return nil, errors.New("server: no model name")
	case opts.Load == nil:
		return nil, errors.New("server: no loader")
	}
	if opts.KeepAlive == 0 {
		opts.KeepAlive = DefaultKeepAlive
	}
	if opts.MaxRunning <= 0 {
		opts.MaxRunning = DefaultMaxRunning
	}
	if opts.MaxWaiting == 0 {
		opts.MaxWaiting = DefaultMaxWaiting
	}
	opts.MaxWaiting = max(opts.MaxWaiting, 0)
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Template == (chat.Template{}) {
		opts.Template = chat.Airoboros
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts:    opts,
		slots:   make(chan struct{}, opts.MaxRunning),
		metrics: newMetrics(),
		sched:   &schedStats{},
		mux:     http.NewServeMux(),
		created: time.Now().Unix(),
		idle:    make(chan struct{}),
		abort:   make(chan struct{}),
	}
	log := opts.Logger
	s.metrics.reg.MustRegister(newSchedCollector(s.sched))
	s.keeper = &keeper{
		load:      s.follow(opts.Load),
		keepAlive: opts.KeepAlive,
		onLoad: func(d time.Duration, err error) {
			s.metrics.loadTime.Observe(d.Seconds())
			if err != nil {
				log.Error("model load failed", "model", opts.Model, "err", err)
				return
			}
			s.metrics.loaded.Set(1)
			log.Info("model loaded", "model", opts.Model, "took", d.Round(time.Millisecond))
		},
		onUnload: func(err error) {
			s.metrics.loaded.Set(0)
			if err != nil {
				log.Error("releasing the model failed", "model", opts.Model, "err", err)
				return
			}
			log.Info("model unloaded", "model", opts.Model)
		},
	}
	s.mux.Handle("/v1/completions", s.api("completions", http.MethodPost, s.completions))
	s.mux.Handle("/v1/chat/completions", s.api("chat_completions", http.MethodPost, s.chatCompletions))
	s.mux.Handle("/v1/models", s.api("models", http.MethodGet, s.models))
	s.mux.HandleFunc(PathPS, s.ps)
	s.mux.HandleFunc("GET /health", s.health)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found_error", "", "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return s, nil
}

// follow wraps load so that s.sched follows the loaded engine's scheduler, and
// logs its prefix cache's record when the engine is released.
func (s *Server) follow(load Loader) Loader {
	return func(ctx context.Context) (engine.LLM, func() error, error) {
		llm, release, err := load(ctx)
		if err != nil || llm == nil {
			return llm, release, err
		}
		s.sched.loaded(llm)
		return llm, func() error {
			if st, ok := s.sched.released(); ok {
				s.opts.Logger.Info("engine stats", "model", s.opts.Model, "steps", st.Steps,
					"prompt_tokens", st.PromptTokens, "generated_tokens", st.GeneratedTokens,
					"prefix_hit_rate", fmt.Sprintf("%.3f", st.HitRate()), "tokens_saved", st.TokensSaved,
					"preemptions", st.Preemptions)
			}
			if release == nil {
				return nil
			}
			return release()
		}, nil
	}
}

// ServeHTTP routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Serve accepts connections on ln until Shutdown, which makes it return
// http.ErrServerClosed. It may be called once.
func (s *Server) Serve(ln net.Listener) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.opts.Logger.Handler(), slog.LevelWarn),
	}
	s.mu.Lock()
	switch {
	case s.draining:
		s.mu.Unlock()
		return http.ErrServerClosed
	case s.http != nil:
		s.mu.Unlock()
		return errors.New("server: Serve called twice")
	}
	s.http = hs
	s.mu.Unlock()
	return hs.Serve(ln)
}

// Shutdown drains the server: it stops accepting connections (when Serve runs) and
// refuses new API requests with 503, waits for the accepted ones (running and
// queued) to finish, then unloads the model. If ctx ends first, the requests still
// running are cancelled, and Shutdown returns ctx's error once they have ended.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	if s.active == 0 {
		s.closeIdle()
	}
	hs := s.http
	s.mu.Unlock()

	var err error
	if hs != nil {
		err = hs.Shutdown(ctx)
	}
	select {
	case <-s.idle:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		s.mu.Lock()
		select {
		case <-s.abort:
		default:
			close(s.abort)
		}
		s.mu.Unlock()
		if hs != nil {
			hs.Close() // also ends writes blocked on clients that stopped reading
		}
		<-s.idle
	}
	return errors.Join(err, s.keeper.close())
}

// closeIdle signals Shutdown that no API request is left. s.mu is held.
func (s *Server) closeIdle() {
	select {
	case <-s.idle:
	default:
		close(s.idle)
	}
}

// enter counts an API request in, unless the server is draining.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return false
	}
	s.active++
	return true
}

func (s *Server) exit() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active--
	if s.active == 0 && s.draining {
		s.closeIdle()
	}
}

// status records the response code of an API request.
type status struct {
	http.ResponseWriter
	code int
}

func (w *status) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *status) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *status) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// api wraps an endpoint of /v1/: method, API key, drain and request accounting.
func (s *Server) api(name, method string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &status{ResponseWriter: w}
		defer func() {
			if sw.code != 0 {
				s.metrics.requests.WithLabelValues(name, strconv.Itoa(sw.code)).Inc()
			}
		}()
		if r.Method != method {
			sw.Header().Set("Allow", method)
			writeError(sw, http.StatusMethodNotAllowed, "invalid_request_error", "", r.URL.Path+" takes "+method)
			return
		}
		if !s.authorized(r) {
			sw.Header().Set("WWW-Authenticate", `Bearer realm="agent"`)
			writeError(sw, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key",
				"missing or incorrect API key: send it as Authorization: Bearer KEY")
			return
		}
		if !s.enter() {
			writeError(sw, http.StatusServiceUnavailable, "server_error", "shutting_down", ErrClosed.Error())
			return
		}
		defer s.exit()
		// The answer's writes set deadlines (see writeTimeout), which net/http does
		// not reset between the requests of a connection.
		http.NewResponseController(sw).SetWriteDeadline(time.Time{})
		r.Body = http.MaxBytesReader(sw, r.Body, s.opts.MaxBodyBytes)
		h(sw, r)
	})
}

// authorized checks the bearer token against every key, in constant time.
func (s *Server) authorized(r *http.Request) bool {
	if len(s.opts.APIKeys) == 0 {
		return true
	}
	auth := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	token = strings.TrimSpace(token)
	good := 0
	for _, k := range s.opts.APIKeys {
		good |= subtle.ConstantTimeCompare([]byte(token), []byte(k))
	}
	return good == 1
}

// ErrBusy is the error of a request refused because the queue is full.
var ErrBusy = errors.New("server busy: too many requests are waiting; retry later")

// turn waits for one of the engine's turns, or fails at once with ErrBusy when
// MaxWaiting requests already wait. done gives the turn back.
func (s *Server) turn(ctx context.Context) (done func(), err error) {
	take := func() func() {
		s.metrics.running.Inc()
		return sync.OnceFunc(func() {
			s.metrics.running.Dec()
			<-s.slots
		})
	}
	select {
	case s.slots <- struct{}{}:
		return take(), nil
	default:
	}
	s.mu.Lock()
	if s.waiting >= s.opts.MaxWaiting {
		s.mu.Unlock()
		return nil, ErrBusy
	}
	s.waiting++
	s.mu.Unlock()
	s.metrics.waiting.Inc()
	defer func() {
		s.metrics.waiting.Dec()
		s.mu.Lock()
		s.waiting--
		s.mu.Unlock()
	}()
	select {
	case s.slots <- struct{}{}:
		return take(), nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// health reports the model's phase: 200 "ok" (loaded or not), 503 "loading" or
// "draining", 500 "error" after a failed load (the next request loads again).
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	phase, err := s.keeper.status()
	s.mu.Lock()
	draining := s.draining
	s.mu.Unlock()
	body := map[string]any{"status": "ok", "model": s.opts.Model}
	code := http.StatusOK
	switch {
	case draining || phase == closed:
		body["status"], code = "draining", http.StatusServiceUnavailable
	case phase == loading:
		body["status"], code = "loading", http.StatusServiceUnavailable
	case phase == failed:
		body["status"], body["error"], code = "error", err.Error(), http.StatusInternalServerError
	default:
		body["loaded"] = phase == ready
	}
	writeJSON(w, code, body)
}

// models lists the served model.
func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"object": "list",
		"data": []map[string]any{{
			"id": s.opts.Model, "object": "model", "created": s.created, "owned_by": "agent",
		}},
	})
}

// writeJSON writes v with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// apiError is the body of an error response, in OpenAI's shape.
type apiError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func newAPIError(typ, code, msg string) apiError {
	e := apiError{Message: msg, Type: typ}
	if code != "" {
		e.Code = &code
	}
	return e
}

func writeError(w http.ResponseWriter, status int, typ, code, msg string) {
	writeAPIError(w, status, newAPIError(typ, code, msg))
}

func writeAPIError(w http.ResponseWriter, status int, e apiError) {
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, map[string]apiError{"error": e})
}
