package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rewoo-agent/agent/internal/human"
	"github.com/rewoo-agent/agent/internal/redact"
)

// DefaultAddr is where agent serve listens unless told otherwise, and where
// agent ps looks.
const DefaultAddr = "127.0.0.1:8090"

// PathPS is the endpoint that reports what the server has loaded, as ollama's
// GET /api/ps does. It is apart from /v1/, whose answers keep OpenAI's shape, and
// answers while the server drains; it needs the API key as /v1/ does.
const PathPS = "/api/ps"

// PS is the answer of GET /api/ps: the served models (one, loaded or not).
type PS struct {
	Models []ModelState `json:"models"`
}

// ModelState is what a server reports of one model.
type ModelState struct {
	Name string `json:"name"`
	// Status is unloaded, loading, loaded, unloading, error (the last load
	// failed; the next request loads again) or draining.
	Status string `json:"status"`
	Loaded bool   `json:"loaded"`
	// LoadedAt is when the loaded model finished loading.
	LoadedAt *time.Time `json:"loaded_at,omitempty"`
	// ExpiresAt is when the idle model unloads; absent while a request uses it,
	// when it is not loaded, or when it never unloads (KeepAlive -1).
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// KeepAlive is the idle time before an unload, in seconds; -1 is never.
	KeepAlive float64 `json:"keep_alive"`
	// Running requests hold one of the engine's turns; Waiting ones queue for one.
	Running int `json:"running"`
	Waiting int `json:"waiting"`
	// Error is why the last load failed.
	Error string `json:"error,omitempty"`
	// Cache is the batching engine's KV cache and prefix cache; absent when the
	// server never loaded one (engine/generate has none).
	Cache *CacheState `json:"cache,omitempty"`
}

// ps answers GET /api/ps.
func (s *Server) ps(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "", PathPS+" takes GET")
		return
	}
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="agent"`)
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key",
			"missing or incorrect API key: send it as Authorization: Bearer KEY")
		return
	}
	writeJSON(w, http.StatusOK, PS{Models: []ModelState{s.state()}})
}

// state reports the served model.
func (s *Server) state() ModelState {
	k := s.keeper.snapshot()
	s.mu.Lock()
	draining, waiting := s.draining, s.waiting
	s.mu.Unlock()
	m := ModelState{Name: s.opts.Model, Running: len(s.slots), Waiting: waiting, KeepAlive: -1,
		Cache: s.sched.cacheState()}
	if s.opts.KeepAlive >= 0 {
		m.KeepAlive = s.opts.KeepAlive.Seconds()
	}
	m.Status = map[phase]string{unloaded: "unloaded", loading: "loading", ready: "loaded",
		unloading: "unloading", failed: "error", closed: "draining"}[k.phase]
	if draining {
		m.Status = "draining"
	}
	if k.phase == failed && k.err != nil {
		m.Error = k.err.Error()
	}
	if k.phase == ready {
		m.Loaded = true
		m.LoadedAt = &k.loadedAt
		if !k.expires.IsZero() {
			m.ExpiresAt = &k.expires
		}
	}
	return m
}

// ErrNoPS is returned by FetchPS for a server without GET /api/ps: one that is
// not agent serve (vLLM, llama.cpp), or an older one.
var ErrNoPS = errors.New("the server has no " + PathPS + " (is it agent serve?)")

// FetchPS asks the agent serve at base (such as "http://127.0.0.1:8090"; a
// trailing "/v1" is accepted too) what it has loaded. apiKey, when set, is sent
// as a bearer token; hc nil means http.DefaultClient. ctx bounds the call.
func FetchPS(ctx context.Context, hc *http.Client, base, apiKey string) (*PS, error) {
	base = strings.TrimSuffix(strings.TrimRight(base, "/"), "/v1")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return nil, fmt.Errorf("server URL %q: want http:// or https://", base)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	url := base + PathPS
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+apiKey)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: %w", url, err)
	case len(body) > 1<<20:
		return nil, fmt.Errorf("%s: an answer of more than 1 MiB", url)
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("%s: %w", url, ErrNoPS)
	case resp.StatusCode != http.StatusOK:
		var e struct {
			Error apiError `json:"error"`
		}
		msg := strings.TrimSpace(string(body[:min(len(body), 4<<10)]))
		if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
			msg = e.Error.Message
		}
		return nil, fmt.Errorf("%s: %s: %s", url, http.StatusText(resp.StatusCode), redact.New(apiKey).String(msg))
	}
	var ps PS
	if err := json.Unmarshal(body, &ps); err != nil {
		return nil, fmt.Errorf("%s: not an answer of agent serve: %w", url, err)
	}
	return &ps, nil
}

// WriteTable writes ps as agent ps shows it, as of now: NAME, STATUS (with the
// load error), LOADED (how long ago), UNTIL (when the idle model unloads),
// RUNNING, WAITING, and for a batching engine KV BLOCKS (in use of all) and
// PREFIX HITS (the hit rate and the tokens saved).
func (ps *PS) WriteTable(w io.Writer, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATUS\tLOADED\tUNTIL\tRUNNING\tWAITING\tKV BLOCKS\tPREFIX HITS")
	for _, m := range ps.Models {
		since, until := "-", "-"
		if m.LoadedAt != nil {
			since = human.Ago(now.Sub(*m.LoadedAt))
		}
		switch {
		case m.ExpiresAt != nil:
			until = "in " + human.Duration(m.ExpiresAt.Sub(now))
		case m.Loaded && m.KeepAlive < 0:
			until = "forever"
		case m.Loaded:
			until = "in use"
		}
		status := m.Status
		if m.Error != "" {
			status += ": " + m.Error
		}
		blocks, hits := "-", "-"
		if c := m.Cache; c != nil {
			if m.Loaded {
				blocks = fmt.Sprintf("%d/%d", c.BlocksInUse, c.Blocks)
			}
			hits = fmt.Sprintf("%.0f%% (%d tokens saved)", 100*c.HitRate, c.TokensSaved)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", m.Name, status, since, until, m.Running, m.Waiting, blocks, hits)
	}
	return tw.Flush()
}
