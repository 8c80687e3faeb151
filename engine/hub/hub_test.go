package hub

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/rewoo-agent/agent/engine/hub/hubtest"
)

// client is a Client for the fake hub with its cache in a temporary folder.
func newClient(t *testing.T, f *hubtest.Hub) *Client {
	c := New(func(k string) string {
		switch k {
		case "HF_HOME":
			return filepath.Join(t.TempDir(), "hf")
		case "HF_ENDPOINT":
			return f.Server.URL + "/"
		}
		return ""
	})
	c.retryWait = time.Millisecond
	return c
}
