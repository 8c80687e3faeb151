package planner

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/openai"
	"github.com/rewoo-agent/agent/planner/constrain"
	"github.com/rewoo-agent/agent/planner/plannertest"
)

// grammarEngine is a scripted server that takes a grammar (as
// engine/openai's Client does) and records the grammars it got; it writes
// its script whatever the grammar.
type grammarEngine struct {
	*plannertest.Engine

	mu       sync.Mutex
	grammars []string
}

var (
	_ grammarLLM = (*grammarEngine)(nil)
	_ grammarLLM = (*openai.Client)(nil) // what agent ask's server client is
)

func (e *grammarEngine) GenerateGrammar(ctx context.Context, req engine.Request, grammar string, onText func(string) error) (engine.Result, error) {
	e.mu.Lock()
	e.grammars = append(e.grammars, grammar)
	e.mu.Unlock()
	return e.Engine.Generate(ctx, req, onText)
}

// wantGBNF is the grammar of plans over the planner's tools after prefix,
// numbered from next.
func wantGBNF(t *testing.T, p *Planner, prefix, next string, given int) string {
	t.Helper()
	lim := constrain.DefaultLimits
	lim.MaxSteps = DefaultMaxSteps + given
	g, err := constrain.New(constrain.Options{Tools: p.Tools.Names(), RequireAnswer: true, Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	s, err := g.Advance(g.Start(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	text, err := g.GBNF(s, next)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// TestServerGrammar: a server that takes a grammar gets the plan grammar for
// each plan, through Recorded: a first plan may start its names as any of the
// usual four; a new plan after a failed step cites the gathered steps and
// starts at the name its prompt gives; the calls are recorded. NoConstrain
// sends none.
func TestServerGrammar(t *testing.T) {
	first := ":evidence0: = DuckDuckGo[Nobel 2020]\n:evidence1: = Broken[:evidence0:]\nAnswer: :evidence1:\n"
	second := ":evidence2: = TextScraper[:evidence0:]\nAnswer: :evidence2:\n"
	for _, noConstrain := range []bool{false, true} {
		p, _, _ := scripted(t, nil)
		eng := &grammarEngine{Engine: &plannertest.Engine{Replies: []plannertest.Reply{{Match: replanMark, Text: second}, {Text: first}}}}
		p.LLM, p.Replans, p.NoConstrain = Recorded(eng), 1, noConstrain
		tr, err := p.Ask(context.Background(), "Who won?", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := purposes(tr); !slices.Equal(got, []string{"plan", "replan"}) {
			t.Errorf("NoConstrain %v: engine calls %q", noConstrain, got)
		}
		if tr.Answer == nil || tr.Answer.Text != "page text of a" {
			t.Errorf("NoConstrain %v: answer %+v", noConstrain, tr.Answer)
		}
		if noConstrain {
			if len(eng.grammars) != 0 {
				t.Errorf("NoConstrain sent %d grammars", len(eng.grammars))
			}
			continue
		}
		want := []string{
			wantGBNF(t, p, "", "", 0),
			wantGBNF(t, p, ":evidence0: = DuckDuckGo[Nobel 2020]\n", ":evidence2:", 1),
		}
		if len(eng.grammars) != 2 {
			t.Fatalf("%d grammars sent, want 2", len(eng.grammars))
		}
		for i := range want {
			if eng.grammars[i] != want[i] {
				t.Errorf("plan %d: the grammar sent is not the plan grammar wanted:\n%.600s", i, eng.grammars[i])
			}
		}
	}
}

// TestServerGrammarFirstName: the name of a new plan's first step is read
// from the prompt that gatheredSection wrote.
func TestServerGrammarFirstName(t *testing.T) {
	done := []*StepTrace{{Name: "#E1", Tool: "LLM", Input: "a"}, {Name: "#E4", Tool: "LLM", Input: "b"}}
	m := firstNewRE.FindStringSubmatch("Question: x" + gatheredSection(done) + "\nPlan:")
	if m == nil || m[1] != "#E5" {
		t.Fatalf("first new name %q, want #E5", m)
	}
}

// TestServerGrammarOverHTTP asks through engine/openai's client of a
// scripted llama-server (GET /props answers): the plan's request carries the
// plan grammar in "grammar", and the question is
// answered. A server that refuses the field answers all the same.
func TestServerGrammarOverHTTP(t *testing.T) {
	plan := ":evidence0: = DuckDuckGo[Nobel 2020]\n:evidence1: = TextScraper[:evidence0:]\nAnswer: :evidence1:\n"
	for _, refuse := range []bool{false, true} {
		eng := &plannertest.Engine{Replies: []plannertest.Reply{{Text: plan}}}
		var mu sync.Mutex
		var grammars []string
		mux := http.NewServeMux()
		mux.HandleFunc("GET /props", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"default_generation_settings":{"n_ctx":4096}}`)
		})
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v1/completions" {
				raw, _ := io.ReadAll(r.Body)
				var body struct {
					Grammar string `json:"grammar"`
				}
				json.Unmarshal(raw, &body)
				mu.Lock()
				grammars = append(grammars, body.Grammar)
				mu.Unlock()
				if refuse && body.Grammar != "" {
					http.Error(w, `{"error":{"message":"unknown field: grammar"}}`, http.StatusBadRequest)
					return
				}
				r.Body = io.NopCloser(bytes.NewReader(raw))
			}
			eng.Handler().ServeHTTP(w, r)
		})
		srv := httptest.NewServer(mux)
		client, err := openai.New(srv.URL, openai.Options{API: openai.APICompletions})
		if err != nil {
			t.Fatal(err)
		}
		p, _, _ := scripted(t, nil)
		p.LLM = Recorded(client)
		tr, err := p.Ask(context.Background(), "Who won?", nil)
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		if tr.Answer == nil || tr.Answer.Text != "page text of a" {
			t.Errorf("refuse %v: answer %+v", refuse, tr.Answer)
		}
		want := []string{wantGBNF(t, p, "", "", 0)}
		if refuse {
			want = append(want, "") // asked again without it
		}
		if !slices.Equal(grammars, want) {
			t.Errorf("refuse %v: %d requests, grammars sent equal to the plan grammar: %v", refuse, len(grammars), func() (eq []bool) {
				for _, g := range grammars {
					eq = append(eq, g == want[0])
				}
				return eq
			}())
		}
	}
}
