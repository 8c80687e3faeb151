package custom

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzMCPSchema maps a plan's text input to the arguments of a tool whose input
// schema a server chose: whatever the schema and the input, the mapping gives
// arguments or an error, never a panic, and a text input lands whole in the one
// property it goes to.
func FuzzMCPSchema(f *testing.F) {
	for _, seed := range []struct{ schema, input string }{
		{`{"type":"object","properties":{"word":{"type":"string"}},"required":["word"]}`, "serendipity"},
		{`{"type":"object","properties":{"q":{"type":"string"},"n":{"type":"integer"}},"required":["q"]}`, "cats"},
		{`{"type":"object","properties":{"n":{"type":"integer"}}}`, "3"},
		{`{"type":"object","properties":{"a":{"type":["string","null"]},"b":{}}}`, `{"a": "x", "b": 2}`},
		{`{"type":"object"}`, "anything"},
		{`{"properties":"not an object","required":[1]}`, "{"},
		{`null`, ""},
	} {
		f.Add(seed.schema, seed.input)
	}
	f.Fuzz(func(t *testing.T, schema, input string) {
		s := schemaOf(json.RawMessage(schema))
		args, err := s.arguments(input)
		if err != nil {
			if args != nil {
				t.Fatalf("arguments %v beside the error %v", args, err)
			}
			return
		}
		if args == nil {
			t.Fatal("no arguments and no error")
		}
		if strings.HasPrefix(strings.TrimSpace(input), "{") && json.Valid([]byte(strings.TrimSpace(input))) {
			return // a JSON object is taken as the arguments
		}
		switch len(args) {
		case 0:
			if len(s.properties) != 0 {
				t.Fatalf("input %q dropped: the schema has %v", input, s.properties)
			}
		case 1:
			for _, v := range args {
				if v != input {
					t.Fatalf("input %q became %v", input, v)
				}
			}
		default:
			t.Fatalf("input %q became %d arguments", input, len(args))
		}
	})
}
