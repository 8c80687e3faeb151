package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/rewoo-agent/agent/engine"
)

// kindServer imitates a server of a kind: llama.cpp answers GET /props,
// vLLM GET /version; each records the bodies of its generation requests and
// how often it was asked its kind. refuse makes it answer 400 to a request
// with a grammar field, naming the field, as a server that does not know it.
type kindServer struct {
	*httptest.Server
	kind    string // "llamacpp", "vllm" or anything else
	version string // vLLM's
	refuse  bool

	mu     sync.Mutex
	bodies []map[string]any
	probes int
}

func newKindServer(t *testing.T, kind, version string, refuse bool) *kindServer {
	t.Helper()
	s := &kindServer{kind: kind, version: version, refuse: refuse}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *kindServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.URL.Path == "/v1/models":
		io.WriteString(w, `{"data":[{"id":"m"}]}`)
	case r.URL.Path == "/props" && r.Method == http.MethodGet:
		s.probes++
		if s.kind != "llamacpp" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, `{"default_generation_settings":{"n_ctx":4096},"total_slots":1}`)
	case r.URL.Path == "/version" && r.Method == http.MethodGet:
		s.probes++
		if s.kind != "vllm" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, `{"version":"`+s.version+`"}`)
	case (r.URL.Path == "/v1/completions" || r.URL.Path == "/v1/chat/completions") && r.Method == http.MethodPost:
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.bodies = append(s.bodies, body)
		for _, f := range []string{"grammar", "guided_grammar", "structured_outputs"} {
			if _, ok := body[f]; ok && s.refuse {
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"error":{"message":"Unrecognized request argument supplied: `+f+`","type":"invalid_request_error"}}`)
				return
			}
		}
		w.Header().Set("Content-Type", "text/event-stream")
		if r.URL.Path == "/v1/chat/completions" {
			io.WriteString(w, chatChunk(content("#E1 = LLM[x]"), "stop")+done)
			return
		}
		io.WriteString(w, textChunk("#E1 = LLM[x]", "stop", nil)+done)
	default:
		http.NotFound(w, r)
	}
}

// grammarOf returns the grammar a request body carried and the field it
// was in ("" for none).
func grammarOf(t *testing.T, body map[string]any) (field, grammar string) {
	t.Helper()
	n := 0
	for _, f := range []string{"grammar", "guided_grammar", "structured_outputs"} {
		v, ok := body[f]
		if !ok {
			continue
		}
		n++
		field = f
		if f == "structured_outputs" {
			m, _ := v.(map[string]any)
			grammar, _ = m["grammar"].(string)
			if len(m) != 1 {
				t.Errorf("structured_outputs %v: want only its grammar", m)
			}
			continue
		}
		grammar, _ = v.(string)
	}
	if n > 1 {
		t.Errorf("body has %d grammar fields: %v", n, body)
	}
	return field, grammar
}

const testGrammar = `root ::= "#E1 = LLM[" [a-z]+ "]"`

// TestGrammarFields: each kind of server gets the grammar in its own field, on
// both endpoints; the kind is asked once per client; an unknown server and
// GrammarNone get none, and plain Generate never sends one.
func TestGrammarFields(t *testing.T) {
	for _, c := range []struct {
		name, kind, version string
		mode                Grammar
		api                 API
		field               string
		probes              int
	}{
		{"llama.cpp found", "llamacpp", "", GrammarAuto, APICompletions, "grammar", 1},
		{"llama.cpp chat", "llamacpp", "", GrammarAuto, APIChat, "grammar", 1},
		{"vLLM found", "vllm", "0.11.0", GrammarAuto, APICompletions, "structured_outputs", 2},
		{"vLLM chat", "vllm", "0.12.0", GrammarAuto, APIChat, "structured_outputs", 2},
		{"old vLLM", "vllm", "0.8.5.post1", GrammarAuto, APICompletions, "guided_grammar", 2},
		{"vLLM 0.10.2", "vllm", "0.10.2rc1", GrammarAuto, APICompletions, "structured_outputs", 2},
		{"vLLM named, old", "vllm", "v0.9.1", GrammarVLLM, APICompletions, "guided_grammar", 1},
		{"vLLM named, no version", "other", "", GrammarVLLM, APICompletions, "structured_outputs", 1},
		{"llama.cpp named", "other", "", GrammarLlamaCpp, APICompletions, "grammar", 0},
		{"unknown server", "other", "", GrammarAuto, APICompletions, "", 2},
		{"none", "llamacpp", "", GrammarNone, APICompletions, "", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newKindServer(t, c.kind, c.version, false)
			cl, err := New(s.URL, Options{Grammar: c.mode, API: c.api})
			if err != nil {
				t.Fatal(err)
			}
			req := engine.Request{Prompt: "plan", MaxTokens: 20}
			for range 2 {
				res, err := cl.GenerateGrammar(context.Background(), req, testGrammar, nil)
				if err != nil || res.Text != "#E1 = LLM[x]" {
					t.Fatalf("GenerateGrammar: %q, %v", res.Text, err)
				}
			}
			if _, err := cl.Generate(context.Background(), req, nil); err != nil {
				t.Fatal(err)
			}
			if len(s.bodies) != 3 {
				t.Fatalf("%d requests, want 3", len(s.bodies))
			}
			for i, b := range s.bodies[:2] {
				field, g := grammarOf(t, b)
				if field != c.field || (field != "" && g != testGrammar) {
					t.Errorf("request %d: grammar in %q (%q), want in %q", i, field, g, c.field)
				}
			}
			if field, _ := grammarOf(t, s.bodies[2]); field != "" {
				t.Errorf("Generate sent a grammar in %q", field)
			}
			if s.probes != c.probes {
				t.Errorf("asked the server's kind %d times, want %d", s.probes, c.probes)
			}
		})
	}
}

// TestGrammarRefused: a server that refuses the grammar field answers the
// question all the same, from a second request without it, and the client
// sends it no grammar again.
func TestGrammarRefused(t *testing.T) {
	for _, api := range []API{APICompletions, APIChat, APIAuto} {
		t.Run(string(api), func(t *testing.T) {
			s := newKindServer(t, "other", "", true)
			cl, err := New(s.URL, Options{Grammar: GrammarLlamaCpp, API: api})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				res, err := cl.GenerateGrammar(context.Background(), engine.Request{Prompt: "plan"}, testGrammar, nil)
				if err != nil || res.Text != "#E1 = LLM[x]" {
					t.Fatalf("call %d: %q, %v", i, res.Text, err)
				}
			}
			var fields []string
			for _, b := range s.bodies {
				f, _ := grammarOf(t, b)
				fields = append(fields, f)
			}
			if len(fields) != 3 || fields[0] != "grammar" || fields[1] != "" || fields[2] != "" {
				t.Errorf("grammar fields of the requests: %q, want [grammar, none, none]", fields)
			}
		})
	}
}

// TestGrammarOtherErrors: a 400 that does not name the grammar is the
// question's error, not a refusal of the field.
func TestGrammarOtherErrors(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/models" {
			io.WriteString(w, `{"data":[{"id":"m"}]}`)
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"message":"prompt too long"}}`)
	}))
	defer s.Close()
	cl, err := New(s.URL, Options{Grammar: GrammarLlamaCpp, API: APICompletions})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.GenerateGrammar(context.Background(), engine.Request{Prompt: "plan"}, testGrammar, nil)
	var he *HTTPError
	if !errors.As(err, &he) || he.StatusCode != http.StatusBadRequest {
		t.Fatalf("err = %v, want the 400", err)
	}
	if f, err := cl.grammarField(context.Background()); err != nil || f != fieldGrammar {
		t.Errorf("after another error the field is %v (%v), want it kept", f, err)
	}
}

// TestGrammarProbeCancelled: a question cancelled while the kind is asked
// fails, and the next one asks again.
func TestGrammarProbeCancelled(t *testing.T) {
	s := newKindServer(t, "llamacpp", "", false)
	cl, err := New(s.URL, Options{Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := cl.grammarField(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if f, err := cl.grammarField(context.Background()); err != nil || f != fieldGrammar {
		t.Errorf("field %v (%v) after a cancelled probe, want llama.cpp's", f, err)
	}
}

func TestParseGrammar(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Grammar
		ok   bool
	}{
		{"", GrammarAuto, true}, {"auto", GrammarAuto, true}, {"llamacpp", GrammarLlamaCpp, true},
		{"vllm", GrammarVLLM, true}, {"none", GrammarNone, true}, {"llama.cpp", "", false}, {"VLLM", "", false},
	} {
		got, err := ParseGrammar(c.in)
		if got != c.want || (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrGrammar)) {
			t.Errorf("ParseGrammar(%q) = %q, %v", c.in, got, err)
		}
	}
	if _, err := New("http://localhost:1", Options{Grammar: "gbnf"}); !errors.Is(err, ErrGrammar) {
		t.Errorf("New with a bad grammar mode: %v", err)
	}
}

func TestParseVersion(t *testing.T) {
	for _, c := range []struct {
		in   string
		want version
		ok   bool
	}{
		{"0.11.0", version{0, 11, 0}, true}, {"0.10.2rc1", version{0, 10, 2}, true},
		{"v0.8.5.post1", version{0, 8, 5}, true}, {"0.11", version{0, 11, 0}, true},
		{"1.0.0+cu121", version{1, 0, 0}, true}, {"dev", version{}, false},
	} {
		got, ok := parseVersion(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("parseVersion(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// FuzzParseVersion: any text reads without a panic, and a version read
// writes back as numbers that read as the same version.
func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"0.11.0", "0.10.2rc1", "v0.8.5.post1", "0.11", "1.0.0+cu121", "dev", "", "v", "1..2", "99999999999999999999.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := parseVersion(s)
		if !ok {
			return
		}
		back, ok := parseVersion(fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2]))
		if !ok || back != v {
			t.Fatalf("parseVersion(%q) = %v, which reads back as %v, %v", s, v, back, ok)
		}
	})
}
