package funcall

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rewoo-agent/agent/engine/chat"
	"github.com/rewoo-agent/agent/tools"
)

// testSet is the set of testdata/functions.yaml.
func testSet(t testing.TB) *Set {
	t.Helper()
	fs, err := LoadFile(filepath.Join("testdata", "functions.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSet(fs...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParse(t *testing.T) {
	s := testSet(t)
	tests := []struct {
		name, answer string
		want         Call
		kinds        []error // the kinds of the problems, in order
		says         string  // a part of the error's text
	}{
		{name: "json", answer: ` {"function": "weather", "params": {"city": "Paris", "days": 2, "metric": false}}`,
			want: Call{"weather", map[string]any{"city": "Paris", "days": int64(2), "metric": false}}},
		{name: "json pretty with trailing text", answer: "{\n  \"function\": \"convert\",\n  \"params\": {\n    \"amount\": 30,\n    \"from\": \"USD\",\n    \"to\": \"EUR\"\n  }\n}\nThis converts the amount.",
			want: Call{"convert", map[string]any{"amount": 30.0, "from": "USD", "to": "EUR"}}},
		{name: "yaml", answer: "function: weather\nparams:\n  city: Reykjavík\n  days: 3\n",
			want: Call{"weather", map[string]any{"city": "Reykjavík", "days": int64(3)}}},
		{name: "fenced", answer: "```json\n{\"function\": \"now\"}\n```", want: Call{"now", map[string]any{}}},
		{name: "fenced yaml", answer: "```yaml\nfunction: weather_alerts\nparams:\n  region: Alps\n```",
			want: Call{"weather_alerts", map[string]any{"region": "Alps"}}},
		{name: "parameters for params", answer: `{"function": "weather_alerts", "parameters": {"region": "Alps"}}`,
			want: Call{"weather_alerts", map[string]any{"region": "Alps"}}},
		{name: "null params", answer: `{"function": "now", "params": null}`, want: Call{"now", map[string]any{}}},
		{name: "yaml number", answer: "function: convert\nparams: {amount: 2.5e3, from: USD, to: EUR}",
			want: Call{"convert", map[string]any{"amount": 2500.0, "from": "USD", "to": "EUR"}}},

		{name: "empty", answer: "  \n", kinds: []error{ErrSyntax}, says: "empty answer"},
		{name: "broken json", answer: `{"function": "now"`, kinds: []error{ErrSyntax}, says: "JSON"},
		{name: "prose", answer: "I would call the weather function.", kinds: []error{ErrSyntax}, says: "want a mapping"},
		{name: "a list", answer: "- function: now", kinds: []error{ErrSyntax}, says: "want a mapping"},
		{name: "no function", answer: `{"params": {}}`, kinds: []error{ErrSyntax}, says: `no "function" key`},
		{name: "function not a string", answer: `{"function": 3}`, kinds: []error{ErrSyntax}, says: "function is an integer (3)"},
		{name: "unknown key", answer: `{"function": "now", "args": {}}`, kinds: []error{ErrSyntax}, says: `unknown key "args"`},
		{name: "both params and parameters", answer: `{"function": "now", "params": {}, "parameters": {}}`, kinds: []error{ErrSyntax}, says: "both"},
		{name: "unknown function", answer: `{"function": "wether", "params": {"city": "Paris"}}`,
			kinds: []error{ErrUnknownFunction}, says: `unknown function "wether" (did you mean "weather"?)`},
		{name: "unknown function far from all", answer: `{"function": "translate"}`,
			kinds: []error{ErrUnknownFunction}, says: "the functions are weather, weather_alerts, convert, now"},
		{name: "unknown param", answer: `{"function": "weather", "params": {"citty": "Paris"}}`,
			kinds: []error{ErrUnknownParam, ErrMissingParam}, says: `weather: unknown param "citty" (did you mean "city"?)`},
		{name: "param of a function without params", answer: `{"function": "now", "params": {"zone": "UTC"}}`,
			kinds: []error{ErrUnknownParam}, says: "it takes none"},
		{name: "missing required", answer: `{"function": "convert", "params": {"amount": 3, "to": "EUR"}}`,
			kinds: []error{ErrMissingParam}, says: `convert: missing required param "from" (string)`},
		{name: "string for integer", answer: `{"function": "weather", "params": {"city": "Oslo", "days": "3"}}`,
			kinds: []error{ErrType}, says: `param "days": is a string ("3"), want an integer`},
		{name: "fraction for integer", answer: `{"function": "weather", "params": {"city": "Oslo", "days": 2.5}}`,
			kinds: []error{ErrType}, says: "2.5 is not an integer"},
		{name: "integer too big", answer: `{"function": "weather", "params": {"city": "Oslo", "days": 99999999999999999999}}`,
			kinds: []error{ErrType}, says: "fits 64 bits"},
		{name: "number not finite", answer: `{"function": "convert", "params": {"amount": 1e999, "from": "A", "to": "B"}}`,
			kinds: []error{ErrType}, says: "not a finite number"},
		{name: "yaml infinity", answer: "function: convert\nparams: {amount: .inf, from: A, to: B}",
			kinds: []error{ErrType}, says: "not a finite number"},
		{name: "string for boolean", answer: `{"function": "weather", "params": {"city": "Oslo", "metric": "yes"}}`,
			kinds: []error{ErrType}, says: "want a boolean"},
		{name: "number for string", answer: `{"function": "weather_alerts", "params": {"region": 7}}`,
			kinds: []error{ErrType}, says: "is an integer (7), want a string"},
		{name: "null value", answer: `{"function": "weather_alerts", "params": {"region": null}}`,
			kinds: []error{ErrType}, says: "is null, want a string"},
		{name: "params a list", answer: `{"function": "now", "params": ["x"]}`, kinds: []error{ErrSyntax}, says: "params is a list"},
		{name: "several problems", answer: `{"function": "convert", "params": {"amount": "ten", "from": "USD", "too": "EUR"}}`,
			kinds: []error{ErrType, ErrUnknownParam, ErrMissingParam}},
		{name: "too long", answer: strings.Repeat(" ", MaxAnswerBytes+1), kinds: []error{ErrSyntax}, says: "at most"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Parse(tt.answer)
			if tt.kinds == nil {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("got %#v, want %#v", got, tt.want)
				}
				return
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("got %v (%v), want Errors", got, err)
			}
			var kinds []error
			for _, p := range errs {
				kinds = append(kinds, p.Kind)
			}
			if !reflect.DeepEqual(kinds, tt.kinds) {
				t.Errorf("kinds %v, want %v (%v)", kinds, tt.kinds, err)
			}
			for _, k := range tt.kinds {
				if !errors.Is(err, k) {
					t.Errorf("errors.Is(%v, %v) is false", err, k)
				}
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error %q lacks %q", err, tt.says)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct{ name, yaml, says string }{
		{"unknown key", "functions:\n  - name: a\n    descripton: x\n", "field descripton not found"},
		{"no functions", "tools: []\n", "not found"},
		{"empty list", "functions: []\n", "no functions"},
		{"bad name", "functions:\n  - name: \"a b\"\n", `function name "a b"`},
		{"bad param name", "functions:\n  - name: a\n    params:\n      - name: \"x:y\"\n", `param name "x:y"`},
		{"duplicate function", "functions:\n  - name: a\n  - name: a\n", `"a" defined twice`},
		{"duplicate param", "functions:\n  - name: a\n    params: [{name: x}, {name: x}]\n", `param "x" defined twice`},
		{"bad type", "functions:\n  - name: a\n    params: [{name: x, type: list}]\n", `type "list"`},
		{"bad template", "functions:\n  - name: a\n    input: \"{{.x\"\n", "input:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.yaml))
			if !errors.Is(err, ErrDefinition) || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("Decode: %v, want ErrDefinition saying %q", err, tt.says)
			}
		})
	}
}

func TestMessage(t *testing.T) {
	s := testSet(t)
	got, err := s.Message("  What is the weather\nin Paris?  ", JSON)
	if err != nil {
		t.Fatal(err)
	}
	want := `As an AI assistant, please select the most suitable function and parameters from the list of available functions below, based on the user's input. Provide your response in JSON format.

Input: What is the weather in Paris?

Available functions:
weather:
  description: The current weather of a city.
  params:
    city: (string, required) The city, e.g. Paris.
    days: (integer) How many days ahead.
    metric: (boolean) Celsius rather than Fahrenheit.
weather_alerts:
  description: Storm and heat warnings for a region.
  params:
    region: (string, required)
convert:
  description: Converts an amount of money between currencies.
  params:
    amount: (number, required)
    from: (string, required) ISO code, e.g. USD.
    to: (string, required)
now:
  description: The time of day.`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	p, err := s.Prompt(chat.Template{}, "Weather in Paris?", YAML)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p, chat.AiroborosSystem+" USER: As an AI") || !strings.HasSuffix(p, "The time of day. ASSISTANT:") ||
		!strings.Contains(p, "Provide your response in YAML format.") {
		t.Errorf("prompt:\n%s", p)
	}
	if _, err := s.Message(" \n", JSON); !errors.Is(err, ErrEmptyInput) {
		t.Errorf("empty input: %v", err)
	}
	if _, err := s.Message("x", "XML"); err == nil {
		t.Error("format XML accepted")
	}
}

func TestToolInput(t *testing.T) {
	s := testSet(t)
	tests := []struct {
		call        Call
		tool, input string
	}{
		{Call{"weather", map[string]any{"city": "Oslo", "days": int64(2)}}, "Weather", "Oslo in 2 days"},
		{Call{"weather", map[string]any{"city": "Oslo"}}, "Weather", "Oslo"},
		{Call{"weather", map[string]any{"city": "Oslo", "metric": true}}, "Weather", "Oslotrue"},
		{Call{"weather_alerts", map[string]any{"region": "Alps"}}, "weather_alerts", "Alps"},
		{Call{"convert", map[string]any{"amount": 3.5, "from": "USD", "to": "EUR"}}, "convert", `{"amount":3.5,"from":"USD","to":"EUR"}`},
		{Call{"now", map[string]any{}}, "now", `{}`},
	}
	for _, tt := range tests {
		tool, input, err := s.ToolInput(tt.call)
		if err != nil || tool != tt.tool || input != tt.input {
			t.Errorf("ToolInput(%v) = %q, %q, %v; want %q, %q", tt.call, tool, input, err, tt.tool, tt.input)
		}
	}
	if _, _, err := s.ToolInput(Call{Function: "nope"}); !errors.Is(err, ErrUnknownFunction) {
		t.Errorf("unknown function: %v", err)
	}
}

func TestFromTools(t *testing.T) {
	fn := func(context.Context, tools.Request) (tools.Output, error) { return tools.Output{}, nil }
	ts := []tools.Tool{tools.Func{ToolName: "Search", Desc: "Searches.", Fn: fn}, tools.Func{ToolName: "Weather", Desc: "Weather.", Fn: fn}}
	fs := FromTools(ts, Function{Name: "Weather", Params: []Param{{Name: "city", Required: true}}})
	s, err := NewSet(fs...)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Names(); !reflect.DeepEqual(got, []string{"Search", "Weather"}) {
		t.Fatalf("names %v", got)
	}
	search, _ := s.Lookup("Search")
	if len(search.Params) != 1 || search.Params[0].Name != "input" || !search.Params[0].Required || search.Description != "Searches." {
		t.Errorf("Search: %+v", search)
	}
	weather, _ := s.Lookup("Weather")
	if len(weather.Params) != 1 || weather.Params[0].Name != "city" || weather.Params[0].Type != String {
		t.Errorf("the YAML function did not replace the tool's: %+v", weather)
	}
}

// FuzzParse checks that no answer panics Parse, that an accepted call is of
// the declared types and survives a round trip, and that every answer the
// automaton admits parses.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "answers", "*.txt"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	s := testSet(f)
	a := NewAutomaton(s, Limits{MaxString: 64, MaxNumber: 24, MaxSpace: 4})
	f.Fuzz(func(t *testing.T, answer string) {
		call, err := s.Parse(answer)
		if a.Accepts(answer) && err != nil {
			t.Fatalf("the automaton admits %q but Parse says %v", answer, err)
		}
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 || err.Error() == "" {
				t.Fatalf("error %v is not a non-empty Errors", err)
			}
			return
		}
		f, _ := s.Lookup(call.Function)
		for _, p := range f.Params {
			v, ok := call.Params[p.Name]
			if !ok {
				if p.Required {
					t.Fatalf("%q: required %s missing from %v", answer, p.Name, call)
				}
				continue
			}
			var typeOK bool
			switch p.Type {
			case String:
				_, typeOK = v.(string)
			case Integer:
				_, typeOK = v.(int64)
			case Number:
				_, typeOK = v.(float64)
			case Boolean:
				_, typeOK = v.(bool)
			}
			if !typeOK {
				t.Fatalf("%q: %s is %T, want %s", answer, p.Name, v, p.Type)
			}
		}
		again, err := s.Parse(call.String())
		if err != nil || !reflect.DeepEqual(again, call) {
			t.Fatalf("round trip of %v: %v, %v", call, again, err)
		}
	})
}
