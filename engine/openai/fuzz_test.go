package openai

import (
	"strings"
	"testing"
	"time"

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
