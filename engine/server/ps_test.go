package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rewoo-agent/agent/engine"
)

// getPS asks s for GET /api/ps without the network, so that it runs in a
// synctest bubble.
func getPS(t *testing.T, s *Server) ModelState {
	t.Helper()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, PathPS, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("%s: %d %s", PathPS, rec.Code, rec.Body)
	}
	var ps PS
	if err := json.Unmarshal(rec.Body.Bytes(), &ps); err != nil || len(ps.Models) != 1 {
		t.Fatalf("%s: %s: %v", PathPS, rec.Body, err)
	}
	return ps.Models[0]
}

// TestPS follows the model through its life: unloaded, loaded and in use (no
// expiry), idle (expiring KeepAlive after the last request), unloaded again.
func TestPS(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		f := &fakeLLM{reply: echo, gate: gate}
		s, err := New(Options{Model: model, KeepAlive: 5 * time.Minute, MaxWaiting: 4,
			Load: func(context.Context) (engine.LLM, func() error, error) {
				time.Sleep(2 * time.Second)
				return f, nil, nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		if m := getPS(t, s); m != (ModelState{Name: model, Status: "unloaded", KeepAlive: 300}) {
			t.Errorf("before any request: %+v", m)
		}
		begin := time.Now()
		finished := make(chan int, 2)
		for range 2 {
			go func() {
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/completions", strings.NewReader(`{"prompt":"hi"}`)))
				finished <- rec.Code
			}()
		}
		synctest.Wait()
		if m := getPS(t, s); m.Status != "loading" || m.Loaded || m.Running != 1 || m.Waiting != 1 {
			t.Errorf("while loading: %+v", m)
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		m := getPS(t, s)
		if m.Status != "loaded" || !m.Loaded || m.LoadedAt == nil || !m.LoadedAt.Equal(begin.Add(2*time.Second)) ||
			m.ExpiresAt != nil || m.Running != 1 || m.Waiting != 1 {
			t.Errorf("in use: %+v", m)
		}
		close(gate)
		for range 2 {
			if code := <-finished; code != http.StatusOK {
				t.Errorf("completion: %d", code)
			}
		}
		idleSince := time.Now()
		m = getPS(t, s)
		if m.ExpiresAt == nil || !m.ExpiresAt.Equal(idleSince.Add(5*time.Minute)) || m.Running != 0 || m.Waiting != 0 {
			t.Errorf("idle: %+v, want expiry at %v", m, idleSince.Add(5*time.Minute))
		}
		time.Sleep(5*time.Minute + time.Second)
		synctest.Wait()
		if m := getPS(t, s); m != (ModelState{Name: model, Status: "unloaded", KeepAlive: 300}) {
			t.Errorf("after the keep-alive: %+v", m)
		}
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if m := getPS(t, s); m.Status != "draining" {
			t.Errorf("after Shutdown: %+v", m)
		}
	})
}

func TestPSStates(t *testing.T) {
	t.Run("never unloads", func(t *testing.T) {
		s, hs := serve(t, &fakeLLM{reply: echo}, Options{KeepAlive: -1})
		post(t, hs, "/v1/completions", `{"prompt":"hi"}`)
		if m := getPS(t, s); !m.Loaded || m.ExpiresAt != nil || m.KeepAlive != -1 {
			t.Errorf("KeepAlive -1: %+v", m)
		}
	})
	t.Run("failed load", func(t *testing.T) {
		s, hs := serve(t, nil, Options{Load: func(context.Context) (engine.LLM, func() error, error) {
			return nil, nil, errors.New("out of memory")
		}})
		post(t, hs, "/v1/completions", `{"prompt":"hi"}`)
		if m := getPS(t, s); m.Status != "error" || m.Loaded || !strings.Contains(m.Error, "out of memory") {
			t.Errorf("after a failed load: %+v", m)
		}
	})
}

func TestFetchPS(t *testing.T) {
	s, hs := serve(t, &fakeLLM{reply: echo}, Options{APIKeys: []string{"sk-key/123"}})
	post(t, hs, "/v1/completions", `{"prompt":"hi"}`, "Authorization", "Bearer sk-key/123")
	for _, base := range []string{hs.URL, hs.URL + "/", hs.URL + "/v1/"} {
		ps, err := FetchPS(context.Background(), hs.Client(), base, "sk-key/123")
		if err != nil || len(ps.Models) != 1 || ps.Models[0].Name != model || !ps.Models[0].Loaded {
			t.Errorf("FetchPS(%q) = %+v, %v", base, ps, err)
		}
	}
	if _, err := FetchPS(context.Background(), hs.Client(), hs.URL, "wrong"); err == nil || !strings.Contains(err.Error(), "Unauthorized") {
		t.Errorf("a wrong key: %v", err)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, PathPS, nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST %s: %d", PathPS, rec.Code)
	}

	other := func(code int, body string) string {
		o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			io.WriteString(w, body)
		}))
		t.Cleanup(o.Close)
		return o.URL
	}
	for _, tt := range []struct {
		name, url, key, want string
		is                   error
	}{
		{"not agent serve", other(404, `{"detail":"Not Found"}`), "", "is it agent serve", ErrNoPS},
		{"key echoed back", other(401, `{"error":{"message":"bad key sk-secret-9"}}`), "sk-secret-9", "bad key REDACTED", nil},
		{"not JSON", other(200, `<html>`), "", "not an answer of agent serve", nil},
		{"too large", other(200, strings.Repeat(" ", 1<<20+10)), "", "more than 1 MiB", nil},
		{"bad URL", "localhost:8090", "", "want http://", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FetchPS(context.Background(), nil, tt.url, tt.key)
			if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.is != nil && !errors.Is(err, tt.is)) ||
				(tt.key != "" && strings.Contains(err.Error(), tt.key)) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestPSWriteTable(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	loaded, expires := now.Add(-3*time.Hour), now.Add(5*time.Minute)
	ps := &PS{Models: []ModelState{
		{Name: "a", Status: "loaded", Loaded: true, LoadedAt: &loaded, ExpiresAt: &expires, Running: 1, Waiting: 2},
		{Name: "b", Status: "loaded", Loaded: true, LoadedAt: &loaded, KeepAlive: -1},
		{Name: "c", Status: "loaded", Loaded: true, LoadedAt: &loaded, KeepAlive: 300},
		{Name: "d", Status: "error", Error: "no such folder"},
		{Name: "e", Status: "loaded", Loaded: true, LoadedAt: &loaded, KeepAlive: -1,
			Cache: &CacheState{Blocks: 512, BlocksInUse: 12, PrefixQueries: 8, PrefixHits: 6, HitRate: 0.75, TokensSaved: 96}},
		{Name: "f", Status: "unloaded", KeepAlive: 300, Cache: &CacheState{HitRate: 0.5, TokensSaved: 16}},
	}}
	var b strings.Builder
	if err := ps.WriteTable(&b, now); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	want := [][]string{
		{"NAME", "STATUS", "LOADED", "UNTIL", "RUNNING", "WAITING", "KV BLOCKS", "PREFIX HITS"},
		{"a", "loaded", "3h0m ago", "in 5m0s", "1", "2"},
		{"b", "loaded", "3h0m ago", "forever", "0", "0"},
		{"c", "loaded", "3h0m ago", "in use", "0", "0"},
		{"d", "error: no such folder", "-", "-", "0", "0"},
		{"e", "forever", "12/512", "75% (96 tokens saved)"},
		{"f", "unloaded", "50% (16 tokens saved)"},
	}
	if len(lines) != len(want) {
		t.Fatalf("table:\n%s", b.String())
	}
	for i, l := range lines {
		for _, cell := range want[i] {
			if !strings.Contains(l, cell) {
				t.Errorf("line %q lacks %q", l, cell)
			}
		}
	}
}
