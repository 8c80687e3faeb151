package custom

import (
	"testing"

	"github.com/rewoo-agent/agent/tools"
)

func TestConfirm(t *testing.T) {
	y := `tools:
  - name: Delete
    description: Deletes a note.
    confirm: true
    prompt:
      template: "{{ .Input }}"
  - name: Read
    description: Reads a note.
    prompt:
      template: "{{ .Input }}"
`
	ts := load(t, y, Options{LLM: &fakeLLM{}})
	for name, want := range map[string]bool{"Delete": true, "Read": false} {
		tool, ok := ts[name]
		if !ok {
			t.Fatalf("no tool %s", name)
		}
		if got := tools.NeedsConfirm(tool); got != want {
			t.Errorf("NeedsConfirm(%s) = %v, want %v", name, got, want)
		}
	}
}
