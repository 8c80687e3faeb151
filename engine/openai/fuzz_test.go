package openai

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/engine/chat"
	"github.com/rewoo-agent/agent/engine/stop"
)

// FuzzStream feeds any body to the event-stream reader: it must return, without a
// panic, and the text it passed on must be what the result holds.
func FuzzStream(f *testing.F) {
	for _, seed := range []string{
		textChunk("Hel", "", nil) + textChunk("lo", "stop", nil) + usageChunk + done,
		": ping\r\n\r\ndata:{\"choices\":[{\"text\":\"a\"}]}\r\n\r\n",
		"event: error\ndata: {\"error\":\"x\"}\n\n",
		"data: {\"choices\":\ndata: [{\"text\":\"b\",\"finish_reason\":\"length\"}]}",
		`data: {"object":"error","message":"bad"}` + "\n\n",
		textChunk("a\nObs", "", nil) + textChunk("erv", "stop", "\nObserv"),
		chatChunk(map[string]any{"role": "assistant"}, "") + chatChunk(content("a\nObs"), "") + chatChunk(content("x"), "stop") + done,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		m, _ := stop.New([]string{"\nObserv"})
		var got strings.Builder
		g := &generation{stops: m, maxTokens: 50, begin: time.Now(), onText: func(s string) error {
			got.WriteString(s)
			return nil
		}}
		_ = g.stream(strings.NewReader(body), func() {})
		res := g.finish()
		if got.String() != res.Text {
			t.Fatalf("passed on %q, result text %q", got.String(), res.Text)
		}
		if strings.Contains(res.Text, "\nObserv") {
			t.Fatalf("stop string in the text %q", res.Text)
		}
	})
}

// FuzzMessages takes any prompt apart: a prompt the template wrote comes back
// as the preamble and message it was written from, and any other prompt is sent
// whole, so no text is lost or added.
func FuzzMessages(f *testing.F) {
	f.Add(chat.AiroborosSystem, "What is 2+2?", "")
	f.Add("", "USER: x ASSISTANT: y", "")
	f.Add("sys", "m", "Once upon a time USER: x ASSISTANT:")
	f.Fuzz(func(t *testing.T, system, message, raw string) {
		tmpl := chat.Template{System: system, User: "USER:", Assistant: "ASSISTANT:"}
		got := messages(tmpl, tmpl.Prompt(message))
		want := []chatMessage{{"user", message}}
		if system != "" {
			want = []chatMessage{{"system", system}, {"user", message}}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("messages(Prompt(%q)) with preamble %q = %q", message, system, got)
		}
		msgs := messages(chat.Airoboros, raw)
		switch {
		case len(msgs) == 1 && msgs[0].Content == raw:
		case len(msgs) == 1 && chat.Template{User: "USER:", Assistant: "ASSISTANT:"}.Prompt(msgs[0].Content) == raw:
		case len(msgs) == 2 && chat.Template{System: msgs[0].Content, User: "USER:", Assistant: "ASSISTANT:"}.Prompt(msgs[1].Content) == raw:
		default:
			t.Fatalf("messages(%q) = %q: not the prompt's parts", raw, msgs)
		}
	})
}
