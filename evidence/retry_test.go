package evidence_test

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/engine/openai"
	"github.com/rewoo-agent/agent/evidence"
	"github.com/rewoo-agent/agent/planner/plannertest"
	"github.com/rewoo-agent/agent/planparser"
	"github.com/rewoo-agent/agent/tools"
	"github.com/rewoo-agent/agent/tools/knowledge"
)

// TestRemoteKnowledgeRetried runs a KnowledgeModel step against an
// OpenAI-compatible server that first answers with an error: the statuses that
// say "try later" are retried through the OpenAI client's own error (waiting the
// Retry-After it sent), the others fail at once.
func TestRemoteKnowledgeRetried(t *testing.T) {
	tests := []struct {
		status     int
		retryAfter string
		attempts   int
		ok         bool
	}{
		{http.StatusTooManyRequests, "0", 2, true},
		{http.StatusTooManyRequests, "", 2, true},
		{http.StatusServiceUnavailable, "0", 2, true},
		{http.StatusBadGateway, "", 2, true},
		{http.StatusGatewayTimeout, "", 2, true},
		{http.StatusBadRequest, "", 1, false},
		{http.StatusUnauthorized, "", 1, false},
		{reset, "", 2, true},
	}
	for _, tt := range tests {
		t.Run(orElse(http.StatusText(tt.status), "connection reset"), func(t *testing.T) {
			eng := &plannertest.Engine{Replies: []plannertest.Reply{{Text: " Louise Glück."}}}
			real := eng.Handler()
			var posts atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost && posts.Add(1) == 1 {
					if tt.status == reset {
						resetConn(t, w)
						return
					}
					if tt.retryAfter != "" {
						w.Header().Set("Retry-After", tt.retryAfter)
					}
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(tt.status)
					w.Write([]byte(`{"error":{"message":"try later"}}`))
					return
				}
				real.ServeHTTP(w, r)
			}))
			defer srv.Close()
			llm, err := openai.New(srv.URL, openai.Options{Model: "scripted"})
			if err != nil {
				t.Fatal(err)
			}
			reg, err := tools.NewRegistry(&knowledge.Model{LLM: llm})
			if err != nil {
				t.Fatal(err)
			}
			plan, err := planparser.Parse("#E1 = KnowledgeModel[Who won the prize?]", planparser.Options{})
			if err != nil {
				t.Fatal(err)
			}
			res, err := evidence.Resolve(t.Context(), reg, plan, evidence.Options{Retries: 2, Backoff: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			v := res.Get("#E1")
			if v.Ok() != tt.ok || v.Attempts != tt.attempts || int(posts.Load()) != tt.attempts {
				t.Fatalf("ok %v after %d attempts (%d requests): %v", v.Ok(), v.Attempts, posts.Load(), v.Err)
			}
			if tt.ok && !strings.Contains(v.Text, "Glück") {
				t.Errorf("text %q", v.Text)
			}
			var he *openai.HTTPError
			if !tt.ok && (!errors.As(v.Err, &he) || he.StatusCode != tt.status) {
				t.Errorf("err %v", v.Err)
			}
		})
	}
}

// reset stands for a connection the server resets instead of answering.
const reset = -1

// resetConn closes the request's connection with a TCP reset.
func resetConn(t *testing.T, w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Error(err)
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0) // close sends RST
	}
	conn.Close()
}

func orElse(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}
