package plannertest

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/engine"
)

func TestEngineGenerate(t *testing.T) {
	e := &Engine{Replies: []Reply{
		{Match: "plan", Text: "Plan: search\n:evidence0: = DuckDuckGo[x]\nAnswer: :evidence0:\nUSER: more"},
		{Text: "fallback answer"},
	}}
	tests := []struct {
		name   string
		req    engine.Request
		want   string
		pieces int
		stop   engine.StopReason
	}{
		{"whole reply", engine.Request{Prompt: "write a plan"}, "Plan: search\n:evidence0: = DuckDuckGo[x]\nAnswer: :evidence0:\nUSER: more", 12, engine.StopEOS},
		{"stop string", engine.Request{Prompt: "write a plan", Stop: []string{"USER:"}}, "Plan: search\n:evidence0: = DuckDuckGo[x]\nAnswer: :evidence0:\n", 11, engine.StopString},
		{"stop inside a token", engine.Request{Prompt: "write a plan", Stop: []string{"Duck"}}, "Plan: search\n:evidence0: = ", 6, engine.StopString},
		{"max tokens", engine.Request{Prompt: "write a plan", MaxTokens: 2}, "Plan: search", 2, engine.StopLength},
		{"fallback", engine.Request{Prompt: "question"}, "fallback answer", 2, engine.StopEOS},
		{"unmatched prefix of a stop", engine.Request{Prompt: "question", Stop: []string{"answer!"}}, "fallback answer", 2, engine.StopEOS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got strings.Builder
			res, err := e.Generate(context.Background(), tt.req, func(s string) error {
				got.WriteString(s)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tt.want || res.Text != tt.want {
				t.Errorf("streamed %q, result %q, want %q", got.String(), res.Text, tt.want)
			}
			if res.Tokens != tt.pieces || res.Stop != tt.stop {
				t.Errorf("tokens %d stop %q, want %d %q", res.Tokens, res.Stop, tt.pieces, tt.stop)
			}
			if res.PromptTokens != len(Tokens(tt.req.Prompt)) {
				t.Errorf("prompt tokens %d", res.PromptTokens)
			}
		})
	}
}

func TestTokens(t *testing.T) {
	got := Tokens("a  b\n\nc[d e]")
	want := []string{"a", "  b", "\n", "\n", "c[d", " e]"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Tokens = %q, want %q", got, want)
	}
}

func TestEngineSlowAndCancelled(t *testing.T) {
	e := &Engine{Replies: []Reply{{Text: "one two three four five six"}}, Delay: 20 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	var got []string
	var times []time.Time
	_, err := e.Generate(ctx, engine.Request{Prompt: "q"}, func(s string) error {
		got = append(got, s)
		times = append(times, time.Now())
		if len(got) == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if len(got) != 3 {
		t.Fatalf("pieces after cancel: %q", got)
	}
	if d := times[2].Sub(times[0]); d < 30*time.Millisecond {
		t.Errorf("three pieces came within %v; the engine is not slow", d)
	}
	calls := e.Calls()
	if len(calls) != 1 || calls[0].Reply != "one two three" || !errors.Is(calls[0].Err, context.Canceled) {
		t.Errorf("calls = %+v", calls)
	}
}

func TestEngineCallbackError(t *testing.T) {
	e := &Engine{Replies: []Reply{{Text: "a b c"}}}
	stop := errors.New("enough")
	res, err := e.Generate(context.Background(), engine.Request{Prompt: "q"}, func(s string) error { return stop })
	if !errors.Is(err, stop) || res.Text != "a" || res.Tokens != 1 {
		t.Errorf("res %+v err %v", res, err)
	}
}

func TestEngineContextLength(t *testing.T) {
	e := &Engine{Context: 3}
	_, err := e.Generate(context.Background(), engine.Request{Prompt: "a b c d"}, func(string) error { return nil })
	if !errors.Is(err, engine.ErrContextLength) {
		t.Errorf("err = %v", err)
	}
}
