package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/engine"
	"github.com/rewoo-agent/agent/engine/openai"
	"github.com/rewoo-agent/agent/engine/server"
)

// okLLM answers every prompt with "ok".
type okLLM struct{}

func (okLLM) Generate(_ context.Context, _ engine.Request, onText func(string) error) (engine.Result, error) {
	return engine.Result{Text: "ok", Tokens: 1, Stop: engine.StopEOS}, onText("ok")
}

func TestPSCommand(t *testing.T) {
	cleanEnv(t)
	t.Setenv(openai.APIKeyEnv, "sk-ps")
	s, err := server.New(server.Options{Model: "tiny", APIKeys: []string{"sk-ps"},
		Load: func(context.Context) (engine.LLM, func() error, error) { return okLLM{}, nil, nil }})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(func() { hs.Close(); s.Shutdown(context.Background()) })

	out, errOut, code := runAgent(t, "", "ps", "--llm-url", hs.URL)
	if code != 0 || !strings.Contains(out, "NAME") || !strings.Contains(out, "tiny") || !strings.Contains(out, "unloaded") {
		t.Fatalf("before loading: exit %d\n%s%s", code, out, errOut)
	}
	c, _ := openai.New(hs.URL, openai.Options{APIKey: "sk-ps"})
	if _, err := c.Generate(context.Background(), engine.Request{Prompt: "hi"}, nil); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AGENT_LLM_URL", hs.URL+"/v1") // the configured server, as ask uses it
	out, errOut, code = runAgent(t, "", "ps")
	if code != 0 || !strings.Contains(out, "loaded") || !strings.Contains(out, " ago") || !strings.Contains(out, "in 5m0s") && !strings.Contains(out, "in 4m59s") {
		t.Errorf("loaded: exit %d\n%s%s", code, out, errOut)
	}
	out, _, code = runAgent(t, "", "ps", "--json")
	var ps server.PS
	if err := json.Unmarshal([]byte(out), &ps); code != 0 || err != nil || len(ps.Models) != 1 ||
		!ps.Models[0].Loaded || ps.Models[0].ExpiresAt == nil || ps.Models[0].KeepAlive != 300 {
		t.Errorf("--json: exit %d, %v\n%s", code, err, out)
	}

	notOurs := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notOurs.Close)
	if _, errOut, code := runAgent(t, "", "ps", "--llm-url", notOurs.URL); code != 1 || !strings.Contains(errOut, "is it agent serve") {
		t.Errorf("another server: exit %d %s", code, errOut)
	}
	t.Setenv(openai.APIKeyEnv, "wrong")
	if _, errOut, code := runAgent(t, "", "ps"); code != 1 || !strings.Contains(errOut, "Unauthorized") {
		t.Errorf("a wrong key: exit %d %s", code, errOut)
	}
}
