package custom

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestMCPArguments(t *testing.T) {
	schema := func(name string) inputSchema {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("testdata", "mcp", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var s any
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		return schemaOf(s)
	}
	tests := []struct {
		schema, input, want, err string
	}{
		{"one-string", "serendipity", `{"word":"serendipity"}`, ""},
		{"one-string", `{"word": "json"}`, `{"word":"json"}`, ""},
		{"two-ints", `{"a": 2, "b": 40}`, `{"a":2,"b":40}`, ""},
		{"two-ints", `{"a": 12345678901234567890, "b": 1}`, `{"a":12345678901234567890,"b":1}`, ""},
		{"two-ints", "2 plus 40", "", "takes a, b: give them as a JSON object"},
		{"two-ints", `{"a": 2, "b": 40} }`, "", "takes a, b: give them as a JSON object"},
		{"one-required", "weather", `{"query":"weather"}`, ""},
		{"required-elsewhere", "x", "", "takes x, y: give them as a JSON object"},
		{"type-list", "/tmp", `{"path":"/tmp"}`, ""},
		{"empty", "anything", `{}`, ""},
		{"odd", "w", `{}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.schema+" "+tt.input, func(t *testing.T) {
			args, err := schema(tt.schema).arguments(tt.input)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			b, _ := json.Marshal(args)
			if err != nil || string(b) != tt.want {
				t.Errorf("args = %s, %v; want %s", b, err, tt.want)
			}
		})
	}
}

// FuzzMCPArguments maps inputs through schemas: a JSON object input is taken as
// it is, any other input lands whole in a property the schema has, or the call
// is refused; never a panic, never an argument the schema does not name.
func FuzzMCPArguments(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/mcp/*.json")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, in := range []string{"word", `{"a": 1}`, "  {not json", "", `{"word": [1, {"x": null}]}`} {
			f.Add(string(b), in)
		}
	}
	f.Fuzz(func(t *testing.T, schemaJSON, input string) {
		var raw any
		if json.Unmarshal([]byte(schemaJSON), &raw) != nil {
			return
		}
		s := schemaOf(raw)
		if !slices.IsSorted(s.properties) {
			t.Fatalf("properties %v not sorted", s.properties)
		}
		args, err := s.arguments(input)
		if err != nil {
			if !strings.Contains(err.Error(), "give them as a JSON object") {
				t.Fatalf("error %q", err)
			}
			return
		}
		if args == nil {
			t.Fatal("nil arguments without an error")
		}
		if _, err := json.Marshal(args); err != nil {
			t.Fatalf("arguments %v do not marshal: %v", args, err)
		}
		var obj map[string]any
		d := json.NewDecoder(strings.NewReader(strings.TrimSpace(input)))
		d.UseNumber()
		if strings.HasPrefix(strings.TrimSpace(input), "{") && json.Valid([]byte(input)) && d.Decode(&obj) == nil {
			if !reflect.DeepEqual(args, obj) {
				t.Fatalf("object input %q became %v", input, args)
			}
			return
		}
		if len(s.properties) == 0 {
			if len(args) != 0 {
				t.Fatalf("a schema without properties got %v", args)
			}
			return
		}
		if len(args) != 1 {
			t.Fatalf("text input became %v", args)
		}
		for k, v := range args {
			if !slices.Contains(s.properties, k) || v != input {
				t.Fatalf("text input %q became %v, properties %v", input, args, s.properties)
			}
		}
	})
}
